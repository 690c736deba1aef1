"""The generic reader: one raw table and its sidecar → tidy staged observations with file, row and column."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from pipeline.core.frames import categorical_texts, stacked_frames
from pipeline.core.metadata import BoundaryChange, default_indicator_catalog, load_boundary_changes
from pipeline.ingest.reader.csv_grid import read_grid
from pipeline.ingest.reader.layouts import long_cells, wide_cells
from pipeline.ingest.reader.locate import locate_table
from pipeline.ingest.reader.model import STAGED_COLUMNS, STAGED_DTYPES, TEXT_COLUMNS
from pipeline.ingest.reader.rules import check_sidecar_against_metadata
from pipeline.ingest.reader.staging import StagingRules, stage_cells
from pipeline.ingest.sidecar import Sidecar

__all__ = ["STAGED_COLUMNS", "STAGED_DTYPES", "TEXT_COLUMNS", "combined_staged_tables", "read_source_table"]


def read_source_table(
    sidecar: Sidecar,
    raw_dir: Path,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date | None = None,
    *,
    indicator_catalog: pd.DataFrame | None = None,
    boundary_changes: list[BoundaryChange] | None = None,
) -> pd.DataFrame:
    """Read one raw table as its sidecar describes it; raise InputError listing every problem found."""
    file_name = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
    catalog = default_indicator_catalog() if indicator_catalog is None else indicator_catalog
    changes = load_boundary_changes() if boundary_changes is None else boundary_changes
    check_sidecar_against_metadata(sidecar, units, catalog)
    grid = read_grid(sidecar, file_name)
    table = locate_table(grid, sidecar, file_name, units)
    layout = sidecar.layout
    cells = wide_cells(table, layout, file_name) if layout["kind"] == "wide" else long_cells(table, layout, file_name)
    rules = StagingRules.of(sidecar, file_name, region_lookup, units, today or dt.date.today(), catalog, changes)
    if "unit_column" in table.roles:
        rules = dataclasses.replace(rules, unit_column_number=table.first_column + table.roles["unit_column"])
    return stage_cells(cells, rules)


def combined_staged_tables(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Staged tables stacked in order, text columns categorical (one union of sorted categories), fresh index."""
    frames = [frame[STAGED_COLUMNS] for frame in frames if not frame.empty]
    if not frames:
        empty = pd.DataFrame({column: pd.Series([], dtype=STAGED_DTYPES[column]) for column in STAGED_COLUMNS})
        return categorical_texts(empty, TEXT_COLUMNS)
    return stacked_frames([categorical_texts(frame, TEXT_COLUMNS) for frame in frames])
