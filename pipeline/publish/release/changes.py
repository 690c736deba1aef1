"""CHANGES.md: how a release differs from the previous one.

Both releases' tables are read a column at a time (their keys, then one column of each), never whole, and compared
in Arrow and numpy by packed integer keys, without per-row Python (issue 17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.reading import is_text
from pipeline.core.tables import ParquetSource, table_source
from pipeline.publish.release.versions import Release

CODE_COLUMNS = {"region_code": "region", "indicator_code": "indicator"}
LARGEST_CHANGES_PER_TABLE = 10


class ReleasedTable:
    """One Parquet table of an earlier release, read as pandas reads it: its row count, columns, some columns."""

    def __init__(self, path: Path) -> None:
        """The table's file."""
        self.path = path

    @property
    def num_rows(self) -> int:
        """Rows, from the Parquet footer."""
        return pq.ParquetFile(self.path).metadata.num_rows

    @property
    def columns(self) -> list[str]:
        """Column names, from the Parquet schema."""
        return list(pq.read_schema(self.path).names)

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """These columns (None: all), as pd.read_parquet gives them."""
        return pd.read_parquet(self.path, columns=columns)

    def column(self, name: str, texts_as_dictionary: bool = False) -> pa.ChunkedArray:
        """One column in Arrow form, read from that column alone (text as a dictionary if asked)."""
        return pq.read_table(self.path, columns=[name], read_dictionary=[name] if texts_as_dictionary else None).column(
            0
        )


Table = ParquetSource | ReleasedTable


def changes_markdown(
    tables: dict[str, ParquetSource | pd.DataFrame],
    primary_keys: dict[str, list[str]],
    version: str,
    previous: Release | None,
) -> str:
    """CHANGES.md of a new release against the previous one: rows by primary key, largest changes, codes."""
    sources: dict[str, Table] = {name: table_source(table) for name, table in tables.items()}
    lines = [f"# Changes in release {version}", ""]
    if previous is None:
        lines += ["First release: nothing to compare with.", "", "| table | rows |", "|---|---:|"]
        lines += [f"| {name} | {source.num_rows} |" for name, source in sources.items()]
        return "\n".join(lines) + "\n"
    lines += [f"Compared with release {previous.version}.", ""]
    old_tables = previous_tables(previous)
    summary = ["| table | rows before | rows after | added | removed | changed |", "|---|---:|---:|---:|---:|---:|"]
    details: list[str] = []
    largest: list[str] = []
    for name, new in sources.items():
        old = old_tables.get(name)
        if old is None:
            summary.append(f"| {name} | – | {new.num_rows} | {new.num_rows} (new table) | 0 | 0 |")
            continue
        comparison = compare_table(old, new, primary_keys.get(name, []))
        if comparison is None:
            summary.append(f"| {name} | {old.num_rows} | {new.num_rows} | ? | ? | ? |")
            details.append(f"- {name}: no unique primary key in both versions, rows not compared.")
            continue
        added, removed, changed, value_changes = comparison
        summary.append(f"| {name} | {old.num_rows} | {new.num_rows} | {added} | {removed} | {changed} |")
        details += schema_change_lines(name, old, new)
        if value_changes:
            largest += [f"### {name}", "", "| key | column | before | after | change | relative |"]
            largest += ["|---|---|---:|---:|---:|---:|", *value_changes, ""]
    for name in old_tables:
        if name not in sources:
            rows = old_tables[name].num_rows
            summary.append(f"| {name} | {rows} | – | 0 | {rows} (retired table) | 0 |")
    lines += ["## Rows by primary key", "", *summary, ""]
    if details:
        lines += ["## Schema", "", *details, ""]
    lines += ["## Largest value changes", ""]
    lines += largest or ["No numeric value changed.", ""]
    lines += ["## Codes", "", *code_change_lines(old_tables, sources)]
    return "\n".join(lines) + "\n"


def previous_tables(previous: Release) -> dict[str, ReleasedTable]:
    """The Parquet tables of a release, by resource name (opened, not read)."""
    return {
        resource["name"]: ReleasedTable(previous.path / resource["path"])
        for resource in previous.descriptor.get("resources", [])
        if resource.get("format") == "parquet"
    }


