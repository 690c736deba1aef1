"""The Dagster resource that knows where things live: raw tables, the warehouse and the releases."""

from __future__ import annotations

from dataclasses import asdict

import dagster as dg

from pipeline.core.paths import (
    DEFAULT_RAW_DIR,
    DEFAULT_WAREHOUSE_DIR,
    PACKAGE_METADATA_DIR,
    FolderProperties,
    folders_from_environment,
)


class ProjectPaths(dg.ConfigurableResource, FolderProperties):
    """Folders of the raw tables, the warehouse outputs and the region metadata; tests point them at tmp_path."""

    raw_dir: str = str(DEFAULT_RAW_DIR)
    warehouse_dir: str = str(DEFAULT_WAREHOUSE_DIR)
    # The metadata folder the ingest assets read (regions.csv, region_aliases.csv, boundary_changes.csv, units.csv,
    # indicators.yaml): pipeline/metadata, or a copy with another region table (the benchmark's synthetic villages).
    metadata_dir: str = str(PACKAGE_METADATA_DIR)


def default_project_paths() -> ProjectPaths:
    """Paths from PIPELINE_RAW_DIR / PIPELINE_WAREHOUSE_DIR / PIPELINE_METADATA_DIR when set, else the repository's."""
    return ProjectPaths(**asdict(folders_from_environment()))
