"""Progress towards the programme targets: the latest value, the gap and a status."""

from __future__ import annotations

import pandas as pd

TARGET_PROGRESS_COLUMNS = [
    "target_code",
    "indicator_code",
    "region_code",
    "scope",
    "kind",
    "target_value",
    "unit",
    "direction",
    "reference_year",
    "deadline_year",
    "latest_year",
    "latest_value",
    "gap",
    "status",
    "source_id",
    "reference",
    "statement",
    "caveats",
]
TARGET_PROGRESS_DTYPES = {
    "reference_year": "int64",
    "deadline_year": "Int64",
    "latest_year": "Int64",
    "target_value": "float64",
    "latest_value": "float64",
    "gap": "float64",
}


def progress_table(targets: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """The targets with latest year (from the reference year on), latest value, gap (latest − target) and status.

    A value resting on the target's own source (the article that states the target or benchmark) is not progress
    towards it: measured against itself it would always be met. Without another value the status is no_data.
    """
    rows = []
    for target in targets.to_dict("records"):
        series = values[
            (values["indicator_code"] == target["indicator_code"]) & (values["region_code"] == target["region_code"])
        ]
        own_source = [target["source_id"] in str(ids).split(";") for ids in series["source_ids"].fillna("")]
        series = series.loc[[not own for own in own_source]]
        series = series[series["value"].notna() & (series["year"] >= target["reference_year"])].sort_values("year")
        latest = series.iloc[-1] if not series.empty else None
        latest_year = None if latest is None else int(latest["year"])
        latest_value = None if latest is None else float(latest["value"])
        rows.append(
            {
                **target,
                "latest_year": latest_year,
                "latest_value": latest_value,
                "gap": None if latest is None else latest_value - target["target_value"],
                "status": target_status(target, latest_year, latest_value),
            }
        )
    frame = pd.DataFrame(rows, columns=TARGET_PROGRESS_COLUMNS)
    return frame.astype(TARGET_PROGRESS_DTYPES)


def target_status(target: dict, latest_year: int | None, latest_value: float | None) -> str:
    """met when the latest value satisfies the direction; missed when the deadline year's data fall short; else not_yet_met."""
    if latest_value is None:
        return "no_data"
    if target["direction"] == "at_most":
        satisfied = latest_value <= target["target_value"]
    else:
        satisfied = latest_value >= target["target_value"]
    if satisfied:
        return "met"
    deadline = target["deadline_year"]
    if deadline is not None and not pd.isna(deadline):
        if latest_year is None:
            raise ValueError(f"target {target.get('target_code')!r}: a latest value needs its latest year")
        if latest_year >= int(deadline):
            return "missed"
    return "not_yet_met"
