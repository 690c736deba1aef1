"""The reader's bulk staging (once per distinct printed text) gives exactly what the cell-by-cell path gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generate import generate_panel
from pipeline.core.frames import categorical_texts
from pipeline.core.metadata import default_indicator_catalog, load_boundary_changes, load_units, region_name_lookup
from pipeline.ingest.reader.csv_grid import read_grid
from pipeline.ingest.reader.layouts import long_cells, wide_cells
from pipeline.ingest.reader.locate import locate_table
from pipeline.ingest.reader.model import TEXT_COLUMNS
from pipeline.ingest.reader.staging import (
    StagingRules,
    cell_records_in_bulk,
    cell_records_one_by_one,
    plain_number_mask,
)
from pipeline.ingest.sidecar import load_sidecar, sidecar_paths
from tests.support.paths import REPO_ROOT
from tests.support.tables import write_table

TODAY = dt.date(2026, 11, 28)


def cells_and_arguments(sidecar_path: Path, raw_dir: Path, lookup: dict[str, str]) -> tuple:
    """The read cells of one table and its staging rules, as read_source_table builds them."""
    units = load_units()
    sidecar = load_sidecar(sidecar_path, raw_dir)
    file_name = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
    grid = read_grid(sidecar, file_name)
    table = locate_table(grid, sidecar, file_name, units)
    layout = sidecar.layout
    read = wide_cells if layout["kind"] == "wide" else long_cells
    cells = read(table, layout, file_name)
    catalog = default_indicator_catalog()
    return cells, StagingRules.of(sidecar, file_name, lookup, units, TODAY, catalog, load_boundary_changes())


def real_and_fixture_tables() -> list[tuple[Path, Path]]:
    """Every table of raw/ and tests/fixtures/raw, as (sidecar, raw folder)."""
    folders = [REPO_ROOT / "raw", REPO_ROOT / "tests" / "fixtures" / "raw"]
    return [(path, folder) for folder in folders for path in sidecar_paths(folder)]


@pytest.mark.parametrize(("sidecar_path", "raw_dir"), real_and_fixture_tables(), ids=lambda value: Path(value).name)
def test_bulk_records_equal_cell_by_cell_records(sidecar_path, raw_dir):
    """On every real and fixture table, both paths produce the same frame (values, dtypes, order), with no problems."""
    arguments = cells_and_arguments(sidecar_path, raw_dir, region_name_lookup())
    assert_both_paths_agree(arguments)


def test_bulk_records_equal_cell_by_cell_records_on_the_synthetic_panel(tmp_path):
    """The same on a synthetic benchmark table (thousands of cells, several units)."""
    panel = generate_panel(tmp_path / "raw", 0.001)
    lookup = dict(zip(panel.regions["name_zh"], panel.regions["region_code"], strict=True))
    sidecar_path = sidecar_paths(panel.raw_dir)[0]
    arguments = cells_and_arguments(sidecar_path, panel.raw_dir, lookup)
    bulk = cell_records_in_bulk(*arguments)
    one_by_one, problems = cell_records_one_by_one(*arguments)
    assert not problems
    assert len(bulk) == panel.observations == 26 * (30 * 20 - 2 * 8)  # rural disposable income blank before 2013
    pd.testing.assert_frame_equal(normalised(bulk), normalised(one_by_one))


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as stage_cells returns it (the dtypes it casts to, text as categoricals), for comparing the two paths."""
    frame = frame.astype({"year": "int64", "source_row": "int64", "value": "float64", "rounding_radius": "float64"})
    return categorical_texts(frame, TEXT_COLUMNS)


# Made-up cell texts: plain decimals (the vectorised path) mixed with every form the per-cell parser handles
# (grouping, %, footnote markers, full-width digits, Unicode minus, spaces, placeholders) and a few it rejects.
PLAIN_CELLS = st.from_regex(r"-?[0-9]{1,7}(\.[0-9]{1,4})?", fullmatch=True)
OTHER_CELLS = st.sampled_from(
    ["1,234.5", "12,345", "45.1%", "0.50%", "12.3①", "8*", "１２３", "−5", " 17 ", "12 345", "1e3", "+4", "5."]
    + ["—", "…", "……", "x", "", "-", "--"]
    + ["abc", "1.2.3", "12元"]
)
# Printed regions: official names, an alias, a renamed and a merged former district (boundary rules by year).
PRINTED_REGIONS = ["广州市", "荔湾区", "黄埔区", "从化市", "萝岗区", "其中：越秀区"]
LABELS = {
    "农村居民人均可支配收入": ("rural_disposable_income_per_capita", "元"),
    "常住人口城镇化率": ("urbanisation_rate", "%"),
}


@st.composite
def made_up_wide_tables(draw) -> str:
    """A made-up wide CSV (地区, 指标, 单位, a few years around the 2014 boundary change) of mixed cell texts."""
    years = draw(st.lists(st.integers(2011, 2017), min_size=1, max_size=4, unique=True))
    row_count = draw(st.integers(1, 6))
    lines = [",".join(["地区", "指标", "单位", *map(str, years)])]
    for _ in range(row_count):
        region = draw(st.sampled_from(PRINTED_REGIONS))
        label = draw(st.sampled_from(sorted(LABELS)))
        unit = LABELS[label][1]
        cells = [draw(st.one_of(PLAIN_CELLS, PLAIN_CELLS, OTHER_CELLS)) for _ in years]
        lines.append(",".join(f'"{text}"' for text in [region, label, unit, *cells]))
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=made_up_wide_tables())
def test_vectorised_and_cell_by_cell_paths_stage_the_same_rows(content, tmp_path_factory):
    """On made-up tables, the bulk path (vectorised plain numbers + per-text parsing) stages exactly the rows the
    cell-by-cell path stages, or gives up wherever the cell-by-cell path names a problem."""
    raw_dir = tmp_path_factory.mktemp("made_up")
    labels = {label: code for label, (code, _) in LABELS.items()}
    layout = {"kind": "wide", "region_column": "地区", "label_column": "指标", "unit_column": "单位"}
    sidecar_path = write_table(raw_dir, "made_up_mixed", content, layout=layout, labels=labels)
    arguments = cells_and_arguments(sidecar_path, raw_dir, region_name_lookup())
    assert_both_paths_agree(arguments)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", True), ("-3.50", True), ("007", True), ("1,234", False), ("+4", False), ("5.", False), ("１２", False)]
    + [("45%", False), ("12①", False), (" 12", False), ("1e3", False), ("", False), ("1234567890123456", False)],
)
def test_only_plain_decimals_take_the_vectorised_path(text, expected):
    """The vectorised path takes ASCII decimals only; everything else goes through parse_cell."""
    assert bool(plain_number_mask(pd.Series([text], dtype="str"))[0]) is expected


def assert_both_paths_agree(arguments: tuple) -> None:
    """Bulk and cell-by-cell staging give the same frame, or the bulk path gives up where the other names a problem."""
    bulk = cell_records_in_bulk(*arguments)
    one_by_one, problems = cell_records_one_by_one(*arguments)
    if problems:
        assert bulk is None
        return
    assert bulk is not None, "the bulk path gave up on a table without problems"
    pd.testing.assert_frame_equal(normalised(bulk), normalised(one_by_one))
