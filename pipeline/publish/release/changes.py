"""CHANGES.md: how a release differs from the previous one."""

from __future__ import annotations

import pandas as pd

from pipeline.publish.release.versions import Release

CODE_COLUMNS = {"region_code": "region", "indicator_code": "indicator"}
LARGEST_CHANGES_PER_TABLE = 10


def changes_markdown(
    tables: dict[str, pd.DataFrame], primary_keys: dict[str, list[str]], version: str, previous: Release | None
) -> str:
    """CHANGES.md of a new release against the previous one: rows by primary key, largest changes, codes."""
    lines = [f"# Changes in release {version}", ""]
    if previous is None:
        lines += ["First release: nothing to compare with.", "", "| table | rows |", "|---|---:|"]
        lines += [f"| {name} | {len(frame)} |" for name, frame in tables.items()]
        return "\n".join(lines) + "\n"
    lines += [f"Compared with release {previous.version}.", ""]
    old_tables = previous_tables(previous)
    summary = ["| table | rows before | rows after | added | removed | changed |", "|---|---:|---:|---:|---:|---:|"]
    details: list[str] = []
    largest: list[str] = []
    for name, frame in tables.items():
        old = old_tables.get(name)
        if old is None:
            summary.append(f"| {name} | – | {len(frame)} | {len(frame)} (new table) | 0 | 0 |")
            continue
        comparison = compare_table(old, frame, primary_keys.get(name, []))
        if comparison is None:
            summary.append(f"| {name} | {len(old)} | {len(frame)} | ? | ? | ? |")
            details.append(f"- {name}: no unique primary key in both versions, rows not compared.")
            continue
        added, removed, changed, value_changes = comparison
        summary.append(f"| {name} | {len(old)} | {len(frame)} | {added} | {removed} | {changed} |")
        details += schema_change_lines(name, old, frame)
        if value_changes:
            largest += [f"### {name}", "", "| key | column | before | after | change | relative |"]
            largest += ["|---|---|---:|---:|---:|---:|", *value_changes, ""]
    for name in old_tables:
        if name not in tables:
            summary.append(
                f"| {name} | {len(old_tables[name])} | – | 0 | {len(old_tables[name])} (retired table) | 0 |"
            )
    lines += ["## Rows by primary key", "", *summary, ""]
    if details:
        lines += ["## Schema", "", *details, ""]
    lines += ["## Largest value changes", ""]
    lines += largest or ["No numeric value changed.", ""]
    lines += ["## Codes", "", *code_change_lines(old_tables, tables)]
    return "\n".join(lines) + "\n"


def previous_tables(previous: Release) -> dict[str, pd.DataFrame]:
    """The Parquet tables of a release, by resource name."""
    return {
        resource["name"]: pd.read_parquet(previous.path / resource["path"])
        for resource in previous.descriptor.get("resources", [])
        if resource.get("format") == "parquet"
    }


def compare_table(old: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> tuple[int, int, int, list[str]] | None:
    """Rows added, removed and changed by primary key, and the largest numeric changes as table lines."""
    if not key or any(column not in old or column not in new for column in key):
        return None
    old_indexed, new_indexed = old.set_index(key), new.set_index(key)
    if not (old_indexed.index.is_unique and new_indexed.index.is_unique):
        return None
    common = new_indexed.index.intersection(old_indexed.index)
    added = len(new_indexed.index.difference(old_indexed.index))
    removed = len(old_indexed.index.difference(new_indexed.index))
    columns = [column for column in new_indexed.columns if column in old_indexed.columns]
    before = old_indexed.loc[common, columns].astype(object)
    after = new_indexed.loc[common, columns].astype(object)
    differs = ~((before == after) | (before.isna() & after.isna()))
    changed = int(differs.any(axis=1).sum())
    return added, removed, changed, largest_value_changes(old_indexed.loc[common], new_indexed.loc[common], key)


def largest_value_changes(before: pd.DataFrame, after: pd.DataFrame, key: list[str]) -> list[str]:
    """Markdown rows of the largest relative changes in numeric columns, largest first."""
    records = []
    for column in after.columns:
        if column not in before or not (
            pd.api.types.is_numeric_dtype(before[column]) and pd.api.types.is_numeric_dtype(after[column])
        ):
            continue
        if pd.api.types.is_bool_dtype(before[column]) or pd.api.types.is_bool_dtype(after[column]):
            continue
        old_values = before[column].astype("float64")
        new_values = after[column].astype("float64")
        change = new_values - old_values
        moved = (change.notna() & (change != 0)) | (old_values.isna() != new_values.isna())
        for index in change[moved].index:
            old_value, new_value = old_values[index], new_values[index]
            relative = change[index] / abs(old_value) if old_value and pd.notna(change[index]) else float("inf")
            records.append((abs(relative), index, column, old_value, new_value, change[index], relative))
    records.sort(key=lambda record: record[0], reverse=True)
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


def schema_change_lines(name: str, old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Lines naming columns added to or removed from a table."""
    added = [column for column in new.columns if column not in old.columns]
    removed = [column for column in old.columns if column not in new.columns]
    lines = []
    if added:
        lines.append(f"- {name}: new column(s) {', '.join(added)}")
    if removed:
        lines.append(f"- {name}: removed column(s) {', '.join(removed)}")
    return lines


def code_change_lines(old_tables: dict[str, pd.DataFrame], new_tables: dict[str, pd.DataFrame]) -> list[str]:
    """Lines naming region and indicator codes that appear or disappear anywhere in the published tables."""
    lines = []
    for column, label in CODE_COLUMNS.items():
        before = codes_in(old_tables, column)
        after = codes_in(new_tables, column)
        for kind, codes in (("New", after - before), ("Retired", before - after)):
            listed = f"({len(codes)}) {', '.join(sorted(codes))}" if codes else "none"
            lines.append(f"- {kind} {label} codes: {listed}")
    return lines


def codes_in(tables: dict[str, pd.DataFrame], column: str) -> set[str]:
    """Every non-null value of a code column across tables."""
    codes: set[str] = set()
    for frame in tables.values():
        if column in frame:
            codes.update(str(value) for value in frame[column].dropna().unique())
    return codes
