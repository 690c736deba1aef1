"""The reader's bulk staging (once per distinct printed text) gives exactly what the cell-by-cell path gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from bench.generate import generate_panel
from pipeline import reader
from pipeline.metadata import load_units, region_name_lookup
from pipeline.sidecar import load_sidecar, sidecar_paths

REPO_ROOT = Path(__file__).parent.parent
TODAY = dt.date(2026, 11, 28)


def cells_and_arguments(sidecar_path: Path, raw_dir: Path, lookup: dict[str, str]) -> tuple:
    """The read cells of one table and the remaining arguments of stage_cells, as read_source_table builds them."""
    units = load_units()
    sidecar = load_sidecar(sidecar_path, raw_dir)
    file_name = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
    grid = reader.read_grid(sidecar, file_name)
    table = reader.locate_table(grid, sidecar, file_name, units)
    layout = sidecar.layout
    read = reader.wide_cells if layout["kind"] == "wide" else reader.long_cells
    cells = read(table, layout, file_name)
    catalog = reader.default_indicator_catalog()
    return cells, sidecar, file_name, lookup, units, TODAY, catalog, reader.load_boundary_changes()


def real_and_fixture_tables() -> list[tuple[Path, Path]]:
    """Every table of raw/ and tests/fixtures/raw, as (sidecar, raw folder)."""
    folders = [REPO_ROOT / "raw", REPO_ROOT / "tests" / "fixtures" / "raw"]
    return [(path, folder) for folder in folders for path in sidecar_paths(folder)]


@pytest.mark.parametrize(("sidecar_path", "raw_dir"), real_and_fixture_tables(), ids=lambda value: Path(value).name)
def test_bulk_records_equal_cell_by_cell_records(sidecar_path, raw_dir):
    """On every real and fixture table, both paths produce the same frame (values, dtypes, order), with no problems."""
    arguments = cells_and_arguments(sidecar_path, raw_dir, region_name_lookup())
    bulk = reader.cell_records_in_bulk(*arguments)
    one_by_one, problems = reader.cell_records_one_by_one(*arguments)
    if problems:
        assert bulk is None
        return
    assert bulk is not None, "the bulk path gave up on a table without problems"
    pd.testing.assert_frame_equal(normalised(bulk), normalised(one_by_one))


def test_bulk_records_equal_cell_by_cell_records_on_the_synthetic_panel(tmp_path):
    """The same on a synthetic benchmark table (thousands of cells, several units)."""
    panel = generate_panel(tmp_path / "raw", 0.001)
    lookup = dict(zip(panel.regions["name_zh"], panel.regions["region_code"], strict=True))
    sidecar_path = sidecar_paths(panel.raw_dir)[0]
    arguments = cells_and_arguments(sidecar_path, panel.raw_dir, lookup)
    bulk = reader.cell_records_in_bulk(*arguments)
    one_by_one, problems = reader.cell_records_one_by_one(*arguments)
    assert not problems
    assert len(bulk) == 26 * 30 * 20
    pd.testing.assert_frame_equal(normalised(bulk), normalised(one_by_one))


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as stage_cells returns it (the dtypes it casts to), for comparing the two paths."""
    return frame.astype({"year": "int64", "source_row": "int64", "value": "float64", "rounding_radius": "float64"})
