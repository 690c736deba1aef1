"""pandera checks of a large table chunk by chunk: row rules on one slice of rows at a time, key rules on the whole table.

A table of more than CHUNK_ROWS rows is validated a chunk at a time (a Parquet row group, or a slice of an in-memory
frame), with the rules that look at one row (types, ranges, patterns, known codes, row-level dataframe checks).
Its index is the rows' position in the whole table, so that failure cases name the same rows as a whole-table run.
The rules that need the whole table (a column's or a key's uniqueness, KEYED_CHECKS) find their candidate rows on
the key columns of the whole table (repeated keys, packed integer codes), and the same pandera rule then decides on
those rows only: a duplicate whose copies lie in two chunks is still caught. A schema with a dataframe check that is
neither a row rule nor keyed is validated whole.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow
import pyarrow.parquet as pq
from pandera.api.pandas.types import is_table
from pandera.backends.pandas.error_formatters import consolidate_failure_cases
from pandera.errors import SchemaError

from pipeline.core.frames import repeated_rows
from pipeline.core.reading import is_text
from pipeline.validate.failures import LINEAGE_KEYS, schema_for_frame
from pipeline.validate.schemas import KEYED_CHECKS, ROW_CHECKS

CHUNK_ROWS = 1_048_576  # pyarrow's default row group: one chunk per row group of the stored tables


class TableChunks:
    """A table read a slice of rows at a time; each slice's index is its rows' position in the whole table."""

    row_count: int = 0
    column_names: list[str] = []

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The rows in order, at most chunk_rows at a time, with these columns."""
        raise NotImplementedError

    def whole(self, columns: list[str]) -> pd.DataFrame:
        """These columns of every row."""
        raise NotImplementedError

    def as_stored(self) -> pd.DataFrame:
        """The whole table with the dtypes it was stored with (as a downstream asset would load it)."""
        raise NotImplementedError


class FrameChunks(TableChunks):
    """An in-memory frame, sliced."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.row_count = len(frame)
        self.column_names = [str(name) for name in frame.columns]

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Row slices of the frame (its own index)."""
        for start in range(0, max(self.row_count, 1), chunk_rows):
            yield self.frame.iloc[start : start + chunk_rows][columns]

    def whole(self, columns: list[str]) -> pd.DataFrame:
        """The frame's columns."""
        return self.frame[columns]

    def as_stored(self) -> pd.DataFrame:
        """The frame itself."""
        return self.frame


class ParquetChunks(TableChunks):
    """A stored Parquet file read by row group (text columns as dictionaries: categoricals, checked on their codes)."""

    def __init__(self, open_file: Callable[[], BinaryIO], to_frame: Callable[[pyarrow.Table], pd.DataFrame]) -> None:
        self.open_file = open_file
        self.to_frame = to_frame
        with open_file() as handle:
            parquet = pq.ParquetFile(handle)
            self.schema = parquet.schema_arrow
            self.row_count = parquet.metadata.num_rows
            self.row_groups = parquet.num_row_groups
        self.column_names = list(self.schema.names)
        self.texts = [field.name for field in self.schema if is_text(field.type)]
        self.index_start, self.index_step = stored_range_index(self.schema)

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Each row group (split when longer than chunk_rows), its index the rows' positions in the file's frame."""
        offset = 0
        with self.open_file() as handle:
            parquet = pq.ParquetFile(handle, read_dictionary=[name for name in self.texts if name in columns])
            for group in range(max(self.row_groups, 1)):
                batches = (
                    parquet.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=columns)
                    if self.row_groups
                    else []
                )
                for batch in batches:
                    frame = self.to_frame(
                        pyarrow.Table.from_batches([batch]).replace_schema_metadata(self.schema.metadata)
                    )
                    frame.index = self.index(offset, len(frame))
                    offset += len(frame)
                    yield frame
            if offset == 0:
                yield self.whole(columns)

    def whole(self, columns: list[str]) -> pd.DataFrame:
        """These columns of the whole file (text as categoricals)."""
        with self.open_file() as handle:
            table = pq.read_table(
                handle, columns=columns, read_dictionary=[name for name in self.texts if name in columns]
            )
        frame = self.to_frame(table.replace_schema_metadata(self.schema.metadata))
        frame.index = self.index(0, len(frame))
        return frame

    def as_stored(self) -> pd.DataFrame:
        """The whole file as the I/O manager loads it."""
        with self.open_file() as handle:
            return self.to_frame(pq.read_table(handle))

    def index(self, offset: int, length: int) -> pd.RangeIndex:
        """The index labels of rows offset .. offset + length in the stored frame."""
        start = self.index_start + offset * self.index_step
        return pd.RangeIndex(start, start + length * self.index_step, self.index_step)


def stored_range_index(schema: pyarrow.Schema) -> tuple[int, int]:
    """Start and step of the RangeIndex the file's pandas metadata records (0 and 1 when it records none)."""
    try:
        pandas_metadata = json.loads((schema.metadata or {})[b"pandas"])
        index = pandas_metadata["index_columns"][0]
        if isinstance(index, dict) and index.get("kind") == "range":
            return int(index["start"]), int(index["step"])
    except (KeyError, IndexError, ValueError):
        pass
    return 0, 1


