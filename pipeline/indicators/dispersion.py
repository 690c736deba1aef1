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
    "n_units_at_bound",
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
    "n_units_at_bound": "int64",
}
WEIGHTED_MEASURES = ["weighted_cv", "weighted_gini", "weighted_theil"]
BOUNDED_MEASURE = "logit_sd"


def dispersion_weight_lists(catalog: pd.DataFrame) -> dict[str, list[str]]:
    """The indicators flagged `dispersion`, each with its candidate weight indicators in order.

    A complement of another share (catalogue complement_of) only repeats that share's dispersion: left out.
    """
    flagged = catalog[catalog["dispersion"].astype(bool) & (catalog["complement_of"].fillna("") == "")]
    return {
        code: [weight for weight in text.split(";") if weight]
        for code, text in zip(flagged["indicator_code"], flagged["weights"], strict=True)
    }


def dispersion_codes(catalog: pd.DataFrame) -> list[str]:
    """Every indicator whose values dispersion_table uses: the flagged ones and their weights."""
    return sorted(
        {code for indicator, weights in dispersion_weight_lists(catalog).items() for code in [indicator, *weights]}
    )


def dispersion_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every dispersion measure for every indicator flagged `dispersion`, parent, unit level and year with ≥5 units."""
    bounded = set(catalog.loc[catalog["bounded"].astype(bool), "indicator_code"])
    weight_lists = dispersion_weight_lists(catalog)
    # One indicator at a time, with the rows of its weight indicators: memory in proportion to one indicator's
    # values, not all of them. Groups of different indicators are independent; in code order, the parts stack
    # into the order of the whole table.
    code_of_row, code_names = category_positions(values["indicator_code"])
    unit_regions = sorted_unit_regions(units)
    parts = []
    for code in sorted(weight_lists):
        wanted = np.append(code_names.isin([code, *weight_lists[code]]), False)  # the last slot: a missing code
        part = indicator_dispersion(
            values[wanted[code_of_row]], units, {code: weight_lists[code]}, unit_regions, code in bounded
        )
        if not part.empty:
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else empty_frame(DISPERSION_DTYPES)


def indicator_dispersion(
    values: pd.DataFrame,
    units: pd.DataFrame,
    weight_lists: dict[str, list[str]],
    unit_regions: list[str] | None = None,
    bounded: bool = False,
) -> pd.DataFrame:
    """The dispersion rows of the indicators in weight_lists (each with its candidate weight indicators)."""
    groups = GroupedLevels.of(values, units, weight_lists, MINIMUM_UNITS, unit_regions)
    if groups.count == 0:
        return empty_frame(DISPERSION_DTYPES)
    weight_code, weights = groups.population_weights(weight_lists)
    measures = groups.measures(weights, bounded)
    names = list(measures)
    present = np.stack([measures[name][0] for name in names], axis=1)
    measured = np.stack([measures[name][1] for name in names], axis=1)
    # Row-major positions in the (group × measure) grid: groups in order, measures in published order within each.
    cells = np.flatnonzero(present.ravel())
    group, measure = np.divmod(cells, len(names))
    weighted_positions = [names.index(name) for name in WEIGHTED_MEASURES]
    weighted = np.where(np.isin(measure, weighted_positions), weight_code[group] + 1, 0)
    n_units = groups.size[group]
    at_bound = np.zeros(len(group), dtype="int64")
    if BOUNDED_MEASURE in names:
        inside, _ = groups.logit_spread()
        logit_rows = measure == names.index(BOUNDED_MEASURE)
        at_bound[logit_rows] = n_units[logit_rows] - inside[group[logit_rows]]
        n_units = np.where(logit_rows, inside[group], n_units)
    table = pd.DataFrame(
        {
            "indicator_code": labels_at(list(groups.codes), groups.indicator[group]),
            "parent_region_code": labels_at(list(groups.parent_codes), groups.parent[group]),
            "unit_level": labels_at(list(groups.level_names), groups.level[group]),
            "year": groups.year[group],
            "measure": labels_at(names, measure),
            "value": measured.ravel()[cells],
            "n_units": n_units,
            "weight_indicator_code": labels_at(["", *groups.codes], weighted),
            "n_units_at_bound": at_bound,
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


def weighted_theil_index(levels: np.ndarray, weights: np.ndarray) -> float:
    """Population-weighted Theil T: Σ wᵢ (xᵢ/μ) ln(xᵢ/μ), wᵢ population shares, μ the weighted mean (= Σ incomeᵢ share ×
    ln(income share / population share) for per-capita levels)."""
    shares = weights / weights.sum()
    relative = levels / float((shares * levels).sum())
    return float(max((shares * relative * np.log(relative)).sum(), 0.0))


def weighted_gini_coefficient(levels: np.ndarray, weights: np.ndarray) -> float:
    """Population-weighted Gini: Σᵢ Σⱼ wᵢ wⱼ |xᵢ − xⱼ| / (2 μ), wᵢ population shares, μ the weighted mean."""
    shares = weights / weights.sum()
    mean = float((shares * levels).sum())
    return float((shares[:, None] * shares[None, :] * np.abs(levels[:, None] - levels[None, :])).sum() / (2 * mean))


def logit_standard_deviation(shares: np.ndarray) -> tuple[float, int]:
    """Standard deviation (ddof = 0) of ln(p / (100 − p)) over the shares strictly inside (0, 100), and how many
    were at a bound."""
    inside = (shares > 0) & (shares < 100)
    logits = np.log(shares[inside] / (100 - shares[inside]))
    return float(logits.std(ddof=0)), int((~inside).sum())


def max_min_ratio(levels: np.ndarray) -> float:
    """Highest value divided by the lowest."""
    return float(levels.max() / levels.min())
