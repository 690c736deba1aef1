"""Where things live: the repository, the package's metadata folder, and the folders a run reads and writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_DIR.parent
PACKAGE_METADATA_DIR = PACKAGE_DIR / "metadata"
WAREHOUSE_FILE_NAME = "indicators.duckdb"
DEFAULT_RAW_DIR = PROJECT_ROOT / "raw"
DEFAULT_WAREHOUSE_DIR = PROJECT_ROOT / "warehouse"


class FolderProperties:
    """The paths derived from three folder names (`raw_dir`, `warehouse_dir`, `metadata_dir`)."""

    raw_dir: str
    warehouse_dir: str
    metadata_dir: str

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


@dataclass(frozen=True)
class ProjectFolders(FolderProperties):
    """Folders of the raw tables, the warehouse outputs and the metadata, for code that runs without Dagster."""

    raw_dir: str = str(DEFAULT_RAW_DIR)
    warehouse_dir: str = str(DEFAULT_WAREHOUSE_DIR)
    # pipeline/metadata, or a copy with another region table (the benchmark's synthetic villages).
    metadata_dir: str = str(PACKAGE_METADATA_DIR)


def folders_from_environment() -> ProjectFolders:
    """Folders from PIPELINE_RAW_DIR / PIPELINE_WAREHOUSE_DIR / PIPELINE_METADATA_DIR when set, else the repository's."""
    return ProjectFolders(
        raw_dir=os.environ.get("PIPELINE_RAW_DIR", str(DEFAULT_RAW_DIR)),
        warehouse_dir=os.environ.get("PIPELINE_WAREHOUSE_DIR", str(DEFAULT_WAREHOUSE_DIR)),
        metadata_dir=os.environ.get("PIPELINE_METADATA_DIR", str(PACKAGE_METADATA_DIR)),
    )
