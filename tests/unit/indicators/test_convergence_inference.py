"""β inference (statsmodels), speed and half-life, the bounded-share rule and breaks, on MADE-UP series."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from pipeline.indicators.convergence import beta_inference, beta_inferences, convergence_table, run_beta_inferences
from pipeline.indicators.dispersion import dispersion_table, logit_standard_deviation
from pipeline.indicators.units import unit_sets
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, districts, region_frame, value_frame

UNITS = districts(8)
REGIONS = region_frame(
    [(PROVINCE, "province", "CN"), (CITY, "prefecture_city", PROVINCE)] + [(code, "district", CITY) for code in UNITS]
)
# Made-up initial levels and 5-year end levels of 8 units (no pattern, so the fit has residuals).
STARTS = [100.0, 140.0, 90.0, 210.0, 160.0, 120.0, 300.0, 75.0]
ENDS = [150.0, 180.0, 150.0, 240.0, 200.0, 170.0, 330.0, 130.0]


def test_fits_laid_one_after_the_other_give_the_inference_of_each_fit():
    x = np.log(np.array(STARTS))
    fits = [(x, np.log(np.array(ENDS) / np.array(STARTS)) / 5), (x[:6], (x[:6] - 4.0) ** 2 / 10), (x[2:], -x[2:] / 7)]
    years = [5, 10, 7]
    sizes = np.array([len(fit_x) for fit_x, _ in fits])
    flat = run_beta_inferences(np.concatenate([a for a, _ in fits]), np.concatenate([b for _, b in fits]), sizes, years)
    listed = beta_inferences(fits, years)
    for position, ((fit_x, fit_y), window) in enumerate(zip(fits, years, strict=True)):
        for name, value in beta_inference(fit_x, fit_y, window).items():
            # The same figure to the last bit (or NaN in all three).
            figures = {float(flat[name][position]), float(listed[name][position]), float(value)}
            assert len(figures) == 1 or all(math.isnan(figure) for figure in figures), name


def test_beta_inference_equals_statsmodels_and_the_speed_and_half_life_by_hand():
    x = np.log(np.array(STARTS))
    y = np.log(np.array(ENDS) / np.array(STARTS)) / 5
    result = beta_inference(x, y, 5)
    reference = sm.OLS(y, sm.add_constant(x)).fit()
    assert result["standard_error"] == pytest.approx(reference.bse[1])
    assert result["t_value"] == pytest.approx(reference.params[1] / reference.bse[1])
    assert result["p_value"] == pytest.approx(reference.pvalues[1])
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(tuple(reference.conf_int(0.05)[1]))
    beta = reference.params[1]
    # Hand formula of the slope's standard error: sqrt(SSres / (n − 2) / Σ(x − x̄)²).
    residuals = y - reference.params[0] - beta * x
    hand_error = math.sqrt((residuals**2).sum() / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
    assert result["standard_error"] == pytest.approx(hand_error)
    assert beta < 0
    assert result["speed"] == pytest.approx(-math.log(1 + 5 * beta) / 5)
    assert result["half_life_years"] == pytest.approx(math.log(2) / result["speed"])
    assert result["significant_at_5pct"] == (reference.pvalues[1] < 0.05)


def test_divergence_has_no_half_life():
    x = np.log(np.array(STARTS))
    y = 0.01 + 0.004 * x + np.array([0.001, -0.002, 0.0, 0.002, -0.001, 0.001, -0.001, 0.0])
    result = beta_inference(x, y, 5)
    assert result["speed"] < 0
    assert math.isnan(result["half_life_years"])


def rows_of(code: str, starts: list[float], ends: list[float], years=(2010, 2015)) -> list[tuple]:
    """(code, unit, year, value) rows of the made-up start and end levels."""
    return [
        (code, unit, year, value)
        for unit, start, end in zip(UNITS, starts, ends, strict=True)
        for year, value in zip(years, (start, end), strict=True)
    ]


def test_convergence_table_carries_the_statsmodels_inference(tmp_path):
    catalog = catalog_from([{"indicator_code": "income", "dispersion": True}], tmp_path)
    table = convergence_table(value_frame(rows_of("income", STARTS, ENDS)), unit_sets(REGIONS), catalog)
    row = table.iloc[0]
    x = np.log(np.array(STARTS))
    reference = sm.OLS(np.log(np.array(ENDS) / np.array(STARTS)) / 5, sm.add_constant(x)).fit()
    assert row["beta"] == pytest.approx(reference.params[1])
    assert row["p_value"] == pytest.approx(reference.pvalues[1])
    assert row["standard_error"] == pytest.approx(reference.bse[1])
    assert (row["scale"], row["n_units"], row["n_units_at_bound"]) == ("log", 8, 0)


SHARES_START = [40.0, 55.0, 62.0, 70.0, 81.0, 90.0, 100.0, 100.0]
SHARES_END = [52.0, 63.0, 66.0, 79.0, 85.0, 93.0, 100.0, 100.0]


def test_a_bounded_share_is_fitted_on_the_logit_with_the_units_at_the_bound_left_out_and_counted(tmp_path):
    catalog = catalog_from(
        [{"indicator_code": "share", "unit": "percent", "dispersion": True, "bounded": True}], tmp_path
    )
    table = convergence_table(value_frame(rows_of("share", SHARES_START, SHARES_END)), unit_sets(REGIONS), catalog)
    row = table.iloc[0]
    inside = slice(0, 6)  # the two units at 100 % have no logit
    logit_start = np.log(np.array(SHARES_START[inside]) / (100 - np.array(SHARES_START[inside])))
    logit_end = np.log(np.array(SHARES_END[inside]) / (100 - np.array(SHARES_END[inside])))
    reference = sm.OLS((logit_end - logit_start) / 5, sm.add_constant(logit_start)).fit()
    assert (row["scale"], row["n_units"], row["n_units_at_bound"]) == ("logit", 6, 2)
    assert row["beta"] == pytest.approx(reference.params[1])
    assert row["p_value"] == pytest.approx(reference.pvalues[1])


def test_a_share_and_its_complement_give_one_result_and_the_complement_is_not_published(tmp_path):
    entries = [
        {"indicator_code": "urban_share", "unit": "percent", "dispersion": True, "bounded": True},
        {
            "indicator_code": "rural_share",
            "unit": "percent",
            "dispersion": True,
            "bounded": True,
            "complement_of": "urban_share",
        },
    ]
    rural_start = [100 - share for share in SHARES_START]
    rural_end = [100 - share for share in SHARES_END]
    values = value_frame(
        rows_of("urban_share", SHARES_START, SHARES_END) + rows_of("rural_share", rural_start, rural_end)
    )
    table = convergence_table(values, unit_sets(REGIONS), catalog_from(entries, tmp_path))
    assert set(table["indicator_code"]) == {"urban_share"}
    # On the logit scale the complement's β is the same number (logit(100 − p) = −logit(p)).
    alone = catalog_from([{**entries[1], "complement_of": ""}], tmp_path / "alone")
    complement = convergence_table(values[values["indicator_code"] == "rural_share"], unit_sets(REGIONS), alone)
    assert complement.iloc[0]["beta"] == pytest.approx(table.iloc[0]["beta"])


def test_a_break_in_the_end_year_or_inside_removes_the_unit_and_one_before_the_start_does_not(tmp_path):
    catalog = catalog_from([{"indicator_code": "income", "dispersion": True}], tmp_path)
    years = list(range(2010, 2020))
    rows = [
        (
            "income",
            unit,
            year,
            start * (end / start) ** ((year - 2010) / 5),
            "b" if unit == UNITS[0] and year == 2014 else "",
        )
        for unit, start, end in zip(UNITS, STARTS, ENDS, strict=True)
        for year in years
    ]
    table = convergence_table(value_frame(rows), unit_sets(REGIONS), catalog).set_index(["start_year", "end_year"])
    # b on 2014 = a break between 2013 and 2014: every window from before 2014 to 2014 or later loses the unit.
    for start in range(2010, 2014):
        assert table.loc[(start, start + 5), "n_units"] == 7
    assert table.loc[(2014, 2019), "n_units"] == 8  # starts on the new boundary
    assert table.loc[(2010, 2019), "n_units"] == 7


def test_a_bounded_share_has_logit_sd_without_the_units_at_the_bound_and_the_complement_no_dispersion(tmp_path):
    entries = [
        {"indicator_code": "urban_share", "unit": "percent", "dispersion": True, "bounded": True},
        {"indicator_code": "rural_share", "dispersion": True, "bounded": True, "complement_of": "urban_share"},
    ]
    rows = [("urban_share", unit, 2015, share) for unit, share in zip(UNITS, SHARES_END, strict=True)]
    rows += [("rural_share", unit, 2015, 100 - share) for unit, share in zip(UNITS, SHARES_END, strict=True)]
    table = dispersion_table(value_frame(rows), unit_sets(REGIONS), catalog_from(entries, tmp_path))
    assert set(table["indicator_code"]) == {"urban_share"}
    by_measure = table.set_index("measure")
    inside = np.array(SHARES_END[:6])
    logits = np.log(inside / (100 - inside))
    assert by_measure.loc["logit_sd", "value"] == pytest.approx(np.sqrt(((logits - logits.mean()) ** 2).mean()))
    assert (by_measure.loc["logit_sd", "n_units"], by_measure.loc["logit_sd", "n_units_at_bound"]) == (6, 2)
    assert logit_standard_deviation(np.array(SHARES_END)) == (pytest.approx(by_measure.loc["logit_sd", "value"]), 2)
    assert by_measure.loc["cv", "n_units"] == 8  # the raw-scale measures keep every unit
    assert by_measure.loc["cv", "n_units_at_bound"] == 0
