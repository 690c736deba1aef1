"""β-convergence: do units with lower initial levels grow faster? OLS of annualised log growth on the log initial level."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.dispersion import unit_sets
from pipeline.indicators import BREAK_FLAG, empty_frame, indicator_values
from pipeline.schemas import MINIMUM_UNITS, ConvergenceSchema
from pipeline.validate import known_codes_schema_check

GROUP = "convergence"
ROLLING_WINDOW_YEARS = 5
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
}


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources"), "regions": dg.AssetIn("regions")})
def convergence(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicators: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    regions: pd.DataFrame,
) -> pd.DataFrame:
    """β-convergence across the units under each parent, for the longest window and rolling 5-year windows."""
    values = indicator_values(observations, sources, indicators)
    return convergence_table(values, unit_sets(regions), indicator_catalog)


convergence_schema = known_codes_schema_check(
    "convergence",
    ConvergenceSchema,
    ["parent_region_code"],
    "β-convergence rows have known codes, windows that move forward, r² in [0, 1] and at least 5 units.",
)


def convergence_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """β for every indicator flagged `dispersion`, parent and unit level: the longest window and rolling 5-year ones."""
    flagged = set(catalog.loc[catalog["dispersion"].astype(bool), "indicator_code"])
    placed = values[values["indicator_code"].isin(flagged)].merge(units, on="region_code")
    rows = []
    for (code, parent, level), series in placed.groupby(["indicator_code", "parent_region_code", "unit_level"]):
        panel = Panel.of(series)
        for start, end, window in panel_windows(panel):
            result = panel_beta(panel, start, end)
            if result is None:
                continue
            rows.append(
                {
                    "indicator_code": code,
                    "parent_region_code": parent,
                    "unit_level": level,
                    "start_year": start,
                    "end_year": end,
                    "window_kind": window,
                    **result,
                }
            )
    if not rows:
        return empty_frame(CONVERGENCE_DTYPES)
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS).astype(CONVERGENCE_DTYPES)


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
