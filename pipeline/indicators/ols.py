"""Simple OLS slopes with statsmodels' inference, for many small fits at once.

`sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()` builds a model, a results object and their caches for each
fit: at village scale (hundreds of thousands of β and σ fits) that overhead is most of the convergence step. Here
each fit does the same numerical operations as statsmodels' `pinv` method, in the same order and on arrays of the
same shapes and layouts (so the figures are the same to the last bit; tests/unit/indicators/test_ols.py compares
them with statsmodels), and the t distribution's p-values and quantiles are taken for all fits in one call.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats
from statsmodels.tools.tools import pinv_extended

# The rank of the design matrix is decided exactly as statsmodels does (np.linalg.matrix_rank of the singular
# values) unless the smaller singular value is this far above the rank's tolerance (~4e-16 × the larger one).
CLEARLY_FULL_RANK = 1e-10


def slope_inference(fits: Iterable[tuple[np.ndarray, np.ndarray]], alpha: float) -> dict[str, np.ndarray]:
    """For each (x, y): slope, intercept, the slope's standard error, t, two-sided p and (1 − alpha) interval,
    as statsmodels' OLS of y on [1, x] gives them (params[1], params[0], bse[1], tvalues[1], pvalues[1], conf_int)."""
    slopes, intercepts, errors, t_values, residual_dfs = [], [], [], [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for x, y in fits:
            params, standard_errors, df_resid = ols_core(np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"))
            slopes.append(params[1])
            intercepts.append(params[0])
            errors.append(standard_errors[1])
            t_values.append(params[1] / standard_errors[1])
            residual_dfs.append(df_resid)
        slope, error, t_value = np.array(slopes), np.array(errors), np.array(t_values)
        df = np.array(residual_dfs, dtype="float64")
        p_value = stats.t.sf(np.abs(t_value), df) * 2 if len(df) else np.array([])
        quantile = stats.t.ppf(1 - alpha / 2, df) if len(df) else np.array([])
        return {
            "slope": slope,
            "intercept": np.array(intercepts),
            "standard_error": error,
            "t_value": t_value,
            "p_value": p_value,
            "ci_low": slope - quantile * error,
            "ci_high": slope + quantile * error,
        }


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
