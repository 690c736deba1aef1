"""The observations table: a stable order, and the check that printed parts do not exceed their totals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from pipeline.core.frames import categorical_texts, ordered_codes, packed_keys, per_distinct_code
from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.ingest.reader.model import STAGED_COLUMNS, TEXT_COLUMNS


def ordered_observations(staged: pd.DataFrame) -> pd.DataFrame:
    """Staged observations sorted by indicator, region, year and source (stable), with a fresh index.

    Text columns are categoricals with sorted categories (categorical_texts), so sorting by their codes is
    sorting by their texts: one stable argsort of the four columns' codes packed into an int64 (np.lexsort when
    they do not fit), then one take of the rows; no string is compared or moved.
    """
    staged = categorical_texts(staged[STAGED_COLUMNS], TEXT_COLUMNS)
    keys = ["indicator_code", "region_code", "year", "source_id"]
    packed = packed_keys(staged, keys)
    if packed is not None:
        order = np.argsort(packed, kind="stable")
    else:
        order = np.lexsort([sort_key(staged[column]) for column in reversed(keys)])
    return staged.take(order).reset_index(drop=True)


def sort_key(values: pd.Series) -> np.ndarray:
    """Integers that sort like the column: a categorical's codes (categories sorted), else the values."""
    codes = ordered_codes(values)
    return values.to_numpy() if codes is None else codes


def additive_indicator_codes(catalog_path=PACKAGE_METADATA_DIR / "indicators.yaml") -> set[str]:
    """Indicators whose parts add up to the whole: `aggregation: sum`, unless marked `parts_can_exceed_total: true`."""
    entries = yaml.load(catalog_path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entries = entries or []
    return {
        str(entry["indicator_code"])
        for entry in entries
        if entry.get("aggregation") == "sum" and entry.get("parts_can_exceed_total") is not True
    }


def parts_exceeding_totals(observations: pd.DataFrame, regions: pd.DataFrame, additive: set[str]) -> list[dict]:
    """Per table, year and additive indicator: child regions whose sum exceeds the parent's printed total."""
    key = ["source_id", "year", "indicator_code"]
    columns = [*key, "region_code", "value", "rounding_radius", "source_row", "source_column", "source_file"]
    figures = observations.loc[observations["indicator_code"].isin(additive) & observations["value"].notna(), columns]
    parent_of = regions.set_index("region_code")["parent_code"]
    figures = figures.assign(
        parent_code=pd.Series(per_distinct_code(figures["region_code"], parent_of), index=figures.index),
        radius=figures["rounding_radius"].fillna(0.0),
    )
    # Only (table, year, indicator) groups that print a parent together with its children can fail: a table of
    # villages without their towns' totals is skipped before any grouping.
    totals = figures[["source_id", "region_code"]].drop_duplicates()
    totals_printed = (
        figures[["source_id", "parent_code"]]
        .drop_duplicates()
        .merge(totals, left_on=["source_id", "parent_code"], right_on=["source_id", "region_code"])
    )
    if totals_printed.empty:
        return []
    figures = figures[
        figures["source_id"].isin(totals_printed["source_id"].unique())
        & (
            figures["parent_code"].isin(totals_printed["parent_code"].unique())
            | figures["region_code"].isin(totals_printed["parent_code"].unique())
        )
    ]
    totals = figures.rename(
        columns={"region_code": "total_region", "value": "total", "radius": "total_radius", "source_row": "total_row"}
    )[[*key, "total_region", "total", "total_radius", "total_row", "source_column", "source_file"]]
    children = figures.dropna(subset=["parent_code"])
    parts = children.groupby([*key, "parent_code"], as_index=False).agg(
        parts_sum=("value", "sum"), parts_radius=("radius", "sum")
    )
    joined = parts.merge(totals, left_on=[*key, "parent_code"], right_on=[*key, "total_region"])
    exceeding = joined[joined["parts_sum"] - joined["parts_radius"] > joined["total"] + joined["total_radius"]]
    part_rows = (
        children.merge(exceeding[[*key, "parent_code"]], on=[*key, "parent_code"])
        .groupby([*key, "parent_code"])["source_row"]
        .agg(list)
    )
    exceeding = exceeding.join(part_rows.rename("part_rows"), on=[*key, "parent_code"])
    return [
        {
            "file": row.source_file,
            "row": int(row.total_row),
            "column": row.source_column,
            "rule": "parts_within_total",
            "indicator_code": row.indicator_code,
            "year": int(row.year),
            "region_code": row.total_region,
            "total": float(row.total),
            "parts_sum": float(row.parts_sum),
            "part_rows": [int(part) for part in row.part_rows],
        }
        for row in exceeding.itertuples(index=False)
    ]


def describe_excess(record: dict) -> str:
    """One readable line for a total exceeded by its parts."""
    return (
        f"{record['file']}, row {record['row']}, column {record['column']!r}: [parts_within_total] "
        f"the parts of {record['region_code']} (rows {record['part_rows']}) add up to {record['parts_sum']:g}, "
        f"more than the total {record['total']:g} the same table prints for {record['indicator_code']} {record['year']} "
        f"(expected the parts to sum to at most the total, within rounding)"
    )
