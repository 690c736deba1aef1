"""β-convergence: OLS slope of annualised log growth on log initial level, longest and rolling windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.arrays import labels_at, run_bounds
from pipeline.core.frames import empty_frame
from pipeline.core.metadata import BREAK_FLAG
from pipeline.indicators.grouped import Placement
from pipeline.indicators.ols import run_slope_inference
from pipeline.validate.schemas import MINIMUM_UNITS

ROLLING_WINDOW_YEARS = 5
# Window kinds, by position: a fit's kind is an index into this list (longest sorts before rolling).
WINDOW_KINDS = ["longest", "rolling_5_year", "longest;rolling_5_year"]
LONGEST, ROLLING, LONGEST_AND_ROLLING = 0, 1, 2
CONVERGENCE_COLUMNS = [
    "indicator_code",
    "parent_region_code",
    "unit_level",
    "start_year",
    "end_year",
    "beta",
    "intercept",
    "r_squared",
    "n_units",
    "window_kind",
    "scale",
    "standard_error",
    "t_value",
    "p_value",
    "ci_low",
    "ci_high",
    "significant_at_5pct",
    "speed",
    "half_life_years",
    "n_units_at_bound",
]
CONVERGENCE_DTYPES = {
    "indicator_code": "str",
    "parent_region_code": "str",
    "unit_level": "str",
    "start_year": "int64",
    "end_year": "int64",
    "beta": "float64",
    "intercept": "float64",
    "r_squared": "float64",
    "n_units": "int64",
    "window_kind": "str",
    "scale": "str",
    "standard_error": "float64",
    "t_value": "float64",
    "p_value": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "significant_at_5pct": "bool",
    "speed": "float64",
    "half_life_years": "float64",
    "n_units_at_bound": "int64",
}
SIGNIFICANCE_LEVEL = 0.05
# The scale β is fitted on: ln of the level, or (bounded shares, catalogue `bounded`) the logit ln(p / (100 − p)).
LOG_SCALE, LOGIT_SCALE = "log", "logit"
SHARE_BOUND = 100.0


def convergence_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """β for every indicator flagged `dispersion`, parent and unit level: the longest window and rolling 5-year ones."""
    codes = convergence_codes(catalog)
    bounded = set(catalog.loc[catalog["bounded"].astype(bool), "indicator_code"])
    panels = UnitPanels.of(values, units, codes, bounded)
    if panels.group_count == 0:
        return empty_frame(CONVERGENCE_DTYPES)
    fits = panels.window_fits()
    if fits["group"].size == 0:
        return empty_frame(CONVERGENCE_DTYPES)
    group = fits["group"]
    placed = panels.placement
    tests = panels.inference(fits)
    scales = np.where(np.isin(labels_at(list(placed.codes), panels.group_code[group]), sorted(bounded)), 1, 0)
    return pd.DataFrame(
        {
            "indicator_code": labels_at(list(placed.codes), panels.group_code[group]),
            "parent_region_code": labels_at(list(placed.parent_codes), placed.set_parent[panels.group_set[group]]),
            "unit_level": labels_at(list(placed.level_names), placed.set_level[panels.group_set[group]]),
            "start_year": fits["start_year"],
            "end_year": fits["end_year"],
            "beta": fits["beta"],
            "intercept": fits["intercept"],
            "r_squared": fits["r_squared"],
            "n_units": fits["n_units"],
            "window_kind": labels_at(WINDOW_KINDS, fits["kind"]),
            "scale": labels_at([LOG_SCALE, LOGIT_SCALE], scales),
            **tests,
        }
    ).astype(CONVERGENCE_DTYPES)[CONVERGENCE_COLUMNS]


def convergence_codes(catalog: pd.DataFrame) -> list[str]:
    """Indicators flagged `dispersion`, without the complements of another share (their result is the other's)."""
    flagged = catalog["dispersion"].astype(bool) & (catalog["complement_of"].fillna("") == "")
    return sorted(set(catalog.loc[flagged, "indicator_code"]))


def beta_inference(x: np.ndarray, y: np.ndarray, years: int) -> dict[str, float | bool]:
    """statsmodels OLS of y on x: the slope's standard error, t, p and 95 % interval; speed and half-life.

    speed λ = −ln(1 + T·β) / T (undefined where 1 + T·β ≤ 0); half-life ln 2 / λ in years (only where λ > 0).
    """
    return {name: column[0].item() for name, column in beta_inferences([(x, y)], [years]).items()}


def beta_inferences(fits: list[tuple[np.ndarray, np.ndarray]], years: list[int]) -> dict[str, np.ndarray]:
    """beta_inference of each (x, y) fit over its number of years, as columns: the OLS inference of all fits at once."""
    sizes = np.array([len(x) for x, _ in fits], dtype="int64")
    if not fits:
        return run_beta_inferences(np.zeros(0), np.zeros(0), sizes, years)
    x = np.concatenate([np.asarray(x, dtype="float64") for x, _ in fits])
    y = np.concatenate([np.asarray(y, dtype="float64") for _, y in fits])
    return run_beta_inferences(x, y, sizes, years)


def run_beta_inferences(x: np.ndarray, y: np.ndarray, sizes: np.ndarray, years: list[int]) -> dict[str, np.ndarray]:
    """beta_inferences of fits lying one after the other in x and y, `sizes` points each."""
    inference = run_slope_inference(x, y, sizes, SIGNIFICANCE_LEVEL)
    base = 1.0 + np.asarray(years, dtype="int64") * inference["slope"]
    windows = np.asarray(years, dtype="float64")
    # math.log per fit (as before), not numpy's vectorised log, which need not round the same way.
    speed = np.array(
        [
            -math.log(level) / window if level > 0 else math.nan
            for level, window in zip(base.tolist(), windows.tolist(), strict=True)
        ],
        dtype="float64",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.where(speed > 0, math.log(2.0) / speed, math.nan)
    return {
        "standard_error": inference["standard_error"],
        "t_value": inference["t_value"],
        "p_value": inference["p_value"],
        "ci_low": inference["ci_low"],
        "ci_high": inference["ci_high"],
        "significant_at_5pct": inference["p_value"] < SIGNIFICANCE_LEVEL,
        "speed": speed,
        "half_life_years": half_life,
    }


@dataclass
class UnitPanels:
    """Every (indicator, unit set) panel at once: one row per (indicator, unit) series, one column per year.

    `levels` and `breaks_before` are year × series matrices (NaN where there is no value; the number of `b` break
    flags up to and including each year); `group` is each series' panel, numbered in the order of (indicator,
    parent, unit level), whose series start at `group_start`; `group_code` and `group_set` are the panel's
    indicator and unit set.
    """

    placement: Placement
    levels: np.ndarray
    at_bound: np.ndarray
    breaks_before: np.ndarray
    group: np.ndarray
    group_start: np.ndarray
    group_code: np.ndarray
    group_set: np.ndarray

    @property
    def group_count(self) -> int:
        """How many panels there are."""
        return len(self.group_code)

    @classmethod
    def of(
        cls, values: pd.DataFrame, units: pd.DataFrame, codes: list[str], bounded: set[str] | None = None
    ) -> UnitPanels:
        """Place the codes' values in their regions' unit sets and lay each (indicator, unit) series out by year.

        The levels of `bounded` shares become odds p / (100 − p), so ln(level) is the logit; a share at 0 or 100 %
        has none (NaN) and is marked in `at_bound`.
        """
        placed = Placement.of(values, units, codes, codes)
        unit_count, set_count = len(units), len(placed.set_parent)
        series_key = placed.code[placed.row] * unit_count + placed.unit
        present = np.flatnonzero(np.bincount(series_key, minlength=len(codes) * unit_count))
        group_key = (present // unit_count) * set_count + placed.set_of_unit[present % unit_count]
        # Series numbered panel by panel, so each panel's series are contiguous.
        order = np.argsort(group_key, kind="stable")
        position = np.zeros(len(codes) * unit_count, dtype="int64")
        position[present[order]] = np.arange(len(present))
        series = position[series_key]
        years = placed.year_offset[placed.row]
        # Laid out year by series from the start (no transposed copies): a year's row is contiguous.
        levels = np.full((placed.year_span, len(present)), np.nan)
        levels[years, series] = placed.values[placed.row]
        # Break counts fit in int16 (at most one per year); the cumulative count is taken in place.
        breaks_before = np.zeros((placed.year_span, len(present)), dtype="int16")
        breaks_before[years, series] = break_flags(values["status"])[placed.row]
        np.cumsum(breaks_before, axis=0, out=breaks_before)
        group_keys, group = np.unique(group_key[order], return_inverse=True)
        start, _ = run_bounds(group)
        at_bound = np.zeros(levels.shape, dtype=bool)
        bounded_series = np.isin(
            present[order] // unit_count, [codes.index(code) for code in bounded or () if code in codes]
        )
        if bounded_series.any():
            shares = levels[:, bounded_series]
            with np.errstate(divide="ignore", invalid="ignore"):
                at_bound[:, bounded_series] = np.isfinite(shares) & ((shares <= 0) | (shares >= SHARE_BOUND))
                levels[:, bounded_series] = np.where(
                    at_bound[:, bounded_series], np.nan, shares / (SHARE_BOUND - shares)
                )
        return cls(
            placement=placed,
            levels=levels,
            at_bound=at_bound,
            breaks_before=breaks_before,
            group=group,
            group_start=start,
            group_code=group_keys // set_count,
            group_set=group_keys % set_count,
        )

    def usable(self, start: int, end: int) -> np.ndarray:
        """Series with positive values at both year offsets and no break flag after the start up to the end."""
        with np.errstate(invalid="ignore"):
            positive = (self.levels[start] > 0) & (self.levels[end] > 0)
        return positive & (self.breaks_before[end] == self.breaks_before[start])

    def inference(self, fits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per fit the statsmodels inference on its units, and how many units a bound left out of it.

        Window by window: the usable series of all the window's fits at once, then every fit's points laid one
        after the other (in series order) for one batched inference.
        """
        starts = fits["start_year"] - self.placement.first_year
        ends = fits["end_year"] - self.placement.first_year
        fit_count = len(starts)
        at_bound = np.zeros(fit_count, dtype="int64")
        fit_of_point, x_parts, y_parts = [], [], []
        for start, end in sorted(set(zip(starts.tolist(), ends.tolist(), strict=True))):
            members = np.flatnonzero((starts == start) & (ends == end))
            fit_of_group = np.full(self.group_count, -1)
            fit_of_group[fits["group"][members]] = members  # a panel has one fit per window
            fit_of_series = fit_of_group[self.group]
            taken = fit_of_series >= 0
            usable = np.flatnonzero(self.usable(start, end) & taken)
            initial, final = self.levels[start, usable], self.levels[end, usable]
            x_parts.append(np.log(initial))
            y_parts.append(np.log(final / initial) / (end - start))
            fit_of_point.append(fit_of_series[usable])
            at_bound += np.bincount(fit_of_series[taken & self.left_at_bound(start, end)], minlength=fit_count)
        fit_of_points = np.concatenate(fit_of_point) if fit_of_point else np.zeros(0, dtype="int64")
        order = np.argsort(fit_of_points, kind="stable")
        x = np.concatenate(x_parts)[order] if x_parts else np.zeros(0)
        y = np.concatenate(y_parts)[order] if y_parts else np.zeros(0)
        sizes = np.bincount(fit_of_points, minlength=fit_count)
        columns = run_beta_inferences(x, y, sizes, (ends - starts).tolist()) if fit_count else {}
        return {**columns, "n_units_at_bound": at_bound}

    def left_at_bound(self, start: int, end: int) -> np.ndarray:
        """Series with a share at 0 or 100 % at an end of the window (and a value at the other), no break between."""
        with np.errstate(invalid="ignore"):
            present = (self.at_bound[[start, end]] | (self.levels[[start, end]] > 0)).all(axis=0)
        either = self.at_bound[start] | self.at_bound[end]
        return present & either & (self.breaks_before[end] == self.breaks_before[start])

    def window_fits(self) -> dict[str, np.ndarray]:
        """β fits of every panel's longest window with ≥5 comparable units and of its rolling 5-year ones, in order."""
        first_year = self.placement.first_year
        offsets = np.flatnonzero(np.isfinite(self.levels).any(axis=1)).tolist()  # Python ints, as usable and fit take
        best_length = np.full(self.group_count, -1)
        best_end = np.full(self.group_count, -1)
        best_start = np.full(self.group_count, -1)
        fits = []
        for position, start in enumerate(offsets):
            for end in offsets[position + 1 :]:
                usable = self.usable(start, end)
                eligible = np.add.reduceat(usable, self.group_start, dtype="int64") >= MINIMUM_UNITS
                length = end - start
                better = eligible & ((length > best_length) | ((length == best_length) & (end > best_end)))
                best_length[better], best_end[better], best_start[better] = length, end, start
                if length == ROLLING_WINDOW_YEARS:
                    fits.append(self.fit(start, end, usable & eligible[self.group], ROLLING))
        chosen = np.flatnonzero(best_length >= 0)
        for start, end in sorted(set(zip(best_start[chosen].tolist(), best_end[chosen].tolist(), strict=True))):
            groups = np.zeros(self.group_count, dtype=bool)
            groups[chosen[(best_start[chosen] == start) & (best_end[chosen] == end)]] = True
            fits.append(self.fit(start, end, self.usable(start, end) & groups[self.group], LONGEST))
        return combined_fits(fits, first_year)

    def fit(self, start: int, end: int, rows: np.ndarray, kind: int) -> dict[str, np.ndarray]:
        """OLS of ln(x_end / x_start) / (end − start) on ln(x_start) within each panel, over the given series."""
        group = self.group[rows]
        initial, final = self.levels[start, rows], self.levels[end, rows]
        x = np.log(initial)
        y = np.log(final / initial) / (end - start)
        count = np.bincount(group, minlength=self.group_count)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_mean = np.bincount(group, weights=x, minlength=self.group_count) / count
            y_mean = np.bincount(group, weights=y, minlength=self.group_count) / count
            x_centred, y_centred = x - x_mean[group], y - y_mean[group]
            spread = np.bincount(group, weights=x_centred**2, minlength=self.group_count)
            beta = np.bincount(group, weights=x_centred * y_centred, minlength=self.group_count) / spread
            intercept = y_mean - beta * x_mean
            total = np.bincount(group, weights=y_centred**2, minlength=self.group_count)
            residuals = (y - intercept[group] - beta[group] * x) ** 2
            residual = np.bincount(group, weights=residuals, minlength=self.group_count)
            r_squared = np.where(total > 0, np.clip(1.0 - residual / total, 0.0, 1.0), np.nan)
        fitted = np.flatnonzero((count > 0) & (spread > 0))
        return {
            "group": fitted,
            "start": np.full(len(fitted), start),
            "end": np.full(len(fitted), end),
            "kind": np.full(len(fitted), kind),
            "beta": beta[fitted],
            "intercept": intercept[fitted],
            "r_squared": r_squared[fitted],
            "n_units": count[fitted],
        }


def combined_fits(fits: list[dict[str, np.ndarray]], first_year: int) -> dict[str, np.ndarray]:
    """The fits in panel, start and end order; a window both longest and rolling is one row of kind both."""
    columns = {name: np.concatenate([fit[name] for fit in fits]) for name in fits[0]} if fits else {}
    if not columns or len(columns["group"]) == 0:
        return {"group": np.zeros(0, dtype="int64")}
    order = np.lexsort((columns["kind"], columns["end"], columns["start"], columns["group"]))
    columns = {name: column[order] for name, column in columns.items()}
    window = np.stack([columns["group"], columns["start"], columns["end"]])
    repeated = np.concatenate([[False], (window[:, 1:] == window[:, :-1]).all(axis=0)])
    # The same panel and window as the row before: longest (sorted first) and rolling, one row.
    both = np.flatnonzero(repeated) - 1
    columns["kind"][both] = LONGEST_AND_ROLLING
    columns = {name: column[~repeated] for name, column in columns.items()}
    columns["start_year"] = columns.pop("start") + first_year
    columns["end_year"] = columns.pop("end") + first_year
    return columns


def break_flags(statuses: pd.Series) -> np.ndarray:
    """Whether each status carries the `b` (series break) flag, as integers."""
    if isinstance(statuses.dtype, pd.CategoricalDtype):
        # Once per distinct status; a missing status (code -1) carries no flag.
        flagged = np.array([BREAK_FLAG in status for status in statuses.cat.categories], dtype="int64")
        return np.append(flagged, 0)[statuses.cat.codes.to_numpy()]
    array = pa.chunked_array(pa.array(statuses.fillna("").astype("str"), from_pandas=True))
    return np.asarray(pc.match_substring(array, BREAK_FLAG).to_numpy(zero_copy_only=False), dtype="int64")


class Panel:
    """A series as a region × year matrix of values with a matching matrix of `b` break flags."""

    def __init__(self, regions: np.ndarray, years: np.ndarray, levels: np.ndarray, breaks: np.ndarray):
        self.regions, self.years, self.levels, self.breaks = regions, years, levels, breaks

    @classmethod
    def of(cls, series: pd.DataFrame) -> Panel:
        """Build the panel of one indicator's series under one parent."""
        levels = series.pivot_table(index="region_code", columns="year", values="value", aggfunc="first")
        flags = series.assign(broken=series["status"].str.contains(BREAK_FLAG, regex=False))
        breaks = flags.pivot_table(index="region_code", columns="year", values="broken", aggfunc="any")
        breaks = breaks.reindex(index=levels.index, columns=levels.columns).fillna(False).astype(bool)
        return cls(
            levels.index.to_numpy(),
            levels.columns.to_numpy(dtype="int64"),
            levels.to_numpy(dtype="float64"),
            breaks.to_numpy(dtype=bool),
        )

    def usable(self, start: int, end: int) -> np.ndarray:
        """Units with positive values at start and end and no break flag in (start, end]."""
        if start not in self.years or end not in self.years:
            return np.zeros(len(self.regions), dtype=bool)
        first = self.levels[:, self.years == start][:, 0]
        last = self.levels[:, self.years == end][:, 0]
        inside = (self.years > start) & (self.years <= end)
        with np.errstate(invalid="ignore"):
            positive = (first > 0) & (last > 0)
        return positive & ~self.breaks[:, inside].any(axis=1)

    def window(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Initial and final values of the usable units."""
        usable = self.usable(start, end)
        first = self.levels[:, self.years == start][:, 0]
        last = self.levels[:, self.years == end][:, 0]
        return first[usable], last[usable]


def convergence_windows(series: pd.DataFrame) -> list[tuple[int, int, str]]:
    """The longest window with ≥5 comparable units, and every rolling 5-year window with ≥5, labelled."""
    return panel_windows(Panel.of(series))


def panel_windows(panel: Panel) -> list[tuple[int, int, str]]:
    """Windows of a panel: the longest with ≥5 comparable units, and every rolling 5-year one with ≥5."""
    years = sorted(int(year) for year in panel.years)
    eligible = {
        (start, end)
        for position, start in enumerate(years)
        for end in years[position + 1 :]
        if panel.usable(start, end).sum() >= MINIMUM_UNITS
    }
    labels: dict[tuple[int, int], list[str]] = {}
    if eligible:
        longest = max(eligible, key=lambda window: (window[1] - window[0], window[1]))
        labels.setdefault(longest, []).append("longest")
    for window in sorted(eligible):
        if window[1] - window[0] == ROLLING_WINDOW_YEARS:
            labels.setdefault(window, []).append("rolling_5_year")
    return [(start, end, ";".join(names)) for (start, end), names in sorted(labels.items())]


def beta_convergence(series: pd.DataFrame, start: int, end: int) -> dict | None:
    """OLS of ln(x_end / x_start) / (end − start) on ln(x_start); None when fewer than 5 units or no spread."""
    return panel_beta(Panel.of(series), start, end)


def panel_beta(panel: Panel, start: int, end: int) -> dict | None:
    """β of one window of a panel, with intercept, r² and the number of units; None below 5 units."""
    initial, final = panel.window(start, end)
    if len(initial) < MINIMUM_UNITS:
        return None
    fit = ols_slope(np.log(initial), np.log(final / initial) / (end - start))
    return None if fit is None else {**fit, "n_units": len(initial)}


def ols_slope(x: np.ndarray, y: np.ndarray) -> dict | None:
    """Slope, intercept and r² of y on x by ordinary least squares; r² is None when y does not vary."""
    x_centred = x - x.mean()
    spread = (x_centred**2).sum()
    if spread <= 0:
        return None
    beta = float((x_centred * (y - y.mean())).sum() / spread)
    intercept = float(y.mean() - beta * x.mean())
    total = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - intercept - beta * x) ** 2).sum())
    r_squared = None if total <= 0 else min(max(1.0 - residual / total, 0.0), 1.0)
    return {"beta": beta, "intercept": intercept, "r_squared": r_squared}
