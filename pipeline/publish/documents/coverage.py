"""Coverage: how many regions of each level have a value per indicator and year, and which are missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.validate.schemas import MAX_LISTED_MISSING

COVERAGE_COLUMNS = [
    "indicator_code",
    "level",
    "year",
    "regions_with_value",
    "regions_at_level",
    "coverage_share",
    "missing_count",
    "missing_regions",
]
LARGEST_GAPS = 10


def coverage_table(observations: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Coverage per indicator × level × year, over the years in which the indicator has a value at any level."""
    levels = regions.set_index("region_code")["level"]
    present = observations[observations["value"].notna()][["indicator_code", "region_code", "year"]]
    present = present.drop_duplicates().assign(level=lambda frame: frame["region_code"].map(levels))
    if present.empty:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    names = regions.set_index("region_code")["name_zh"]
    members = {level: sorted(group["region_code"]) for level, group in regions.groupby("level")}
    years_of_indicator = present.groupby("indicator_code")["year"].unique()
    records = []
    for (indicator_code, level), at_level in present.groupby(["indicator_code", "level"], sort=True):
        # Each region of the level as its position among the level's sorted members: a year's coverage is a mask.
        member_codes = np.array(members[level], dtype=object)
        positions = pd.Index(members[level]).get_indexer(at_level["region_code"])
        years = at_level["year"].to_numpy()
        for year in sorted(years_of_indicator[indicator_code]):
            with_value = np.zeros(len(member_codes), dtype=bool)
            with_value[positions[years == year]] = True
            missing = member_codes[~with_value].tolist()
            records.append(
                {
                    "indicator_code": indicator_code,
                    "level": level,
                    "year": int(year),
                    "regions_with_value": int(with_value.sum()),
                    "regions_at_level": len(member_codes),
                    "coverage_share": int(with_value.sum()) / len(member_codes),
                    "missing_count": len(missing),
                    "missing_regions": listed_regions(missing, names),
                }
            )
    return pd.DataFrame.from_records(records, columns=COVERAGE_COLUMNS)


def listed_regions(codes: list[str], names: pd.Series) -> str:
    """At most MAX_LISTED_MISSING regions as 'name (code)', ';'-separated, then how many more there are."""
    listed = [f"{names[code]} ({code})" for code in codes[:MAX_LISTED_MISSING]]
    if len(codes) > MAX_LISTED_MISSING:
        listed.append(f"… and {len(codes) - MAX_LISTED_MISSING} more")
    return "; ".join(listed)


def largest_gaps(table: pd.DataFrame, count: int = LARGEST_GAPS) -> pd.DataFrame:
    """The rows with the most missing regions (ties: lowest coverage share, then indicator, level, year)."""
    ordered = table.sort_values(
        ["missing_count", "coverage_share", "indicator_code", "level", "year"],
        ascending=[False, True, True, True, True],
        kind="stable",
    )
    return ordered.head(count).reset_index(drop=True)


def coverage_csv_bytes(table: pd.DataFrame) -> bytes:
    """The coverage table as UTF-8 CSV (header row, LF line ends), as shipped in a release as coverage.csv."""
    return table[COVERAGE_COLUMNS].to_csv(index=False, lineterminator="\n").encode("utf-8")
