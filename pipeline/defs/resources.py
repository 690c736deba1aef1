"""The Dagster resource that knows where things live: raw tables, the warehouse and the releases."""

from __future__ import annotations

import os
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


# Where asset outputs are handed from step to step: a folder or fsspec URL every worker reaches (default: the
# Dagster instance's storage folder, DAGSTER_HOME/storage).
IO_DIR_VARIABLE = "PIPELINE_IO_DIR"


def default_io_dir() -> str | None:
    """The I/O manager's base folder or URL from PIPELINE_IO_DIR, or None for the instance's storage folder."""
    return os.environ.get(IO_DIR_VARIABLE) or None


def columnar_io_manager(io_dir: str | None = None):
    """The I/O manager every asset uses: DataFrames as Parquet, other values pickled (pipeline.defs.storage)."""
    from pipeline.defs.storage import ColumnarIOManager

    return ColumnarIOManager(base_dir=io_dir)
