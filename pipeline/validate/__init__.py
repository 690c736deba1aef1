"""Validate: the pandera models of every table and the formatting of their failures (no Dagster here)."""
