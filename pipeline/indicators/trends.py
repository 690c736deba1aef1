"""σ-convergence and the urban–rural Theil trend: OLS slopes on the year with statsmodels inference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.frames import empty_frame
from pipeline.indicators.ols import slope_inference

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
    stacked = pd.concat([series, theil], ignore_index=True).sort_values([*keys, "year"], kind="stable")
    if stacked.empty:
        return empty_frame(SIGMA_CONVERGENCE_DTYPES)
    # Series as runs of the sorted frame (numpy slices, no pandas group per series).
    codes = stacked.groupby(keys, sort=False, observed=True).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    years_all = stacked["year"].to_numpy(dtype="int64")
    values_all = stacked["value"].to_numpy(dtype="float64")
    units_all = stacked["n_units"].to_numpy(dtype="int64")
    labels = stacked[keys].to_numpy()
    rows = []
    fitted: list[tuple[np.ndarray, np.ndarray]] = []
    for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
        begin, end = same_units_run(units_all[first:last])
        years = years_all[first + begin : first + end]
        if len(np.unique(years)) < MINIMUM_YEARS:
            continue
        rows.append(
            {
                **dict(zip(keys, labels[first], strict=True)),
                "start_year": int(years.min()),
                "end_year": int(years.max()),
                "n_years": len(years),
                "n_units": int(units_all[first + begin]),
                "series_start_year": int(years_all[first]),
                "series_end_year": int(years_all[last - 1]),
            }
        )
        fitted.append((years, values_all[first + begin : first + end]))
    if not rows:
        return empty_frame(SIGMA_CONVERGENCE_DTYPES)
    rows = [{**row, **trend} for row, trend in zip(rows, year_trends(fitted), strict=True)]
    return pd.DataFrame(rows, columns=SIGMA_CONVERGENCE_COLUMNS).astype(SIGMA_CONVERGENCE_DTYPES)
