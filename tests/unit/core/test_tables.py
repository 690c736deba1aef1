"""A stored table streamed (ParquetSource) gives what the whole frame gives: slices, columns, release file, hash.

Every frame here is made up (short codes and numbers); nothing is read from raw/. The stored files have row groups
of a few rows, so that a stream crosses several of them.
"""

from __future__ import annotations

import functools

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.tables import ParquetSource, even_slices, table_source
from pipeline.defs.storage import parquet_frame, parquet_table
from pipeline.publish import warehouse
from pipeline.publish.release import write
from pipeline.publish.release.changes import ReleasedTable, compare_table, largest_value_changes


def made_up_table(rows: int = 11) -> pd.DataFrame:
    """A made-up table of every kind of column the published tables have: text, categorical, numbers, flags."""
    return pd.DataFrame(
        {
            "region_code": pd.array([f"r{row % 4}" for row in range(rows)], dtype="str"),
            "indicator_code": pd.Categorical(
                [["b", "a", "c"][row % 3] for row in range(rows)], categories=["c", "z", "b", "a"]
            ),
            "year": [2000 + row for row in range(rows)],
            "value": [float(row) if row % 5 else None for row in range(rows)],
            "count": pd.array([row if row % 3 else None for row in range(rows)], dtype="Int64"),
            "flag": [row % 2 == 0 for row in range(rows)],
        }
    )


def stored(frame: pd.DataFrame, path, row_group_rows: int = 3) -> ParquetSource:
    """The frame stored as ColumnarIOManager stores it (in row groups of a few rows), as a source over the file."""
    table = parquet_table(frame)
    assert table is not None
    pq.write_table(table, path, row_group_size=row_group_rows)
    return ParquetSource(open_file=lambda: open(path, "rb"), to_frame=parquet_frame)


def test_a_stored_table_streams_the_rows_and_columns_of_its_frame(tmp_path):
    """Footer counts, slices of the asked size across row groups in one chunk each, one column, the frame back."""
    frame = made_up_table()
    source = stored(frame, tmp_path / "table")
    assert pq.ParquetFile(tmp_path / "table").metadata.num_row_groups == 4
    assert source.num_rows == 11 and source.columns == list(frame.columns)
    slices = list(source.slices(5))
    assert [part.num_rows for part in slices] == [5, 5, 1]
    assert all(column.num_chunks == 1 for part in slices for column in part.columns)
    whole = pa.Table.from_pandas(frame, preserve_index=False)
    streamed = pa.concat_tables(slices)
    for name in frame.columns:
        assert streamed.column(name).to_pylist() == whole.column(name).to_pylist()
        assert source.column(name).to_pylist() == whole.column(name).to_pylist()
    pd.testing.assert_frame_equal(source.frame(), frame)
    pd.testing.assert_frame_equal(source.empty_frame(), frame.iloc[:0])
    assert source.pandas_schema().equals(pa.Schema.from_pandas(frame, preserve_index=False), check_metadata=True)


def test_slices_of_a_frame_and_of_an_empty_table():
    """A frame is sliced as its Arrow table; an empty table gives one empty slice with its columns."""
    frame = made_up_table(4)
    assert [part.num_rows for part in table_source(frame).slices(3)] == [3, 1]
    empty = list(table_source(frame.iloc[:0]).slices(3))
    assert len(empty) == 1 and empty[0].num_rows == 0 and empty[0].column_names == list(frame.columns)
    schema = pa.schema([("value", pa.int64())])
    assert [part.num_rows for part in even_slices(iter([]), 3, schema)] == [0]
    parts = [pa.table({"value": list(range(start, start + 2))}) for start in range(0, 6, 2)]
    assert [part.column(0).to_pylist() for part in even_slices(iter(parts), 3, schema)] == [[0, 1, 2], [3, 4, 5]]


