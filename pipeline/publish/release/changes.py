"""CHANGES.md: how a release differs from the previous one.

Both releases' tables are read a column at a time (their keys, then one column of each), never whole (issue 17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

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

    The keys of both are read first, then one column of each at a time: the rows of both versions at the keys
    they share, compared as whole frames would be (as objects, missing equal to missing).
    """
    old_table = table_source(old) if isinstance(old, pd.DataFrame) else old
    new_table = table_source(new) if isinstance(new, pd.DataFrame) else new
    old_columns, new_columns = old_table.columns, new_table.columns
    if not key or any(column not in old_columns or column not in new_columns for column in key):
        return None
    old_index = old_table.frame(key).set_index(key).index
    new_index = new_table.frame(key).set_index(key).index
    if not (old_index.is_unique and new_index.is_unique):
        return None
    common = new_index.intersection(old_index)
    added = len(new_index.difference(old_index))
    removed = len(old_index.difference(new_index))
    old_rows, new_rows = old_index.get_indexer(common), new_index.get_indexer(common)
    del old_index, new_index
    changed_rows = np.zeros(len(common), dtype=bool)
    records: list[tuple] = []
    for column in [column for column in new_columns if column not in key and column in old_columns]:
        before = common_rows(old_table, column, old_rows, common)
        after = common_rows(new_table, column, new_rows, common)
        as_objects = before.astype(object), after.astype(object)
        differs = ~((as_objects[0] == as_objects[1]) | (as_objects[0].isna() & as_objects[1].isna()))
        changed_rows |= differs.any(axis=1).to_numpy(dtype=bool)
        records += value_change_records(before, after, column)
    return added, removed, int(changed_rows.sum()), value_change_lines(records, key)


def common_rows(table: Table, column: str, rows: np.ndarray, common: pd.Index) -> pd.DataFrame:
    """One column of a table at the given row positions, as a one-column frame indexed by the shared keys."""
    values = table.frame([column]).iloc[rows]
    values.index = common
    return values


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
            codes.update(str(value) for value in table.frame([column])[column].dropna().unique())
    return codes
