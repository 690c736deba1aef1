"""One figure per indicator, region and year from the observations, by the authority rule, and the value pools."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.frames import empty_frame, neighbour_equality, neighbour_order, rows_where, sorted_by, stacked_frames
from pipeline.ingest.sidecar import AUTHORITY_RANK

INDICATOR_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "method", "status", "source_ids"]
INDICATOR_DTYPES = {
    "indicator_code": "str",
    "region_code": "str",
    "year": "int64",
    "value": "float64",
    "unit": "str",
    "method": "str",
    "status": "str",
    "source_ids": "str",
}
KEY = ["region_code", "year", "indicator_code"]
# The order of observations, pools and indicator values: code, then region, then year.
VALUE_KEY = ["indicator_code", "region_code", "year"]
POOL_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "status", "source_ids", "rounding_radius"]
POOL_DTYPES = {**{column: INDICATOR_DTYPES[column] for column in POOL_COLUMNS[:-1]}, "rounding_radius": "float64"}
VALUE_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "status", "source_ids"]
# The values with the method that gave them: derived here, or published by the chosen source.
METHOD_VALUE_COLUMNS = [*VALUE_COLUMNS, "method"]
# How the figures of one key are ranked, best first: authority, then newest access, then finest rounding, then id.
CHOICE_ORDER = ["authority_rank", "accessed", "rounding_radius", "source_id"]


def preferred_observations(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    candidates: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One figure per indicator, region and year (in that order): most authoritative source, newest, most precise.

    candidates: ranked_candidates(observations, sources) when the caller has them already (not computed twice).
    """
    present, ranked = candidates if candidates is not None else ranked_candidates(observations, sources)
    if ranked.empty:
        return present
    losers = ranked["position"].to_numpy()[ranked.duplicated(KEY, keep="first").to_numpy()]
    keep = np.ones(len(present), dtype=bool)
    keep[losers] = False
    return rows_where(present, keep)


def ranked_candidates(observations: pd.DataFrame, sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observations with a value (in code, region, year order), and the figures of keys several sources give,
    best first per key by the choice rule (CHOICE_ORDER), each with its position in the first frame."""
    present = rows_where(observations, observations["value"].notna().to_numpy())
    ordered, same = neighbour_order(present, VALUE_KEY)
    if not ordered:
        present = present.sort_values(VALUE_KEY, kind="stable").reset_index(drop=True)
        same = neighbour_order(present, VALUE_KEY)[1]
    repeated = np.zeros(len(present), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    positions = np.flatnonzero(repeated)
    candidates = present.iloc[positions]
    by_source = sources.set_index("source_id")
    ranked = candidates.assign(
        position=positions,
        authority_rank=candidates["source_id"].map(by_source["authority"].map(AUTHORITY_RANK)),
        accessed=candidates["source_id"].map(by_source["accessed"].astype(str)),
    )
    # A newer snapshot of the same authority (a revised edition) supersedes an older one.
    ranked = ranked.sort_values(
        [*KEY, *CHOICE_ORDER], ascending=[True] * len(KEY) + [True, False, True, True], kind="stable"
    )
    return present, ranked


def as_pool(frame: pd.DataFrame) -> pd.DataFrame:
    """Observations or indicator rows as one shape: code, region, year, value, unit, status, sources, rounding."""
    if "source_ids" not in frame:
        frame = frame.assign(source_ids=frame["source_id"])
    if "rounding_radius" not in frame:
        frame = frame.assign(rounding_radius=float("nan"))
    return frame[POOL_COLUMNS]


def pool_of(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Observations or indicator rows as pool frames, one per indicator code, each in region and year order."""
    return code_blocks(sorted_by(as_pool(frame), VALUE_KEY))


def code_blocks(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A frame sorted by indicator code split into one slice per code."""
    if frame.empty:
        return {}
    changes = np.flatnonzero(~neighbour_equality(frame["indicator_code"])) + 1
    starts = np.concatenate([[0], changes])
    stops = np.concatenate([changes, [len(frame)]])
    return {
        str(frame["indicator_code"].iloc[start]): frame.iloc[start:stop]
        for start, stop in zip(starts, stops, strict=True)
    }


def preferring_first(frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    """One indicator's frames (each in region and year order) as one, each (region, year) from the first that has it."""
    present = [frame for frame in frames if frame is not None and not frame.empty]
    if not present:
        return next((frame for frame in frames if frame is not None), empty_frame(POOL_DTYPES))
    if len(present) == 1:
        return present[0]
    combined = pd.concat(present, ignore_index=True).drop_duplicates(["region_code", "year"], keep="first")
    return combined.sort_values(["region_code", "year"], kind="stable").reset_index(drop=True)


def indicator_values(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicators: pd.DataFrame,
    candidates: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One value per indicator, region and year: derived here if possible, else the preferred published figure."""
    preferred = {
        code: block.assign(method="published")
        for code, block in code_blocks(as_pool(preferred_observations(observations, sources, candidates))).items()
    }
    derived = {
        code: rows_where(block, block["method"].eq("derived").to_numpy())
        for code, block in code_blocks(sorted_by(indicators, ORDER)).items()
    }
    codes = sorted(set(preferred) | set(derived))
    frames = [preferring_first([derived.get(code), preferred.get(code)])[METHOD_VALUE_COLUMNS] for code in codes]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return empty_frame({**POOL_DTYPES, "method": "str"})[METHOD_VALUE_COLUMNS]
    values = stacked_frames(frames)
    return values.astype({"year": "int64", "value": "float64"})


ORDER = ["indicator_code", "region_code", "year", "method"]