def test_the_release_file_and_hash_streamed_from_the_stored_table_are_those_of_the_frame(tmp_path, monkeypatch):
    """Release row groups of 4 rows written from stored groups of 3 give the bytes of the file written whole."""
    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 4)
    frame = made_up_table()
    source = stored(frame, tmp_path / "table")
    write.write_table_file(frame, None, tmp_path / "whole.parquet")
    write.write_table_file(source, None, tmp_path / "streamed.parquet")
    assert (tmp_path / "streamed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "streamed.parquet").metadata.num_row_groups == 3
    assert write.content_hash({"table": source}, {}) == write.content_hash({"table": frame}, {})
    assert write.content_hash({"table": source}, {}) != write.content_hash({"table": frame.iloc[::-1]}, {})


def test_the_warehouse_loads_a_stored_table_as_a_stream_in_its_row_order(tmp_path, monkeypatch):
    """DuckDB scans slices of 2 rows of a stored table: the rows, in order, and the audit's row count."""
    monkeypatch.setattr(warehouse, "STREAM_ROWS", 2)
    frame = made_up_table()
    source = stored(frame, tmp_path / "table")
    publication = {"release_version": "v", "content_hash": "c", "definitions_hash": "d", "built_at": "b"}
    warehouse.stage_warehouse({"things": source}, tmp_path / "staging.duckdb", publication)
    with duckdb.connect(str(tmp_path / "staging.duckdb"), read_only=True) as connection:
        loaded = connection.execute("SELECT * FROM things").df()
    assert loaded["year"].tolist() == frame["year"].tolist()
    assert loaded["indicator_code"].tolist() == frame["indicator_code"].tolist()
    assert loaded["value"].isna().tolist() == frame["value"].isna().tolist()


def test_the_warehouse_reads_a_local_stored_file_into_the_table_the_stream_gives(tmp_path):
    """DuckDB's read_parquet of the stored file: the stream's column types (all-null text as VARCHAR) and rows."""
    frame = made_up_table().assign(note=pd.Series([None] * 11, dtype="object"))
    streamed = stored(frame, tmp_path / "table")
    path = tmp_path / "table"
    direct = ParquetSource(open_file=functools.partial(path.open, "rb"), to_frame=parquet_frame, local_path=str(path))
    assert pa.types.is_null(direct.footer()[1].field("note").type)
    publication = {"release_version": "v", "content_hash": "c", "definitions_hash": "d", "built_at": "b"}
    loaded = {}
    for label, source in {"stream": streamed, "file": direct}.items():
        warehouse.stage_warehouse({"things": source}, tmp_path / f"{label}.duckdb", publication)
        with duckdb.connect(str(tmp_path / f"{label}.duckdb"), read_only=True) as connection:
            types = connection.execute("DESCRIBE things").fetchall()
            loaded[label] = (types, connection.execute("SELECT * FROM things").fetchall())
    assert loaded["file"] == loaded["stream"]
    assert ("note", "VARCHAR") in [(row[0], row[1]) for row in loaded["file"][0]]
    assert [row[2] for row in loaded["file"][1]] == frame["year"].tolist()


@pytest.mark.parametrize("key", [["region_code", "year"], ["year"]])
def test_changes_read_a_column_at_a_time_count_what_whole_frames_count(tmp_path, key):
    """Added, removed and changed rows and the largest changes, from the released file and the stored table."""
    old = made_up_table()
    new = made_up_table(12)  # one row added
    new = new.drop(index=0).reset_index(drop=True)  # one removed
    new.loc[3, "value"] = 100.0  # one numeric value changed
    new.loc[5, "region_code"] = new.loc[5, "region_code"] if "region_code" in key else "r9"  # one text changed
    write.write_table_file(old, None, tmp_path / "old.parquet")
    streamed = compare_table(ReleasedTable(tmp_path / "old.parquet"), stored(new, tmp_path / "new"), key)
    old_indexed, new_indexed = old.set_index(key), new.set_index(key)
    common = new_indexed.index.intersection(old_indexed.index)
    expected_lines = largest_value_changes(old_indexed.loc[common], new_indexed.loc[common], key)
    assert streamed is not None
    added, removed, changed, lines = streamed
    assert (added, removed) == (1, 1)
    assert changed == (1 if "region_code" in key else 2)
    assert lines == expected_lines and any("| value | 4 | 100 |" in line for line in lines)
