"""The reader's data model: the grid of cells, the located table, the staged columns and the size limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.frames import spread_texts

FIRST_YEAR = 1949
STAGED_COLUMNS = [
    "source_id",
    "source_file",
    "source_row",
    "source_column",
    "printed_label",
    "region_code",
    "year",
    "indicator_code",
    "value",
    "unit",
    "status",
    "rounding_radius",
]
# Text columns of the staged tables, held as categoricals (codes + sorted distinct texts) while in memory; the
# published types stay text (the warehouse and the release decode them).
TEXT_COLUMNS = [
    "source_id",
    "source_file",
    "source_column",
    "printed_label",
    "region_code",
    "indicator_code",
    "unit",
    "status",
]
STAGED_DTYPES = {
    **dict.fromkeys(TEXT_COLUMNS, "str"),
    "source_row": "int64",
    "year": "int64",
    "value": "float64",
    "rounding_radius": "float64",
}
# Size limits (besides MAX_FILE_BYTES, 20 MiB, checked on the file before it is hashed): rows and columns
# of the grid read, and the uncompressed size of an XLSX (a zip archive; this stops zip bombs).
MAX_ROWS = 100_000
MAX_COLUMNS = 1_000
MAX_XLSX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
# One worksheet's XML, uncompressed: openpyxl holds every cell of every sheet in memory (about 20 times the XML),
# so a huge sheet inside a small workbook is refused before the workbook is opened.
MAX_XLSX_SHEET_BYTES = 20 * 1024 * 1024
LAYOUT_COLUMN_ROLES = ("label_column", "region_column", "year_column", "value_column", "unit_column")
logger = logging.getLogger("pipeline.ingest.reader")


@dataclass(frozen=True)
class GridRow:
    """One row of the raw table as printed: its row number in the file or sheet and its cells as text."""

    number: int
    cells: list[str]


@dataclass
class Grid:
    """The raw table as columns of text (one Arrow array per column, '' where a row is short), with each row's
    number in the file or sheet and its count of cells, and the number of its first column (1 = A)."""

    columns: list[pa.Array]
    numbers: np.ndarray
    lengths: np.ndarray
    first_column: int = 1
    encoding: str | None = None


@dataclass
class Table:
    """A located table: header names per column, the data rows (a Grid) and the roles of the named columns."""

    names: list[str]
    header_parts: list[list[str]]
    header_row: int
    data: Grid
    roles: dict[str, int] = field(default_factory=dict)
    first_column: int = 1


def grid_of_rows(rows: list[GridRow], first_column: int = 1, encoding: str | None = None) -> Grid:
    """Rows of text as a Grid: one text array per column, '' where a row is short."""
    width = max((len(row.cells) for row in rows), default=0)
    columns = [
        pa.array([row.cells[column] if column < len(row.cells) else "" for row in rows], type=pa.string())
        for column in range(width)
    ]
    numbers = np.array([row.number for row in rows], dtype="int64")
    lengths = np.array([len(row.cells) for row in rows], dtype="int64")
    return Grid(columns, numbers, lengths, first_column, encoding)


def grid_rows(grid: Grid, positions: np.ndarray) -> list[GridRow]:
    """The grid's rows at these positions, each with its cells as read (short rows stay short)."""
    positions = np.asarray(positions, dtype="int64")
    if not len(positions):
        return []
    index = pa.array(positions)
    texts = [column.take(index).to_pylist() for column in grid.columns]
    return [
        GridRow(int(grid.numbers[position]), [texts[column][place] for column in range(int(grid.lengths[position]))])
        for place, position in enumerate(positions)
    ]


def grid_part(grid: Grid, positions: np.ndarray) -> Grid:
    """The grid's rows at these positions (a slice where they are consecutive) as a Grid of their own."""
    positions = np.asarray(positions, dtype="int64")
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        columns = [column.slice(int(positions[0]), len(positions)) for column in grid.columns]
    else:
        index = pa.array(positions, type=pa.int64())
        columns = [column.take(index) for column in grid.columns]
    return Grid(columns, grid.numbers[positions], grid.lengths[positions], grid.first_column, grid.encoding)


def nonblank_cells(column: pa.Array) -> np.ndarray:
    """True for cells with text besides whitespace (what str.strip() leaves non-empty), per cell of a column.

    A printable ASCII character other than space settles it in one vectorised pass; the other cells are checked
    with str.strip() once per distinct text.
    """
    found = pc.fill_null(pc.match_substring_regex(column, "[!-~]"), False).to_numpy(zero_copy_only=False).copy()
    rest = np.flatnonzero(~found)
    if len(rest):
        found[rest] = per_distinct_text(column.take(pa.array(rest)), lambda text: bool(text.strip()), bool)
    return found


def per_distinct_text(texts: pa.Array, function, dtype) -> np.ndarray:
    """function applied once per distinct text of an Arrow text array, spread back to every cell."""
    encoded = pc.dictionary_encode(texts)
    results = np.array([function(text) for text in encoded.dictionary.to_pylist()], dtype=dtype)
    return results[encoded.indices.to_numpy(zero_copy_only=False)]


def spread_column(texts: pa.Array, positions: np.ndarray) -> pd.Categorical:
    """texts[position] for every position, as a categorical over the sorted distinct texts used (see spread_texts)."""
    encoded = pc.dictionary_encode(texts)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int64")
    return spread_texts(encoded.dictionary.to_pylist(), codes[positions])


def check_grid_size(rows: int, columns: int, file_name: str) -> None:
    """Raise when a table has more rows or columns than the stated limits."""
    if rows > MAX_ROWS or columns > MAX_COLUMNS:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "table_size",
                    f"the table reaches {rows:,} rows and {columns:,} columns",
                    expected=f"at most {MAX_ROWS:,} rows and {MAX_COLUMNS:,} columns",
                )
            ]
        )
