"""σ-convergence and the urban–rural Theil trend: OLS slopes on the year with statsmodels inference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.arrays import labels_at
from pipeline.core.frames import empty_frame
from pipeline.indicators.ols import run_slope_inference, slope_inference

SIGNIFICANCE_LEVEL = 0.05
# A slope with a standard error needs at least 3 years (1 residual degree of freedom).
MINIMUM_YEARS = 3
# Dispersion measures whose trend is tested: the raw-scale ones for unbounded indicators, logit_sd for bounded shares
# (catalogue `bounded`: on the raw scale a share and its complement give opposite readings).
UNBOUNDED_TREND_MEASURES = ["cv", "gini", "weighted_gini", "theil", "weighted_theil"]
BOUNDED_TREND_MEASURES = ["logit_sd"]
URBAN_RURAL_INDICATOR = "urban_rural_income_theil"
URBAN_RURAL_UNIT_LEVEL = "urban_rural"
URBAN_RURAL_MEASURE = "urban_rural_theil"
# The reading of a trend, by position: not significant, falling, rising.
READINGS = ["no significant trend", "falling", "rising"]
SIGMA_CONVERGENCE_COLUMNS = [
    "indicator_code",
    "parent_region_code",
    "unit_level",
    "measure",
    "start_year",
    "end_year",
    "n_years",
    "n_units",
    "series_start_year",
    "series_end_year",
    "slope",
    "standard_error",
    "t_value",
    "p_value",
    "ci_low",
    "ci_high",
    "significant_at_5pct",
    "reading",
]
SIGMA_CONVERGENCE_DTYPES = {
    "indicator_code": "str",
    "parent_region_code": "str",
    "unit_level": "str",
    "measure": "str",
    "start_year": "int64",
    "end_year": "int64",
    "n_years": "int64",
    "n_units": "int64",
    "series_start_year": "int64",
    "series_end_year": "int64",
    "slope": "float64",
    "standard_error": "float64",
    "t_value": "float64",
    "p_value": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "significant_at_5pct": "bool",
    "reading": "str",
}


def year_trend(years: np.ndarray, values: np.ndarray) -> dict[str, float | bool | str]:
    """statsmodels OLS of the values on the year: slope, standard error, t, p, 95 % interval and a reading."""
    return year_trends([(years, values)])[0]


def year_trends(series: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float | bool | str]]:
    """year_trend of each (years, values) series, the OLS inference of all series at once (pipeline.indicators.ols)."""
    inference = slope_inference(
        [(years.astype("float64") - years.min(), values) for years, values in series], SIGNIFICANCE_LEVEL
    )
    trends = []
    for position in range(len(series)):
        slope, p_value = float(inference["slope"][position]), float(inference["p_value"][position])
        significant = bool(p_value < SIGNIFICANCE_LEVEL)
        trends.append(
            {
                "slope": slope,
                "standard_error": float(inference["standard_error"][position]),
                "t_value": float(inference["t_value"][position]),
                "p_value": p_value,
                "ci_low": float(inference["ci_low"][position]),
                "ci_high": float(inference["ci_high"][position]),
                "significant_at_5pct": significant,
                "reading": "no significant trend" if not significant else ("falling" if slope < 0 else "rising"),
            }
        )
    return trends


def same_units_run(units: np.ndarray) -> tuple[int, int]:
    """The longest run of consecutive years (of a series in year order) with the same number of units, the latest
    of equally long runs, as (begin, end) positions: a trend is only tested over one set of units, so units
    entering, leaving or reaching a bound do not move the measure."""
    breaks = np.flatnonzero(np.diff(units) != 0) + 1
    bounds = np.r_[0, breaks, len(units)]
    lengths = np.diff(bounds)
    best = len(lengths) - 1 - int(np.argmax(lengths[::-1]))
    return int(bounds[best]), int(bounds[best + 1])


def same_units_runs(series: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """same_units_run of every series at once (rows of a series contiguous, in year order; `series` numbers them in
    order): per series the (begin, end) row positions of its longest run with the same number of units, the latest of
    equally long runs."""
    if len(series) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    run_start = np.flatnonzero(np.r_[True, (series[1:] != series[:-1]) | (units[1:] != units[:-1])])
    length = np.diff(np.r_[run_start, len(series)])
    run_series = series[run_start]
    first_run = np.flatnonzero(np.r_[True, run_series[1:] != run_series[:-1]])
    longest = np.maximum.reduceat(length, first_run)
    candidate = np.flatnonzero(length == np.repeat(longest, np.diff(np.r_[first_run, len(run_start)])))
    # The last candidate run of each series: the latest of its longest runs.
    chosen = candidate[np.r_[run_series[candidate[1:]] != run_series[candidate[:-1]], True]]
    return run_start[chosen], run_start[chosen] + length[chosen]


def sorted_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each entry's position among the column's distinct values in sorted order (missing ones after all), and those."""
    codes, distinct = pd.factorize(column, sort=True)
    return np.where(codes < 0, len(distinct), codes), pd.Index(distinct)


