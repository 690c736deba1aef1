"""The reader's grid: Arrow's fast CSV path gives exactly the csv module's grid, or steps aside."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import InputError
from pipeline.ingest.reader.csv_grid import arrow_csv_columns, csv_module_grid
from pipeline.ingest.reader.model import Grid, GridRow, grid_rows, nonblank_cells

# Made-up CSV texts: mostly plain cells in rectangular rows, mixed with what matters to CSV parsing: quotes, a bare
# CR, NUL, a byte order mark, other delimiters, blank and whitespace-only lines, ragged rows, both line ends.
PLAIN_CELLS = st.sampled_from(["a", "12.5", "地区", "注：x", " ", "\u3000", ""])
TRICKY_CELLS = st.sampled_from(
    ['"', '"a,b"', '""', "\r", "\x00", "\ufeff", ";", "\t", "a\nb", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]
)
# Whitespace by str.strip() (ASCII and not), and text that is not.
SPACE_OR_TEXT = st.text(alphabet=[" ", "\t", "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "a", "-", "中"])


@st.composite
def made_up_csv_texts(draw) -> str:
    """A made-up CSV text: plain and rectangular, or (half the time) with tricky cells, ragged rows and mixed line ends."""
    width = draw(st.integers(1, 4))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    tricky = draw(st.booleans())
    cell_texts = st.one_of(PLAIN_CELLS, TRICKY_CELLS) if tricky else PLAIN_CELLS
    widths = st.sampled_from([width, width, 0, width + 1]) if tricky else st.just(width)
    endings = st.sampled_from([ending, "\n", "\r\n"]) if tricky else st.just(ending)
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        cells = [draw(cell_texts) for _ in range(draw(widths))]
        lines.append(",".join(cells) + draw(endings))
    text = "".join(lines)
    return text if draw(st.booleans()) else text.rstrip("\r\n")


def csv_module_rows(text: str, delimiter: str) -> list[GridRow] | None:
    """The rows the csv module reads (row numbers as read_csv_grid counts them), None when it rejects the text."""
    try:
        grid = csv_module_grid(text, delimiter, "made_up.csv")
    except InputError:
        return None
    return grid_rows(grid, np.arange(len(grid.numbers)))


def fast_rows(columns: list) -> list[GridRow]:
    """The rows of the fast path's columns, numbered from 1 as read_csv_grid numbers them."""
    count = len(columns[0])
    grid = Grid(columns, np.arange(1, count + 1), np.full(count, len(columns)))
    return grid_rows(grid, np.arange(count))


@settings(max_examples=500, deadline=None)
@given(text=made_up_csv_texts(), delimiter=st.sampled_from([",", ",", ";"]))
def test_arrow_columns_are_the_csv_module_grid_or_none(text, delimiter):
    """Wherever the fast path answers, the csv module accepts the text and reads the same rows, cells and numbers."""
    columns = arrow_csv_columns(text, delimiter)
    if columns is not None:
        assert fast_rows(columns) == csv_module_rows(text, delimiter)


@pytest.mark.parametrize(
    "text",
    ["地区,2023\n广州,1.5\n", "地区,2023\r\n广州,1.5\r\n", "地区;2023\n广州;", "a\n b\n\u3000\n"],
)
def test_plain_csv_texts_take_the_fast_path(text):
    """Unquoted, rectangular texts without blank lines are read by Arrow, with the csv module's grid."""
    delimiter = ";" if ";" in text else ","
    columns = arrow_csv_columns(text, delimiter)
    assert columns is not None
    assert fast_rows(columns) == csv_module_rows(text, delimiter)


@pytest.mark.parametrize(
    "text",
    [
        '地区,"2023"\n广州,1.5\n',  # quotes: the csv module's rules
        "地区,2023\n\n广州,1.5\n",  # a blank line: the csv module keeps it as a row of no cells
        "地区,2023\n广州,1.5,\n",  # a ragged row
        "地区,2023\r广州,1.5\r",  # bare carriage returns
        "\ufeff地区,2023\n广州,1.5\n",  # a byte order mark left in the text
        "地区,2023\n广州,1\x005\n",  # NUL
    ],
)
def test_other_csv_texts_go_through_the_csv_module(text):
    """Texts where Arrow and the csv module could differ are left to the csv module."""
    assert arrow_csv_columns(text, ",") is None


@given(texts=st.lists(SPACE_OR_TEXT, min_size=1, max_size=20))
def test_nonblank_cells_agree_with_str_strip(texts):
    """A cell is blank exactly when str.strip() leaves nothing of it (Unicode whitespace included)."""
    found = nonblank_cells(pa.array(texts, type=pa.string()))
    assert found.tolist() == [bool(text.strip()) for text in texts]