def row_and_key_parts(
    schema: pa.DataFrameSchema,
) -> tuple[pa.DataFrameSchema, list[tuple[list[str], pa.DataFrameSchema]]] | None:
    """The schema's row rules, and each whole-table rule as (key columns, a schema with that rule alone); None if unsplittable."""
    keyed: list[tuple[list[str], pa.DataFrameSchema]] = []
    row_checks = []
    for check in schema.checks:
        if check.name in KEYED_CHECKS:
            keyed.append((list(KEYED_CHECKS[check.name]), pa.DataFrameSchema(checks=[check])))
        elif check.name in ROW_CHECKS:
            row_checks.append(check)
        else:
            return None
    if schema.unique:
        unique = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        keyed.append((unique, pa.DataFrameSchema(unique=unique, report_duplicates=schema.report_duplicates)))
    updates = {}
    for name, column in schema.columns.items():
        if column.unique:
            keyed.append(
                (
                    [name],
                    pa.DataFrameSchema(
                        {name: pa.Column(unique=True, nullable=True, report_duplicates=column.report_duplicates)}
                    ),
                )
            )
            updates[name] = {"unique": False}
    rows = schema.update_columns(updates) if updates else copy.copy(schema)
    rows.unique = None
    rows.checks = row_checks
    return rows, keyed


def chunked_failure_cases(
    schema: pa.DataFrameSchema, table: TableChunks, chunk_rows: int = CHUNK_ROWS
) -> tuple[pd.DataFrame | None, pd.DataFrame] | None:
    """pandera's failure cases of the whole table (None if it passes) and the failing rows' lineage; None if unsplittable."""
    parts = row_and_key_parts(schema)
    if parts is None:
        return None
    rows_schema, keyed = parts
    extra = [] if schema.strict else [name for name in LINEAGE_KEYS if name not in schema.columns]
    columns = [name for name in table.column_names if schema.strict or name in schema.columns or name in extra]
    candidates = keyed_candidates(table, keyed)
    errors_found: list[SchemaError] = []
    lineage: list[pd.DataFrame] = []
    candidate_rows: list[pd.DataFrame] = []
    lineage_columns = [name for name in LINEAGE_KEYS if name in columns]
    for chunk in table.chunks(columns, chunk_rows):
        failing = pd.Index([])
        try:
            schema_for_frame(rows_schema, chunk).validate(chunk, lazy=True, inplace=True)
        except pa.errors.SchemaErrors as errors:
            errors_found.extend(without_data(errors.schema_errors))
            failing = pd.Index(errors.failure_cases["index"].dropna().unique())
        wanted = chunk.index[np.isin(chunk.index, candidates)] if len(candidates) else pd.Index([])
        if len(wanted):
            candidate_rows.append(chunk.loc[wanted])
        listed = failing.union(wanted) if len(wanted) else failing
        listed = listed[listed.isin(chunk.index)]
        if len(listed):
            lineage.append(chunk.loc[listed, lineage_columns])
    if candidate_rows:
        errors_found.extend(keyed_failure_cases(pd.concat(candidate_rows), keyed))
    lineage_frame = pd.concat(lineage) if lineage else pd.DataFrame(columns=lineage_columns)
    if not errors_found:
        return None, lineage_frame
    return consolidate_failure_cases(in_whole_table_order(errors_found, schema)), lineage_frame