def sigma_convergence_table(
    dispersion: pd.DataFrame, urban_rural_theil: pd.DataFrame, catalog: pd.DataFrame
) -> pd.DataFrame:
    """The trend of each dispersion series (σ-convergence: a falling measure) and of each region's urban–rural Theil,
    over the series' longest run of years with the same number of units (at least 3 years)."""
    bounded = set(catalog.loc[catalog["bounded"].astype(bool), "indicator_code"])
    measure_bounded = dispersion["indicator_code"].isin(bounded)
    tested = (measure_bounded & dispersion["measure"].isin(BOUNDED_TREND_MEASURES)) | (
        ~measure_bounded & dispersion["measure"].isin(UNBOUNDED_TREND_MEASURES)
    )
    series = dispersion.loc[
        tested, ["indicator_code", "parent_region_code", "unit_level", "measure", "year", "value", "n_units"]
    ]
    theil = urban_rural_theil.assign(
        indicator_code=URBAN_RURAL_INDICATOR,
        parent_region_code=urban_rural_theil["region_code"],
        unit_level=URBAN_RURAL_UNIT_LEVEL,
        measure=URBAN_RURAL_MEASURE,
        n_units=2,
    )[series.columns]
    keys = ["indicator_code", "parent_region_code", "unit_level", "measure"]
    stacked = pd.concat([series, theil], ignore_index=True)
    if stacked.empty:
        return empty_frame(SIGMA_CONVERGENCE_DTYPES)
    # The rows in (keys, year) order as a stable sort of the frame would give them, by the keys' sorted codes;
    # series are then runs of rows (numpy slices, no pandas group per series).
    unsorted_codes, key_labels = zip(*(sorted_codes(stacked[key]) for key in keys), strict=True)
    years_all = stacked["year"].to_numpy(dtype="int64")
    order = np.lexsort((years_all, *unsorted_codes[::-1]))
    key_codes = [codes[order] for codes in unsorted_codes]
    years_all = years_all[order]
    values_all = stacked["value"].to_numpy(dtype="float64")[order]
    units_all = stacked["n_units"].to_numpy(dtype="int64")[order]
    new_series = np.zeros(len(order), dtype=bool)
    new_series[0] = True
    for codes in key_codes:
        new_series[1:] |= codes[1:] != codes[:-1]
    series_of_row = np.cumsum(new_series) - 1
    series_first = np.flatnonzero(new_series)
    series_last = np.r_[series_first[1:], len(order)] - 1
    begin, end = same_units_runs(series_of_row, units_all)
    # Distinct years in each run: the rows opening the run or following a different year.
    new_year = np.r_[True, years_all[1:] != years_all[:-1]]
    new_year[begin] = True
    counted = np.r_[0, np.cumsum(new_year)]
    distinct_years = counted[end] - counted[begin]
    kept = np.flatnonzero(distinct_years >= MINIMUM_YEARS)
    if len(kept) == 0:
        return empty_frame(SIGMA_CONVERGENCE_DTYPES)
    begin, end = begin[kept], end[kept]
    sizes = end - begin
    points = np.repeat(begin, sizes) + np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    # As year_trends: x = years − their first, in float.
    x = years_all[points].astype("float64") - np.repeat(years_all[begin], sizes)
    inference = run_slope_inference(x, values_all[points], sizes, SIGNIFICANCE_LEVEL)
    significant = inference["p_value"] < SIGNIFICANCE_LEVEL
    first = series_first[kept]
    table = pd.DataFrame(
        {
            **{
                key: labels_at(list(labels), codes[first])
                for key, labels, codes in zip(keys, key_labels, key_codes, strict=True)
            },
            "start_year": years_all[begin],
            "end_year": years_all[end - 1],
            "n_years": sizes,
            "n_units": units_all[begin],
            "series_start_year": years_all[first],
            "series_end_year": years_all[series_last[kept]],
            **{
                name: inference[name] for name in ["slope", "standard_error", "t_value", "p_value", "ci_low", "ci_high"]
            },
            "significant_at_5pct": significant,
            "reading": labels_at(READINGS, np.where(significant, np.where(inference["slope"] < 0, 1, 2), 0)),
        }
    )
    return table[SIGMA_CONVERGENCE_COLUMNS].astype(SIGMA_CONVERGENCE_DTYPES)
