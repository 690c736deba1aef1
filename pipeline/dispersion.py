"""Dispersion of each indicator across the units under a parent region (σ-convergence): cv, weighted cv, Theil, Gini."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.indicators import empty_frame, indicator_values
from pipeline.schemas import MINIMUM_UNITS, DispersionSchema
from pipeline.validate import known_codes_schema_check

GROUP = "convergence"
DISPERSION_COLUMNS = [
    "indicator_code",
    "parent_region_code",
    "unit_level",
    "year",
    "measure",
    "value",
    "n_units",
    "weight_indicator_code",
]
DISPERSION_DTYPES = {
    "indicator_code": "str",
    "parent_region_code": "str",
    "unit_level": "str",
    "year": "int64",
    "measure": "str",
    "value": "float64",
    "n_units": "int64",
    "weight_indicator_code": "str",
}
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


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources"), "regions": dg.AssetIn("regions")})
def dispersion(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicators: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    regions: pd.DataFrame,
) -> pd.DataFrame:
    """Dispersion (cv, weighted_cv, theil, gini, max_min_ratio) across the units under each parent, years with ≥5 units."""
    values = indicator_values(observations, sources, indicators)
    return dispersion_table(values, unit_sets(regions), indicator_catalog)


dispersion_schema = known_codes_schema_check(
    "dispersion",
    DispersionSchema,
    ["parent_region_code"],
    "Dispersion rows have known codes and measures, non-negative values and at least 5 units.",
)


def unit_sets(regions: pd.DataFrame) -> pd.DataFrame:
    """Which units are compared under which parent: its direct children by level class, and a province's counties."""
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
    return pd.concat([direct, county_set], ignore_index=True).astype("str")


def dispersion_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every dispersion measure for every indicator flagged `dispersion`, parent, unit level and year with ≥5 units."""
    flagged = catalog[catalog["dispersion"].astype(bool)]
    weights_of = dict(zip(flagged["indicator_code"], flagged["weights"], strict=True))
    selected = values[values["indicator_code"].isin(weights_of) & values["value"].notna()]
    placed = selected.merge(units, on="region_code")
    weight_codes = {code for text in weights_of.values() for code in text.split(";") if code}
    weight_rows = values[values["indicator_code"].isin(weight_codes)]
    indexed = dict(
        zip(
            zip(weight_rows["indicator_code"], weight_rows["region_code"], weight_rows["year"], strict=True),
            weight_rows["value"],
            strict=True,
        )
    )
    rows = []
    for (code, parent, level, year), group in placed.groupby(
        ["indicator_code", "parent_region_code", "unit_level", "year"], sort=True
    ):
        if len(group) < MINIMUM_UNITS:
            continue
        levels = group["value"].to_numpy(dtype="float64")
        regions = list(group["region_code"])
        weight_code, weights = population_weights(indexed, weights_of[code], regions, year)
        for measure, value in dispersion_measures(levels, weights).items():
            rows.append(
                {
                    "indicator_code": code,
                    "parent_region_code": parent,
                    "unit_level": level,
                    "year": year,
                    "measure": measure,
                    "value": value,
                    "n_units": len(levels),
                    "weight_indicator_code": weight_code if measure == "weighted_cv" else "",
                }
            )
    if not rows:
        return empty_frame(DISPERSION_DTYPES)
    return pd.DataFrame(rows, columns=DISPERSION_COLUMNS).astype(DISPERSION_DTYPES)


def population_weights(
    indexed: dict[tuple[str, str, int], float], weight_codes: str, regions: list[str], year: int
) -> tuple[str, np.ndarray | None]:
    """The first weight indicator with a positive value for every unit in the same year, and its values."""
    for weight_code in [code for code in weight_codes.split(";") if code]:
        weights = np.array([indexed.get((weight_code, region, year), np.nan) for region in regions], dtype="float64")
        if not np.isnan(weights).any() and (weights > 0).all():
            return weight_code, weights
    return "", None


def dispersion_measures(levels: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """The measures whose preconditions hold (positive mean; positive values for theil and max/min; weights)."""
    measures = {}
    if levels.mean() > 0:
        measures["cv"] = coefficient_of_variation(levels)
        if weights is not None:
            measures["weighted_cv"] = weighted_coefficient_of_variation(levels, weights)
        if (levels >= 0).all():
            measures["gini"] = gini_coefficient(levels)
    if (levels > 0).all():
        measures["theil"] = theil_index(levels)
        measures["max_min_ratio"] = max_min_ratio(levels)
    return measures


def coefficient_of_variation(levels: np.ndarray) -> float:
    """Population standard deviation (ddof=0) divided by the mean, unweighted."""
    return float(levels.std(ddof=0) / levels.mean())


def weighted_coefficient_of_variation(levels: np.ndarray, weights: np.ndarray) -> float:
    """Weighted standard deviation around the weighted mean, divided by the weighted mean (population weights)."""
    shares = weights / weights.sum()
    mean = float((shares * levels).sum())
    return float(np.sqrt((shares * (levels - mean) ** 2).sum()) / mean)


def theil_index(levels: np.ndarray) -> float:
    """Theil T index, unweighted: mean of (x/μ)·ln(x/μ); 0 means equal values."""
    relative = levels / levels.mean()
    return float(max((relative * np.log(relative)).mean(), 0.0))


def gini_coefficient(levels: np.ndarray) -> float:
    """Gini coefficient, unweighted: Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² μ)."""
    differences = np.abs(levels[:, None] - levels[None, :]).sum()
    return float(differences / (2 * len(levels) ** 2 * levels.mean()))


def max_min_ratio(levels: np.ndarray) -> float:
    """Highest value divided by the lowest."""
    return float(levels.max() / levels.min())