def compare_table(
    old: Table | pd.DataFrame, new: Table | pd.DataFrame, key: list[str]
) -> tuple[int, int, int, list[str]] | None:
    """Rows added, removed and changed by primary key, and the largest numeric changes as table lines.

    The keys of both are read first and matched as packed integers (sorted, then searched: no per-row Python), then
    one column of each at a time, in Arrow: the rows of both versions at the keys they share, compared as whole frames
    would be (as objects, missing equal to missing). Keys or columns of other types are compared in pandas.
    """
    old_table = table_source(old) if isinstance(old, pd.DataFrame) else old
    new_table = table_source(new) if isinstance(new, pd.DataFrame) else new
    old_columns, new_columns = old_table.columns, new_table.columns
    if not key or any(column not in old_columns or column not in new_columns for column in key):
        return None
    matched = matched_rows(old_table, new_table, key)
    if matched is None:
        return None
    old_rows, new_rows, old_count, new_count = matched
    changed_rows = np.zeros(len(new_rows), dtype=bool)
    moves: list[ValueMoves] = []
    for column in [column for column in new_columns if column not in key and column in old_columns]:
        differs, moved = compare_column(old_table, new_table, column, old_rows, new_rows)
        changed_rows |= differs
        if moved is not None:
            moves.append(moved)
    records = largest_records(moves)
    labels = key_values(new_table, key, new_rows[[record[1] for record in records]])
    records = [(record[0], label, *record[2:]) for record, label in zip(records, labels, strict=True)]
    common = len(new_rows)
    return new_count - common, old_count - common, int(changed_rows.sum()), value_change_lines(records, key)


# A numeric column's changed values at the shared keys: (column, positions among the shared keys, before, after,
# change, relative), each an array over the changed values in key order.
ValueMoves = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def matched_rows(old: Table, new: Table, key: list[str]) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """Row positions of the keys both share (in the new table's order, old then new), and both row counts.

    None when a key is not unique in either. Keys of text and integers without missing values are packed into one
    integer per row; other keys are matched as pandas matches a MultiIndex.
    """
    packed = packed_keys(old, new, key)
    if packed is None:
        return matched_rows_as_objects(old, new, key)
    old_keys, new_keys = packed
    old_order, new_order = np.argsort(old_keys), np.argsort(new_keys)
    old_sorted, new_sorted = old_keys[old_order], new_keys[new_order]
    if (old_sorted[1:] == old_sorted[:-1]).any() or (new_sorted[1:] == new_sorted[:-1]).any():
        return None
    places = np.searchsorted(old_sorted, new_sorted)  # both sorted: a merge
    found = places < len(old_sorted)
    found[found] = old_sorted[places[found]] == new_sorted[found]
    old_row_of = np.full(len(new_keys), -1, dtype=np.int64)  # by new row: its old row, or -1
    old_row_of[new_order[found]] = old_order[places[found]]
    new_rows = np.flatnonzero(old_row_of >= 0)
    return old_row_of[new_rows], new_rows, len(old_keys), len(new_keys)


def matched_rows_as_objects(old: Table, new: Table, key: list[str]) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """matched_rows for keys that are not packed: by the keys' pandas index, as whole frames would be matched."""
    old_index = old.frame(key).set_index(key).index
    new_index = new.frame(key).set_index(key).index
    if not (old_index.is_unique and new_index.is_unique):
        return None
    common = new_index.intersection(old_index)
    return old_index.get_indexer(common), new_index.get_indexer(common), len(old_index), len(new_index)


