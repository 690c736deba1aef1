"""Publish: the warehouse and the release, written, audited and published together (no Dagster here)."""
