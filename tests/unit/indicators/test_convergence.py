"""β-convergence against hand-computed OLS on MADE-UP series: windows, breaks, zero levels and the ≥5-unit rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.indicators.convergence import beta_convergence, convergence_table, convergence_windows, ols_slope
from pipeline.indicators.units import unit_sets
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, districts, region_frame, value_frame

UNITS = districts(6)
REGIONS = region_frame(
    [(PROVINCE, "province", "CN"), (CITY, "prefecture_city", PROVINCE)] + [(code, "district", CITY) for code in UNITS]
)


def test_ols_slope_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.10, 0.09, 0.05, 0.06, 0.02])
    # x̄ = 2, ȳ = 0.064; Σ(x−x̄)(y−ȳ) = −0.19, Σ(x−x̄)² = 10 → β = −0.019, intercept = 0.064 + 0.038 = 0.102.
    # Residuals −0.002, 0.007, −0.014, 0.015, −0.006 → SSres = 510e-6; SStot = 4120e-6 → r² = 1 − 510/4120.
    fit = ols_slope(x, y)
    assert fit["beta"] == pytest.approx(-0.019)
    assert fit["intercept"] == pytest.approx(0.102)
    assert fit["r_squared"] == pytest.approx(1 - 510 / 4120)


def test_ols_slope_without_spread_in_x_is_undefined_and_flat_y_has_no_r_squared():
    assert ols_slope(np.ones(5), np.arange(5.0)) is None
    fit = ols_slope(np.arange(5.0), np.full(5, 0.03))
    assert fit["beta"] == pytest.approx(0.0)
    assert fit["r_squared"] is None


def converging_rows(code: str = "rate", years=(2010, 2015), units=UNITS[:5]) -> list[tuple]:
    """Levels e^k whose annual log growth is exactly 0.1 − 0.02·k, so β = −0.02, intercept 0.1 and r² = 1."""
    rows = []
    for k, unit in enumerate(units):
        start_level = math.exp(k)
        for year in years:
            rows.append((code, unit, year, start_level * math.exp((0.1 - 0.02 * k) * (year - years[0]))))
    return rows


def test_beta_convergence_recovers_a_known_slope():
    series = value_frame(converging_rows())
    result = beta_convergence(series, 2010, 2015)
    assert result["beta"] == pytest.approx(-0.02)
    assert result["intercept"] == pytest.approx(0.1)
    assert result["r_squared"] == pytest.approx(1.0)
    assert result["n_units"] == 5


def test_a_break_a_zero_level_or_a_missing_end_removes_the_unit():
    rows = converging_rows(units=UNITS[:5])
    rows += [("rate", UNITS[5], 2010, 0.0), ("rate", UNITS[5], 2015, 3.0)]  # zero initial level
    series = value_frame(rows)
    assert beta_convergence(series, 2010, 2015)["n_units"] == 5
    broken = value_frame(rows + [("rate", UNITS[0], 2012, 1.1, "b")])  # a break inside the window
    assert beta_convergence(broken, 2010, 2015) is None  # 4 comparable units left
    after = value_frame(converging_rows(years=(2010, 2015)) + [("rate", UNITS[0], 2016, 2.0, "b")])
    assert beta_convergence(after, 2010, 2015)["n_units"] == 5  # a break after the window does not matter
    missing_end = value_frame([row for row in converging_rows() if not (row[1] == UNITS[4] and row[2] == 2015)])
    assert beta_convergence(missing_end, 2010, 2015) is None


def test_windows_are_the_longest_and_the_rolling_five_year_ones():
    series = value_frame(converging_rows(years=tuple(range(2010, 2017))))
    assert convergence_windows(series) == [
        (2010, 2015, "rolling_5_year"),
        (2010, 2016, "longest"),
        (2011, 2016, "rolling_5_year"),
    ]
    # No pair of years five apart: only the longest window.
    assert convergence_windows(value_frame(converging_rows(years=(2010, 2013, 2017)))) == [(2010, 2017, "longest")]
    # The longest window is the longest one with 5 comparable units: a unit missing in 2017 shortens it.
    rows = converging_rows(years=(2010, 2016)) + [
        (row[0], row[1], 2017, row[3]) for row in converging_rows(years=(2016,))
    ]
    rows = [row for row in rows if not (row[1] == UNITS[0] and row[2] == 2017)]
    assert convergence_windows(value_frame(rows)) == [(2010, 2016, "longest")]


def test_convergence_table_for_flagged_indicators_only(tmp_path):
    catalog = catalog_from([{"indicator_code": "rate", "dispersion": True}, {"indicator_code": "level"}], tmp_path)
    rows = converging_rows(years=(2010, 2013, 2015)) + converging_rows("level", years=(2010, 2015))
    table = convergence_table(value_frame(rows), unit_sets(REGIONS), catalog)
    assert set(table["indicator_code"]) == {"rate"}
    windows = table.set_index(["start_year", "end_year"])
    assert windows.loc[(2010, 2015), "window_kind"] == "longest;rolling_5_year"
    assert windows.loc[(2010, 2015), "beta"] == pytest.approx(-0.02)
    assert len(windows) == 1  # 2010–2013 and 2013–2015 are neither the longest nor 5-year windows
    assert set(table["parent_region_code"]) == {CITY}
    assert set(table["n_units"]) == {5}


def test_no_convergence_with_fewer_than_five_units(tmp_path):
    catalog = catalog_from([{"indicator_code": "rate", "dispersion": True}], tmp_path)
    table = convergence_table(value_frame(converging_rows(units=UNITS[:4])), unit_sets(REGIONS), catalog)
    assert table.empty
    assert list(table.columns)[:5] == ["indicator_code", "parent_region_code", "unit_level", "start_year", "end_year"]
