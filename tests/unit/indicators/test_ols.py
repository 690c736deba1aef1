"""The batched OLS inference gives statsmodels' figures to the last bit, on MADE-UP random fits (not statistics)."""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm

from pipeline.indicators.ols import ols_core, run_slope_inference, same_size_fits, slope_inference

KEYS = ["slope", "intercept", "standard_error", "t_value", "p_value", "ci_low", "ci_high"]


def made_up_fits(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random fits of 2–40 points over many magnitudes, with constant x, perfect fits and year offsets among them."""
    rng = np.random.default_rng(17)
    fits = []
    for position in range(count):
        n = int(rng.integers(2, 40))
        x = rng.normal(size=n) * 10 ** rng.uniform(-3, 3) + rng.normal() * 10 ** rng.uniform(-2, 4)
        y = rng.normal(size=n) * 10 ** rng.uniform(-4, 1) + rng.uniform(-1, 1) * x
        if position % 20 == 0:
            x = np.full(n, 3.0)  # rank-deficient design
        if position % 23 == 0:
            y = 2 * x + 1  # no residual
        if position % 29 == 0:
            x = np.arange(n, dtype="float64")  # year offsets, as the σ trends use
        fits.append((x, y))
    return fits


def statsmodels_figures(x: np.ndarray, y: np.ndarray) -> list[float]:
    """The same figures from statsmodels' OLS results."""
    fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    low, high = fit.conf_int(alpha=0.05)[1]
    return [fit.params[1], fit.params[0], fit.bse[1], fit.tvalues[1], fit.pvalues[1], low, high]


def test_every_figure_equals_statsmodels_exactly():
    fits = made_up_fits(600)
    got = slope_inference(fits, 0.05)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = np.array([statsmodels_figures(x, y) for x, y in fits])
    for column, key in enumerate(KEYS):
        ours, theirs = got[key], expected[:, column]
        assert ((ours == theirs) | (np.isnan(ours) & np.isnan(theirs))).all(), key


def test_no_fits_give_empty_columns():
    assert all(len(column) == 0 for column in slope_inference([], 0.05).values())


def test_fits_laid_one_after_the_other_give_the_same_figures_as_a_list():
    fits = made_up_fits(200)
    listed = slope_inference(fits, 0.05)
    sizes = np.array([len(x) for x, _ in fits])
    flat = run_slope_inference(np.concatenate([x for x, _ in fits]), np.concatenate([y for _, y in fits]), sizes, 0.05)
    for key in KEYS:
        assert ((listed[key] == flat[key]) | (np.isnan(listed[key]) & np.isnan(flat[key]))).all(), key


def test_stacked_fits_equal_each_fit_alone_exactly():
    # MADE UP: 300 fits of 7 points each, a few with constant x (rank 1).
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 7)) * 10 ** rng.uniform(-2, 3, size=(300, 1))
    y = rng.normal(size=(300, 7)) + 0.3 * x
    x[::50] = 2.0
    params, errors, df = same_size_fits(x, y)
    with np.errstate(all="ignore"):
        alone = [ols_core(x[position], y[position]) for position in range(len(x))]
    assert (params == np.array([fit[0] for fit in alone])).all()
    expected_errors = np.array([fit[1][1] for fit in alone])
    assert ((errors == expected_errors) | (np.isnan(errors) & np.isnan(expected_errors))).all()
    assert (df == np.array([fit[2] for fit in alone])).all()
    assert (df[::50] == 6).all()


def test_fits_stacked_a_few_points_at_a_time_give_the_same_figures(monkeypatch):
    """Stacks of at most 50 points (one fit alone when it has more): the figures of all fits stacked at once."""
    import pipeline.indicators.ols as ols

    fits = made_up_fits(300)
    sizes = np.array([len(x) for x, _ in fits])
    x, y = np.concatenate([x for x, _ in fits]), np.concatenate([y for _, y in fits])
    whole = run_slope_inference(x, y, sizes, 0.05)
    monkeypatch.setattr(ols, "POINTS_PER_STACK", 50)
    stacked = run_slope_inference(x, y, sizes, 0.05)
    for key in KEYS:
        assert ((whole[key] == stacked[key]) | (np.isnan(whole[key]) & np.isnan(stacked[key]))).all(), key
