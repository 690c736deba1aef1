"""A stored table read in parts: its row count, and only the columns and rows a consumer uses (issue 17).

A `TableReader` holds either a stored Parquet file (opened on demand; the row count from its footer, a part read
with pyarrow filters) or an in-memory DataFrame (tests, the in-memory I/O manager). Both give the same rows in the
same order: a part is the table's rows whose columns take one of the given values, in the table's order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class TableReader:
    """One table, read in parts: `num_rows` without reading it, `frame(columns, rows_where_in)` for the rows used."""

    def __init__(
        self,
        frame: pd.DataFrame | None = None,
        open_file: Callable[[], BinaryIO] | None = None,
        to_frame: Callable[[pa.Table], pd.DataFrame] | None = None,
    ) -> None:
        """Either an in-memory frame, or a way to open the Parquet file and turn an Arrow table into a frame."""
        if (frame is None) == (open_file is None):
            raise ValueError("TableReader needs exactly one of frame and open_file")
        self._frame = frame
        self._open_file = open_file
        self._to_frame = to_frame or (lambda table: table.to_pandas())

    @property
    def num_rows(self) -> int:
        """The table's number of rows (for a file, from its Parquet footer: no row is read)."""
        if self._frame is not None:
            return len(self._frame)
        assert self._open_file is not None
        with self._open_file() as handle:
            return pq.ParquetFile(handle).metadata.num_rows

    @property
    def columns(self) -> list[str]:
        """The table's column names (for a file, from its Parquet schema)."""
        if self._frame is not None:
            return [str(name) for name in self._frame.columns]
        assert self._open_file is not None
        with self._open_file() as handle:
            return list(pq.ParquetFile(handle).schema_arrow.names)

    def distinct(self, column: str) -> list[object]:
        """The distinct non-null values of one column (for a file, read from that column alone, in Arrow)."""
        if self._frame is not None:
            return list(self._frame[column].dropna().unique())
        assert self._open_file is not None
        with self._open_file() as handle:
            values = pq.read_table(handle, columns=[column]).column(column).unique().to_pylist()
        return [value for value in values if value is not None]

    def frame(
        self, columns: list[str] | None = None, rows_where_in: Mapping[str, Sequence[object]] | None = None
    ) -> pd.DataFrame:
        """These columns (None: all) of the rows whose value in each named column is in its list, in table order."""
        rows = rows_where_in or {}
        if self._frame is not None:
            keep = pd.Series(True, index=self._frame.index)
            for column, values in rows.items():
                keep &= self._frame[column].isin(list(values))
            chosen = self._frame[keep] if rows else self._frame
            return (chosen[columns] if columns is not None else chosen).reset_index(drop=True)
        assert self._open_file is not None
        with self._open_file() as handle:
            if any(not list(values) for values in rows.values()):
                # No value to match: no row, with the columns' types as a read gives them (Arrow refuses an empty `in`).
                stored = pq.ParquetFile(handle)
                if stored.num_row_groups == 0:
                    table = stored.schema_arrow.empty_table()
                    table = table.select(columns) if columns is not None else table
                else:
                    table = stored.read_row_group(0, columns=columns).slice(0, 0)
            else:
                filters = [(column, "in", list(values)) for column, values in rows.items()] or None
                table = pq.read_table(handle, columns=columns, filters=filters)
        return self._to_frame(table)


def table_reader(value: TableReader | pd.DataFrame) -> TableReader:
    """A reader for an input that is a reader already (stored Parquet) or a DataFrame (held in memory)."""
    return value if isinstance(value, TableReader) else TableReader(frame=value)