def packed_keys(old: Table, new: Table, key: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's key as one int64, equal in both tables for equal keys; None unless text or integer, none missing."""
    old_keys = np.zeros(old.num_rows, dtype=np.int64)
    new_keys = np.zeros(new.num_rows, dtype=np.int64)
    combinations = 1
    for column in key:
        before, after = arrow_column(old, column), arrow_column(new, column)
        if before is None or after is None or before.null_count or after.null_count:
            return None
        kind = comparable_kind(before.type)
        if kind not in ("text", "integer") or comparable_kind(after.type) != kind:
            return None
        if kind == "text":
            old_codes, new_codes, count = shared_codes(before, after)
        else:
            both = pa.chunked_array([*chunks(comparable(before, kind)), *chunks(comparable(after, kind))])
            encoded = pc.dictionary_encode(both.combine_chunks())
            codes = encoded.indices.to_numpy().astype(np.int64)
            old_codes, new_codes, count = codes[: len(old_keys)], codes[len(old_keys) :], len(encoded.dictionary)
        count = max(count, 1)
        combinations *= count
        if combinations >= 2**62:
            return None
        old_keys = old_keys * count + old_codes
        new_keys = new_keys * count + new_codes
    return old_keys, new_keys


def shared_codes(before: pa.ChunkedArray, after: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int]:
    """Text columns of both tables as integer codes of one shared dictionary (missing: -1), and its size."""
    encoded = [[dictionary_chunk(chunk) for chunk in chunks(values)] for values in (before, after)]
    dictionaries = [chunk.dictionary.cast(pa.large_string()) for side in encoded for chunk in side]
    shared = pc.unique(pa.chunked_array(dictionaries, type=pa.large_string()).drop_null())
    codes = []
    for side in encoded:
        parts = [np.zeros(0, dtype=np.int64)]
        for chunk in side:
            mapping = pc.index_in(chunk.dictionary.cast(pa.large_string()), value_set=shared)
            lookup = np.append(mapping.fill_null(-1).to_numpy().astype(np.int64), -1)  # a missing index: -1
            parts.append(lookup[chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)])
        codes.append(np.concatenate(parts))
    return codes[0], codes[1], len(shared)


def dictionary_chunk(chunk: pa.Array) -> pa.DictionaryArray:
    """A text chunk as a dictionary array (read from Parquet as one already, or encoded)."""
    return chunk if isinstance(chunk, pa.DictionaryArray) else pc.dictionary_encode(chunk)


def compare_column(
    old: Table, new: Table, column: str, old_rows: np.ndarray, new_rows: np.ndarray
) -> tuple[np.ndarray, ValueMoves | None]:
    """Which shared rows differ in one column (as objects, missing equal to missing), and its changed numbers."""
    before, after = arrow_column(old, column), arrow_column(new, column)
    kind = comparable_kind(before.type) if before is not None else None
    if kind is None or after is None or comparable_kind(after.type) != kind:
        return compare_column_as_objects(old, new, column, old_rows, new_rows)
    if kind == "null":
        return np.zeros(len(new_rows), dtype=bool), None
    if kind == "text":
        old_codes, new_codes, _ = shared_codes(before, after)
        return old_codes[old_rows] != new_codes[new_rows], None
    before = comparable(before, kind).take(pa.array(old_rows))
    after = comparable(after, kind).take(pa.array(new_rows))
    both_missing = pc.and_(pc.is_null(before, nan_is_null=True), pc.is_null(after, nan_is_null=True))
    same = pc.or_(pc.fill_null(pc.equal(before, after), False), both_missing)
    differs = np.asarray(pc.invert(same).to_numpy(zero_copy_only=False), dtype=bool)
    if kind not in ("integer", "floating") or not (pandas_numeric(old, column) and pandas_numeric(new, column)):
        return differs, None
    return differs, value_moves(column, float_values(before), float_values(after))


def compare_column_as_objects(
    old: Table, new: Table, column: str, old_rows: np.ndarray, new_rows: np.ndarray
) -> tuple[np.ndarray, ValueMoves | None]:
    """compare_column for columns of other types: both read into pandas and compared as objects."""
    before = old.frame([column]).iloc[old_rows].reset_index(drop=True)
    after = new.frame([column]).iloc[new_rows].reset_index(drop=True)
    as_objects = before.astype(object), after.astype(object)
    differs = ~((as_objects[0] == as_objects[1]) | (as_objects[0].isna() & as_objects[1].isna()))
    records = value_change_records(before, after, column)
    if not records:
        return differs.any(axis=1).to_numpy(dtype=bool), None
    positions = np.array([record[1] for record in records], dtype=np.int64)
    old_values, new_values, changes, relative = (
        np.array([record[field] for record in records], dtype=np.float64) for field in (3, 4, 5, 6)
    )
    return differs.any(axis=1).to_numpy(dtype=bool), (column, positions, old_values, new_values, changes, relative)


