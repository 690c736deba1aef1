"""Indicators: derived and preferred values, aggregates, dispersion, convergence and target progress (no Dagster here)."""
