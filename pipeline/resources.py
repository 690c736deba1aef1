"""The one resource that knows where things live: raw tables, the warehouse and the releases."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_METADATA_DIR = Path(__file__).resolve().parent / "metadata"
WAREHOUSE_FILE_NAME = "indicators.duckdb"


class ProjectPaths(dg.ConfigurableResource):
    """Folders of the raw tables, the warehouse outputs and the region metadata; tests point them at tmp_path."""

    raw_dir: str = str(PROJECT_ROOT / "raw")
    warehouse_dir: str = str(PROJECT_ROOT / "warehouse")
    # The metadata folder the ingest assets read (regions.csv, region_aliases.csv, boundary_changes.csv, units.csv,
    # indicators.yaml): pipeline/metadata, or a copy with another region table (the benchmark's synthetic villages).
    metadata_dir: str = str(PACKAGE_METADATA_DIR)

    @property
    def raw_path(self) -> Path:
        """The raw tables' folder."""
        return Path(self.raw_dir)

    @property
    def metadata_path(self) -> Path:
        """The metadata folder the ingest assets read."""
        return Path(self.metadata_dir)

    @property
    def warehouse_path(self) -> Path:
        """The folder holding the warehouse file and the releases."""
        return Path(self.warehouse_dir)

    @property
    def warehouse_file(self) -> Path:
        """The live DuckDB warehouse that analysts open read-only."""
        return self.warehouse_path / WAREHOUSE_FILE_NAME

    @property
    def releases_path(self) -> Path:
        """The folder of versioned releases."""
        return self.warehouse_path / "releases"


def default_project_paths() -> ProjectPaths:
    """Paths from PIPELINE_RAW_DIR / PIPELINE_WAREHOUSE_DIR / PIPELINE_METADATA_DIR when set, else the repository's."""
    return ProjectPaths(
        raw_dir=os.environ.get("PIPELINE_RAW_DIR", str(PROJECT_ROOT / "raw")),
        warehouse_dir=os.environ.get("PIPELINE_WAREHOUSE_DIR", str(PROJECT_ROOT / "warehouse")),
        metadata_dir=os.environ.get("PIPELINE_METADATA_DIR", str(PACKAGE_METADATA_DIR)),
    )