def value_moves(column: str, before: np.ndarray, after: np.ndarray) -> ValueMoves | None:
    """The changed values of a numeric column (a change, or missing on one side only); None when none changed."""
    with np.errstate(invalid="ignore"):
        change = after - before
        moved = (~np.isnan(change) & (change != 0)) | (np.isnan(before) != np.isnan(after))
    positions = np.flatnonzero(moved)
    if not len(positions):
        return None
    old_values, new_values, changes = before[positions], after[positions], change[positions]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where((old_values != 0) & ~np.isnan(changes), changes / np.abs(old_values), np.inf)
    return column, positions, old_values, new_values, changes, relative


def largest_records(moves: list[ValueMoves]) -> list[tuple]:
    """The (size, position, column, before, after, change, relative) records of the largest relative changes.

    As value_change_lines orders every record, columns in order and keys in order within a column: the largest of
    each column first, unless a size is not a number (then every record, to be sorted as before).
    """
    every = any(np.isnan(np.abs(moved[5])).any() for moved in moves)
    records: list[tuple] = []
    for column, positions, old_values, new_values, changes, relative in moves:
        sizes = np.abs(relative)
        chosen = range(len(positions)) if every else np.argsort(-sizes, kind="stable")[:LARGEST_CHANGES_PER_TABLE]
        records += [
            (sizes[at], int(positions[at]), column, old_values[at], new_values[at], changes[at], relative[at])
            for at in sorted(chosen)
        ]
    return sorted(records, key=lambda record: record[0], reverse=True)[:LARGEST_CHANGES_PER_TABLE]


def key_values(table: Table, key: list[str], rows: np.ndarray) -> list[object]:
    """The keys of these rows as a pandas index of the key columns gives them (a tuple for several columns)."""
    if not len(rows):
        return []
    columns = {}
    for column in key:
        values = arrow_column(table, column)
        if values is None:
            return list(table.frame(key).set_index(key).index[rows])
        columns[column] = values.take(pa.array(rows))
    return list(pa.table(columns).to_pandas().set_index(key).index)


