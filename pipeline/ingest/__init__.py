"""Ingest: raw tables kept as published and their sidecars → tidy staged observations with lineage (no Dagster here)."""
