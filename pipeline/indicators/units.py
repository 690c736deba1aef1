"""The sets of units that dispersion and convergence compare: districts, cities, counties, towns and villages."""

from __future__ import annotations

import pandas as pd

# Region level → the class of units compared side by side (districts, counties and county-level cities together).
LEVEL_CLASSES = {
    "prefecture_city": "prefecture_city",
    "district": "county_level",
    "county": "county_level",
    "county_city": "county_level",
    "town": "town",
    "village": "village",
}
# Units of the province's county set (县域): counties and county-level cities, without city districts.
COUNTY_SET_LEVELS = {"county", "county_city"}
# County-level parents also compare the villages within them (through their towns), at unit level `village`.
COUNTY_LEVELS = {"district", "county", "county_city"}
VILLAGE_LEVEL = "village"
# Villages sit at most a few levels below their county (village → town → county); the climb stops after this many.
MAX_ANCESTOR_STEPS = 4


def unit_sets(regions: pd.DataFrame) -> pd.DataFrame:
    """Which units are compared under which parent: direct children by level class, a province's counties, a county's villages."""
    children = regions[regions["parent_code"].notna() & regions["level"].isin(LEVEL_CLASSES)]
    direct = pd.DataFrame(
        {
            "parent_region_code": children["parent_code"],
            "unit_level": children["level"].map(LEVEL_CLASSES),
            "region_code": children["region_code"],
        }
    )
    parent_of = regions.set_index("region_code")["parent_code"]
    level_of = regions.set_index("region_code")["level"]
    counties = regions[regions["level"].isin(COUNTY_SET_LEVELS)]
    grandparents = counties["parent_code"].map(parent_of)
    in_province = grandparents.map(level_of).eq("province")
    county_set = pd.DataFrame(
        {
            "parent_region_code": grandparents[in_province],
            "unit_level": "county",
            "region_code": counties.loc[in_province, "region_code"],
        }
    )
    sets = pd.concat([direct, county_set, county_villages(regions)], ignore_index=True).astype("str")
    return sets.drop_duplicates(ignore_index=True)


def county_villages(regions: pd.DataFrame) -> pd.DataFrame:
    """Each village under the county-level unit it lies in (through its town), compared at unit level `village`."""
    parent_of = regions.set_index("region_code")["parent_code"]
    level_of = regions.set_index("region_code")["level"]
    villages = regions[regions["level"] == VILLAGE_LEVEL]
    ancestors = villages["parent_code"]
    for _ in range(MAX_ANCESTOR_STEPS):
        climbing = ancestors.notna() & ~ancestors.map(level_of).isin(COUNTY_LEVELS)
        if not climbing.any():
            break
        ancestors = ancestors.where(~climbing, ancestors.map(parent_of))
    found = ancestors.map(level_of).isin(COUNTY_LEVELS)
    return pd.DataFrame(
        {
            "parent_region_code": ancestors[found],
            "unit_level": VILLAGE_LEVEL,
            "region_code": villages.loc[found, "region_code"],
        }
    )


def sorted_unit_regions(units: pd.DataFrame) -> list[str]:
    """The distinct region codes of the unit table, sorted."""
    return sorted(units["region_code"].unique())