def arrow_column(table: Table, column: str) -> pa.ChunkedArray | None:
    """One column in Arrow form (a frame's as pa.array makes it), or None when Arrow cannot hold it."""
    try:
        values = table.column(column, texts_as_dictionary=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def comparable_kind(column_type: pa.DataType) -> str | None:
    """'text', 'integer', 'floating', 'bool' or 'null': types compared in Arrow as pandas compares their objects."""
    if pa.types.is_dictionary(column_type):
        value = column_type.value_type
        return "text" if is_text(value) else None
    if is_text(column_type):
        return "text"
    if pa.types.is_integer(column_type) and column_type != pa.uint64():
        return "integer"
    if pa.types.is_float32(column_type) or pa.types.is_float64(column_type):
        return "floating"
    if pa.types.is_boolean(column_type):
        return "bool"
    return "null" if pa.types.is_null(column_type) else None


COMPARED_TYPES = {"text": pa.large_string(), "integer": pa.int64(), "floating": pa.float64(), "bool": pa.bool_()}


def comparable(values: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """A column cast to the one type its kind is compared in (text decoded from a dictionary)."""
    return values.cast(COMPARED_TYPES[kind]) if kind in COMPARED_TYPES else values


def chunks(values: pa.ChunkedArray) -> list[pa.Array]:
    """The chunks of a column, at least one."""
    return values.chunks or [pa.array([], type=values.type)]


def float_values(values: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64, missing as NaN (what astype('float64') gives of its pandas column)."""
    return values.cast(pa.float64()).fill_null(np.nan).to_numpy()


def pandas_numeric(table: Table, column: str) -> bool:
    """Whether pandas holds the column as numbers (a frame's object column of numbers is not): read ones are."""
    frame = getattr(table, "_frame", None)
    if frame is None:
        return True
    dtype = frame[column].dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def largest_value_changes(before: pd.DataFrame, after: pd.DataFrame, key: list[str]) -> list[str]:
    """Markdown rows of the largest relative changes in numeric columns, largest first."""
    records: list[tuple] = []
    for column in after.columns:
        if column in before:
            records += value_change_records(before[[column]], after[[column]], column)
    return value_change_lines(records, key)


def value_change_records(before: pd.DataFrame, after: pd.DataFrame, column: str) -> list[tuple]:
    """(size, key, column, before, after, change, relative) of every changed value of a numeric column."""
    if not (pd.api.types.is_numeric_dtype(before[column]) and pd.api.types.is_numeric_dtype(after[column])):
        return []
    if pd.api.types.is_bool_dtype(before[column]) or pd.api.types.is_bool_dtype(after[column]):
        return []
    old_values = before[column].astype("float64")
    new_values = after[column].astype("float64")
    change = new_values - old_values
    moved = (change.notna() & (change != 0)) | (old_values.isna() != new_values.isna())
    records = []
    for index in change[moved].index:
        old_value, new_value = old_values[index], new_values[index]
        relative = change[index] / abs(old_value) if old_value and pd.notna(change[index]) else float("inf")
        records.append((abs(relative), index, column, old_value, new_value, change[index], relative))
    return records


def value_change_lines(records: list[tuple], key: list[str]) -> list[str]:
    """Markdown rows of the largest relative changes among the records, largest first (ties in column order)."""
    records = sorted(records, key=lambda record: record[0], reverse=True)
    lines = []
    for _, index, column, old_value, new_value, change, relative in records[:LARGEST_CHANGES_PER_TABLE]:
        values = index if isinstance(index, tuple) else (index,)
        label = ", ".join(f"{name}={value}" for name, value in zip(key, values, strict=True))
        cells = [number_text(old_value), number_text(new_value), number_text(change, signed=True)]
        if pd.isna(old_value) or pd.isna(new_value):
            cells.append("filled" if pd.isna(old_value) else "now missing")
        else:
            cells.append(f"{relative * 100:+.3g}%" if relative != float("inf") else "from 0")
        lines.append(f"| {label} | {column} | {' | '.join(cells)} |")
    return lines


def number_text(value: float, signed: bool = False) -> str:
    """A number for CHANGES.md with six significant digits; a missing value as a dash."""
    if pd.isna(value):
        return "–"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def schema_change_lines(name: str, old: Table | pd.DataFrame, new: Table | pd.DataFrame) -> list[str]:
    """Lines naming columns added to or removed from a table."""
    added = [column for column in new.columns if column not in old.columns]
    removed = [column for column in old.columns if column not in new.columns]
    lines = []
    if added:
        lines.append(f"- {name}: new column(s) {', '.join(added)}")
    if removed:
        lines.append(f"- {name}: removed column(s) {', '.join(removed)}")
    return lines


def code_change_lines(old_tables: dict[str, ReleasedTable], new_tables: dict[str, Table]) -> list[str]:
    """Lines naming region and indicator codes that appear or disappear anywhere in the published tables."""
    lines = []
    for column, label in CODE_COLUMNS.items():
        before = codes_in(old_tables, column)
        after = codes_in(new_tables, column)
        for kind, codes in (("New", after - before), ("Retired", before - after)):
            listed = f"({len(codes)}) {', '.join(sorted(codes))}" if codes else "none"
            lines.append(f"- {kind} {label} codes: {listed}")
    return lines


def codes_in(tables: dict[str, ReleasedTable] | dict[str, Table], column: str) -> set[str]:
    """Every non-null value of a code column across tables (read from that column alone)."""
    codes: set[str] = set()
    for table in tables.values():
        if column in table.columns:
            codes.update(distinct_texts(table, column))
    return codes


def distinct_texts(table: Table, column: str) -> set[str]:
    """The non-null values of one column as text: of its dictionaries' used entries when it is text."""
    values = arrow_column(table, column)
    if values is None or comparable_kind(values.type) != "text":
        return {str(value) for value in table.frame([column])[column].dropna().unique()}
    texts: set[str] = set()
    for chunk in chunks(values):
        encoded = dictionary_chunk(chunk)
        texts.update(encoded.dictionary.take(pc.unique(encoded.indices).drop_null()).drop_null().to_pylist())
    return texts
