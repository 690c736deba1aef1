"""Rows read by value from a Parquet file: the same table as pyarrow's `in` filters, fewer row groups read.

The tables here are made up for the test.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.reading import may_hold, read_rows_where_in


def stored_file(row_group_size: int = 3) -> io.BytesIO:
    """A made-up table sorted by code, with a categorical (dictionary) and a plain text column, in small row groups."""
    frame = pd.DataFrame(
        {
            "code": pd.Categorical(["a", "a", "a", "b", "b", "c", "c", "c", "d", "e"], categories=list("edcba")),
            "region": ["r1", "r2", "r3", "r1", "r2", "r1", "r2", "r3", "r1", "r2"],
            "year": [2020, 2021, 2022, 2020, 2021, 2020, 2021, 2022, 2020, 2021],
            "value": [1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=row_group_size)
    return buffer


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        (None, {"code": ["b"]}),
        (["code", "value"], {"code": ["a", "d"]}),
        (["value"], {"code": ["c"], "region": ["r2", "r3"]}),
        (None, {"region": ["r3"], "year": [2022]}),
        (None, {"code": ["z"]}),
        (["year"], {"code": []}),
        (["value", "code"], {}),
    ],
)
def test_the_rows_are_those_of_pyarrows_in_filters(columns, rows):
    """Columns, rows, order, types and schema metadata as pq.read_table with the same `in` filters."""
    buffer = stored_file()
    got = read_rows_where_in(buffer, columns, rows)
    buffer.seek(0)
    if any(not values for values in rows.values()):
        expected = pq.read_table(buffer, columns=columns).slice(0, 0)
    else:
        filters = [(column, "in", values) for column, values in rows.items()] or None
        expected = pq.read_table(buffer, columns=columns, filters=filters)
    assert got.equals(expected, check_metadata=True)
    assert got.schema.equals(expected.schema, check_metadata=True)


def test_row_groups_whose_statistics_rule_the_values_out_are_skipped():
    """Of four row groups sorted by code, only the one whose min–max range holds `b` may hold it."""
    metadata = pq.ParquetFile(stored_file()).metadata
    code = metadata.schema.names.index("code")
    held = [may_hold(metadata.row_group(group).column(code), ["b"]) for group in range(metadata.num_row_groups)]
    assert held == [False, True, False, False]
    assert [may_hold(metadata.row_group(group).column(code), ["a", "e"]) for group in range(4)] == [
        True,
        False,
        False,
        True,
    ]
