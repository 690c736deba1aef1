"""A stored table read as a stream: row count and schema from its Parquet footer, slices of rows, one column (issue 17).

A `ParquetSource` holds either a stored Parquet file (opened on demand, read a row group or a column at a time) or
an in-memory DataFrame (tests, the in-memory I/O manager, a pickled output). Both give the same rows, columns and
Arrow types: a slice of a frame is the slice of `pa.Table.from_pandas(frame, preserve_index=False)`, a column of a
frame is `pa.array(column, from_pandas=True)`, so writing from either gives the same files and hashes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.reading import StoredTable, is_text


class ParquetSource(StoredTable):
    """One table, read in a stream: `num_rows` and `columns` without reading it, `slices(rows)`, `column(name)`."""

    _footer: tuple[int, pa.Schema] | None = None  # the stored file's, once read

    def footer(self) -> tuple[int, pa.Schema]:
        """The stored file's row count and Arrow schema, read from its footer once."""
        if self._footer is None:
            assert self._open_file is not None
            with self._open_file() as handle:
                stored = pq.ParquetFile(handle)
                self._footer = (stored.metadata.num_rows, stored.schema_arrow)
        return self._footer

    @property
    def num_rows(self) -> int:
        """The table's number of rows (for a file, from its Parquet footer: no row is read)."""
        return len(self._frame) if self._frame is not None else self.footer()[0]

    @property
    def columns(self) -> list[str]:
        """The table's column names, in order (for a file, from its Parquet schema)."""
        if self._frame is not None:
            return list(self._frame.columns)
        return list(self.footer()[1].names)

    def column(self, name: str, texts_as_dictionary: bool = False) -> pa.Array | pa.ChunkedArray:
        """One column in Arrow form (for a file, read from that column alone).

        With `texts_as_dictionary` a stored text column comes dictionary-encoded, as Parquet holds it: the same
        texts without building a string per row (the content hash takes either form alike).
        """
        if self._frame is not None:
            values = pa.array(self._frame[name], from_pandas=True)
            return values.dictionary_encode() if texts_as_dictionary and is_text(values.type) else values
        assert self._open_file is not None
        with self._open_file() as handle:
            dictionary = [name] if texts_as_dictionary and is_text(self.footer()[1].field(name).type) else None
            return pq.read_table(handle, columns=[name], read_dictionary=dictionary).column(0)

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """These columns (None: all) as a DataFrame, with the dtypes the table is stored with."""
        if self._frame is not None:
            return self._frame if columns is None else self._frame[columns]
        assert self._open_file is not None
        with self._open_file() as handle:
            return self._to_frame(pq.read_table(handle, columns=columns))

    def empty_frame(self) -> pd.DataFrame:
        """No row, every column with its dtype (categoricals with their categories, of the type of their values).

        For a stored file: its first row read and dropped (an empty column would give its categories no type).
        """
        if self._frame is not None:
            return self._frame.iloc[:0]
        assert self._open_file is not None
        with self._open_file() as handle:
            stored = pq.ParquetFile(handle)
            first = next(stored.iter_batches(batch_size=1), None)
            table = pa.Table.from_batches([first]) if first is not None else stored.schema_arrow.empty_table()
        return self._to_frame(table).iloc[:0]

    def pandas_schema(self) -> pa.Schema:
        """The Arrow schema, with its pandas metadata, that `pa.Table.from_pandas(frame, preserve_index=False)` gives.

        For a stored file it is taken from the empty frame of the stored dtypes, so no row is read.
        """
        frame = self._frame if self._frame is not None else self.empty_frame()
        return pa.Schema.from_pandas(frame, preserve_index=False)

    def slices(self, rows: int) -> Iterator[pa.Table]:
        """The table's rows in order, `rows` at a time (the last slice shorter), each column in one chunk.

        An empty table gives one empty slice. A stored file is read one row group at a time.
        """
        if self._frame is not None:
            table = pa.Table.from_pandas(self._frame, preserve_index=False)
            for start in range(0, table.num_rows or 1, rows):
                yield table.slice(start, rows).combine_chunks()
            return
        assert self._open_file is not None
        with self._open_file() as handle:
            stored = pq.ParquetFile(handle)
            groups = (stored.read_row_group(index) for index in range(stored.num_row_groups))
            yield from even_slices(groups, rows, stored.schema_arrow)


def even_slices(tables: Iterator[pa.Table], rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Tables of `rows` rows each (the last one shorter, at least one) from consecutive tables of any length."""
    pending: list[pa.Table] = []
    held = 0
    given = False
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= rows:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, rows).combine_chunks()
            given = True
            rest = joined.slice(rows)
            pending, held = [rest], rest.num_rows
    if held or not given:
        yield pa.concat_tables(pending).combine_chunks() if pending else schema.empty_table()


def table_source(value: ParquetSource | pd.DataFrame) -> ParquetSource:
    """A source for a table that is one already (stored Parquet) or a DataFrame (held in memory)."""
    return value if isinstance(value, ParquetSource) else ParquetSource(frame=value)