def without_data(errors: list[SchemaError]) -> list[SchemaError]:
    """The errors without the chunk each one holds a reference to (only their failure cases are kept)."""
    for error in errors:
        error.data = None
    return errors


def keyed_candidates(table: TableChunks, keyed: list[tuple[list[str], pa.DataFrameSchema]]) -> np.ndarray:
    """Index labels of the rows whose key repeats in the whole table, for any whole-table rule (read: key columns only)."""
    found: list[np.ndarray] = []
    for key, _ in keyed:
        if not set(key) <= set(table.column_names):
            continue  # the row rules report the missing column
        keys = table.whole(key)
        found.append(keys.index.to_numpy()[repeated_keys(keys, key)])
    return np.unique(np.concatenate(found)) if found else np.array([], dtype="int64")


def repeated_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """True for every row whose values in these columns occur in another row too.

    The key columns are packed into one integer that orders like them (core.frames.repeated_rows): a table stored in
    key order (as preferred_values is) then compares neighbours, without a hash pass over every row; other tables
    take one hash pass over the packed keys.
    """
    return repeated_rows(frame, columns)


def keyed_failure_cases(rows: pd.DataFrame, keyed: list[tuple[list[str], pa.DataFrameSchema]]) -> list[SchemaError]:
    """Each whole-table rule run by pandera on the rows whose key repeats (every copy of a key is among them)."""
    cases = []
    for key, rule in keyed:
        if not set(key) <= set(rows.columns):
            continue
        try:
            rule.validate(rows, lazy=True)
        except pa.errors.SchemaErrors as errors:
            cases.extend(without_data(errors.schema_errors))
    return cases


def in_whole_table_order(errors: list[SchemaError], schema: pa.DataFrameSchema) -> list[SchemaError]:
    """The chunks' errors in the order a whole-table run collects them; a table-wide one (no row) kept once.

    pandera collects dataframe-level errors (column presence, key uniqueness, dataframe checks in schema order) and
    column-level ones (coercion, then column by column in schema order: core checks, then its checks in order);
    one rule's errors of successive chunks stay in chunk (row) order. consolidate_failure_cases then lists them as
    pandera does (its concatenation and its stable sort, dataframe-level first).
    """
    column_positions = {name: position for position, name in enumerate(schema.columns)}
    check_positions = {
        (check.error if check.error is not None else check.name): position
        for position, check in enumerate(schema.checks)
    }
    ranked = []
    seen_table_wide = set()
    for sequence, error in enumerate(errors):
        case = consolidate_failure_cases([error]).iloc[0]
        context, check = str(case["schema_context"]), str(case["check"])
        if not is_table(error.failure_cases):
            identity = (context, str(case["column"]), check, str(case["failure_case"]))
            if identity in seen_table_wide:
                continue
            seen_table_wide.add(identity)
        if context == "DataFrameSchema":
            if check in check_positions:
                rank: tuple = (0, 2, check_positions[check], 0)
            else:
                rank = (0, 1 if check == "multiple_fields_uniqueness" else 0, 0, 0)
        else:
            number = case["check_number"]
            rank = (
                1,
                0 if check.startswith("coerce_dtype") else 1,
                column_positions.get(str(case["column"]), len(column_positions)),
                -1 if number is None or bool(pd.isna(number)) else int(number),
            )
        ranked.append((rank, sequence, error))
    return [error for _, _, error in sorted(ranked, key=lambda item: (item[0], item[1]))]
