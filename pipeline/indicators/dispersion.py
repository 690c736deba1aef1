"""Dispersion across units: CV, weighted CV, Theil, Gini and max/min ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.arrays import category_positions, labels_at
from pipeline.core.frames import empty_frame
from pipeline.indicators.grouped import GroupedLevels
from pipeline.indicators.units import sorted_unit_regions
from pipeline.validate.schemas import MINIMUM_UNITS

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


def dispersion_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every dispersion measure for every indicator flagged `dispersion`, parent, unit level and year with ≥5 units."""
    flagged = catalog[catalog["dispersion"].astype(bool)]
    weight_lists = {
        code: [weight for weight in text.split(";") if weight]
        for code, text in zip(flagged["indicator_code"], flagged["weights"], strict=True)
    }
    # One indicator at a time, with the rows of its weight indicators: memory in proportion to one indicator's
    # values, not all of them. Groups of different indicators are independent; in code order, the parts stack
    # into the order of the whole table.
    code_of_row, code_names = category_positions(values["indicator_code"])
    unit_regions = sorted_unit_regions(units)
    parts = []
    for code in sorted(weight_lists):
        wanted = np.append(code_names.isin([code, *weight_lists[code]]), False)  # the last slot: a missing code
        part = indicator_dispersion(values[wanted[code_of_row]], units, {code: weight_lists[code]}, unit_regions)
        if not part.empty:
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else empty_frame(DISPERSION_DTYPES)


def indicator_dispersion(
    values: pd.DataFrame, units: pd.DataFrame, weight_lists: dict[str, list[str]], unit_regions: list[str] | None = None
) -> pd.DataFrame:
    """The dispersion rows of the indicators in weight_lists (each with its candidate weight indicators)."""
    groups = GroupedLevels.of(values, units, weight_lists, MINIMUM_UNITS, unit_regions)
    if groups.count == 0:
        return empty_frame(DISPERSION_DTYPES)
    weight_code, weights = groups.population_weights(weight_lists)
    measures = groups.measures(weights)
    names = list(measures)
    present = np.stack([measures[name][0] for name in names], axis=1)
    measured = np.stack([measures[name][1] for name in names], axis=1)
    # Row-major positions in the (group × measure) grid: groups in order, measures in published order within each.
    cells = np.flatnonzero(present.ravel())
    group, measure = np.divmod(cells, len(names))
    weighted = np.where(measure == names.index("weighted_cv"), weight_code[group] + 1, 0)
    table = pd.DataFrame(
        {
            "indicator_code": labels_at(list(groups.codes), groups.indicator[group]),
            "parent_region_code": labels_at(list(groups.parent_codes), groups.parent[group]),
            "unit_level": labels_at(list(groups.level_names), groups.level[group]),
            "year": groups.year[group],
            "measure": labels_at(names, measure),
            "value": measured.ravel()[cells],
            "n_units": groups.size[group],
            "weight_indicator_code": labels_at(["", *groups.codes], weighted),
        }
    )
    return table.astype(DISPERSION_DTYPES)[DISPERSION_COLUMNS]


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
    """Gini coefficient, unweighted, by sorted ranks: Σ(2i − n − 1)·x₍ᵢ₎ / (n² μ) = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² μ)."""
    ordered = np.sort(levels)
    count = len(ordered)
    ranks = np.arange(1, count + 1)
    return float(((2 * ranks - count - 1) * ordered).sum() / (count**2 * ordered.mean()))


def max_min_ratio(levels: np.ndarray) -> float:
    """Highest value divided by the lowest."""
    return float(levels.max() / levels.min())
