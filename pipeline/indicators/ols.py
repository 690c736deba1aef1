"""Simple OLS slopes with statsmodels' inference, for many small fits at once.

`sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()` builds a model, a results object and their caches for each
fit: at village scale (hundreds of thousands of β and σ fits) that overhead is most of the convergence step. Here
each fit does the same numerical operations as statsmodels' `pinv` method, in the same order and on arrays of the
same shapes and layouts (so the figures are the same to the last bit; tests/unit/indicators/test_ols.py compares
them with statsmodels), and the t distribution's p-values and quantiles are taken for all fits in one call. The SVD
and the matrix products are taken once per number of points for all fits of that size, as stacks (numpy's stacked
SVD and matmul call LAPACK and BLAS on each matrix as on a single one): no Python work per fit.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats
from statsmodels.tools.tools import pinv_extended

# The rank of the design matrix is decided exactly as statsmodels does (np.linalg.matrix_rank of the singular
# values) unless the smaller singular value is this far above the rank's tolerance (~4e-16 × the larger one).
CLEARLY_FULL_RANK = 1e-10
# statsmodels' pinv_extended: singular values below this × the largest count as zero.
PINV_RCOND = 1e-15
# Fits of one size are stacked at most this many points at a time (each matrix is solved alone either way, so the
# figures are the same): a stack of all fits held several times the points' memory at once (issue 17).
POINTS_PER_STACK = 1 << 20


def slope_inference(fits: Iterable[tuple[np.ndarray, np.ndarray]], alpha: float) -> dict[str, np.ndarray]:
    """For each (x, y): slope, intercept, the slope's standard error, t, two-sided p and (1 − alpha) interval,
    as statsmodels' OLS of y on [1, x] gives them (params[1], params[0], bse[1], tvalues[1], pvalues[1], conf_int)."""
    pairs = [(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")) for x, y in fits]
    sizes = np.array([len(x) for x, _ in pairs], dtype="int64")
    if not pairs:
        return run_slope_inference(np.zeros(0), np.zeros(0), sizes, alpha)
    return run_slope_inference(
        np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs]), sizes, alpha
    )


def run_slope_inference(x: np.ndarray, y: np.ndarray, sizes: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """slope_inference of fits lying one after the other in x and y, `sizes` points each (no list of arrays)."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    starts = np.cumsum(sizes) - sizes
    slope, intercept, error, df = (np.empty(len(sizes)) for _ in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        for size in np.unique(sizes).tolist():
            same_size = np.flatnonzero(sizes == size)
            per_stack = max(1, POINTS_PER_STACK // max(size, 1))
            for first in range(0, len(same_size), per_stack):
                members = same_size[first : first + per_stack]
                positions = starts[members][:, np.newaxis] + np.arange(size)
                params, error[members], df[members] = same_size_fits(x[positions], y[positions])
                slope[members], intercept[members] = params[:, 1], params[:, 0]
        t_value = slope / error
        p_value = stats.t.sf(np.abs(t_value), df) * 2 if len(df) else np.array([])
        quantile = stats.t.ppf(1 - alpha / 2, df) if len(df) else np.array([])
        return {
            "slope": slope,
            "intercept": intercept,
            "standard_error": error,
            "t_value": t_value,
            "p_value": p_value,
            "ci_low": slope - quantile * error,
            "ci_high": slope + quantile * error,
        }


def same_size_fits(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ols_core of fits with the same number of points (the rows of x and y): params, bse[1] and df per fit.

    One stacked SVD and stacked products for all: numpy runs LAPACK and BLAS on each matrix of a stack as on a
    single one (the same routines, arguments and memory layouts as ols_core's np.dot), so the figures are the same.
    """
    count, size = x.shape
    if size < 2:  # fewer points than parameters: statsmodels' path as it is
        params, errors, df = np.empty((count, 2)), np.empty(count), np.empty(count)
        for position in range(count):
            params[position], standard_errors, df[position] = ols_core(x[position], y[position])
            errors[position] = standard_errors[1]
        return params, errors, df
    exogs = np.empty((count, size, 2))
    exogs[:, :, 0] = 1.0
    exogs[:, :, 1] = x
    u, singular_values, vt = np.linalg.svd(exogs, full_matrices=False)
    cutoff = PINV_RCOND * np.maximum.reduce(singular_values, axis=1)
    inverse = np.where(singular_values > cutoff[:, np.newaxis], 1.0 / singular_values, 0.0)
    # Per fit as pinv_extended: vt.T · (inverse[:, None] × u.T), each a transposed view as there.
    pinv_wexog = np.matmul(vt.transpose(0, 2, 1), np.multiply(inverse[:, :, np.newaxis], u.transpose(0, 2, 1)))
    normalized_cov_params = np.matmul(pinv_wexog, pinv_wexog.transpose(0, 2, 1))
    rank = np.full(count, 2)
    deficient = singular_values.min(axis=1) <= singular_values.max(axis=1) * CLEARLY_FULL_RANK
    for fit in np.flatnonzero(deficient).tolist():  # as statsmodels decides the rank
        rank[fit] = int(np.linalg.matrix_rank(np.diag(singular_values[fit])))
    params = np.matmul(pinv_wexog, y[:, :, np.newaxis])[:, :, 0]
    df_resid = float(size) - rank
    wresid = y - np.matmul(exogs, params[:, :, np.newaxis])[:, :, 0]
    scale = np.matmul(wresid[:, np.newaxis, :], wresid[:, :, np.newaxis])[:, 0, 0] / df_resid
    return params, np.sqrt(normalized_cov_params[:, 1, 1] * scale), df_resid


def ols_core(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """statsmodels OLS(y, add_constant(x)).fit(method='pinv'): params, bse and df_resid, by the same operations."""
    exog = np.column_stack([np.ones(x.shape[0]), x])
    pinv_wexog, singular_values = pinv_extended(exog)
    normalized_cov_params = np.dot(pinv_wexog, np.transpose(pinv_wexog))
    if singular_values.min() > singular_values.max() * CLEARLY_FULL_RANK:
        rank = exog.shape[1]
    else:
        rank = int(np.linalg.matrix_rank(np.diag(singular_values)))
    params = np.dot(pinv_wexog, y)
    df_resid = float(exog.shape[0]) - rank
    wresid = y - np.dot(exog, params)
    scale = np.dot(wresid, wresid) / df_resid
    return params, np.sqrt(np.diag(normalized_cov_params * scale)), df_resid
