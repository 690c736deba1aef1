"""Locating the table in a grid: title and unit lines, the header rows, footers and cell names."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.cells import normalise_label, normalise_text
from pipeline.ingest.reader.model import (
    LAYOUT_COLUMN_ROLES,
    Grid,
    GridRow,
    Table,
    grid_part,
    grid_rows,
    nonblank_cells,
    per_distinct_text,
)
from pipeline.ingest.reader.xlsx_grid import column_letter
from pipeline.ingest.sidecar import Sidecar, declared_format

# A unit line above the header: 单位：万元 anywhere in a cell, or a cell that is just (亿元) / （元）.
UNIT_LINE_PATTERN = re.compile(r"单位\s*[:：]\s*([^\s,，;；()（）]+)")
BRACKETED_UNIT_PATTERN = re.compile(r"^[(（]\s*([^()（）]+?)\s*[)）]$")
# Separators a CSV is tried with when no header is found with the declared one (a ;- or tab-separated export).
OTHER_SEPARATORS = (";", "\t", ",", "|", "；")
# A notes row below the data ends the table: 注：…, 注1. …, 资料来源：…
FOOTER_PATTERN = re.compile(r"^(注|资料来源|数据来源|说明|备注)\s*[:：0-9①-⑩]")


def locate_table(grid: Grid, sidecar: Sidecar, file_name: str, units: dict[str, tuple[str, float]]) -> Table:
    """Find the header below any title rows, check a printed unit line, and cut off notes below the data."""
    first = first_filled_columns(grid)
    kept = np.flatnonzero(first >= 0)  # positions of the rows with any text
    if not len(kept):
        raise InputError([InputProblem(file_name, "empty_file", "the file has no cells", expected="a header and rows")])
    layout = sidecar.layout
    named = {role: normalise_label(layout[role]) for role in LAYOUT_COLUMN_ROLES if layout.get(role)}
    start = header_start(grid, kept, layout, named, file_name, csv_delimiter(sidecar))
    header_count = int(layout.get("header_rows", 1))
    header = grid_rows(grid, kept[start : start + header_count])
    data = kept[start + header_count :]
    footer = footer_position(grid, data, first[data])
    if footer is not None:
        data = data[:footer]
    problems = unit_line_problems(grid_rows(grid, kept[:start]), sidecar, file_name, units, grid.first_column)
    if not len(data):
        problems.append(
            InputProblem(
                file_name,
                "no_data_rows",
                "the table has a header but no data rows",
                row=header[-1].number,
                expected="at least one data row below the header",
            )
        )
    width = max(len(row.cells) for row in header)
    if not problems and not sidecar.fields.get("short_rows"):
        problems.extend(short_row_problems(grid, data, width, file_name))
    if problems:
        raise InputError(problems)
    parts = [[normalise_text(cell) for cell in row.cells] + [""] * (width - len(row.cells)) for row in header]
    roles = {}
    for column in range(width):
        keys = {normalise_label(part[column]) for part in parts}
        for role, name in named.items():
            if name in keys and role not in roles:
                roles[role] = column
    fill_spanning_headers(parts, set(roles.values()))
    names = [" ".join(part[column] for part in parts if part[column]) for column in range(width)]
    for role, column in roles.items():
        names[column] = layout[role]
    table = Table(names, parts, header[-1].number, grid_part(grid, data), roles, grid.first_column)
    check_header(table, sidecar, file_name, width, header)
    return table


def csv_delimiter(sidecar: Sidecar) -> str | None:
    """The field separator a CSV is read with (None for a workbook)."""
    return None if declared_format(sidecar.fields) == "xlsx" else str(sidecar.fields.get("delimiter", ","))


def describe_separator(separator: str) -> str:
    """A separator as a reader would name it: ';', a tab."""
    return "a tab" if separator == "\t" else repr(separator)


def separated_name(separator: str) -> str:
    """';'-separated, tab-separated."""
    return "tab-separated" if separator == "\t" else f"{separator!r}-separated"


def other_separator(rows: list[GridRow], names: set[str], delimiter: str | None) -> tuple[GridRow, str] | None:
    """The first row and the separator other than the declared one that split it into the layout's column names."""
    if delimiter is None or not names:
        return None
    wanted = min(2, len(names))
    for row in rows:
        line = delimiter.join(row.cells)
        for separator in OTHER_SEPARATORS:
            if separator != delimiter and separator in line:
                parts = {normalise_label(part) for part in line.split(separator)}
                if len(parts & names) >= wanted:
                    return row, separator
    return None


def separator_problem(
    found: tuple[GridRow, str], delimiter: str, names: set[str], file_name: str, rule: str
) -> InputProblem:
    """The header is there, separated by another character than the sidecar declares: say which, not 'encoding'."""
    row, separator = found
    line = delimiter.join(row.cells)
    shown = line if len(line) <= 60 else f"{line[:60]}…"
    return InputProblem(
        file_name,
        rule,
        f"the file is {separated_name(separator)}: row {row.number} ({shown!r}) names the layout's "
        f"columns {sorted(names)} when split at {describe_separator(separator)}, but the sidecar declares the "
        f"separator {describe_separator(delimiter)}{'' if delimiter != ',' else ' (the default)'}",
        row=row.number,
        expected=f"fields separated by {describe_separator(delimiter)} as declared, or `delimiter: "
        f"{json.dumps(separator)}` in the sidecar (then rehash) if the source publishes it that way",
    )


def short_row_problems(grid: Grid, data: np.ndarray, width: int, file_name: str) -> list[InputProblem]:
    """Every data row has the header's width: a shorter row is a cut-off file or a lost cell, never 'not available'."""
    short = data[grid.lengths[data] < width]
    problems = [
        InputProblem(
            file_name,
            "short_row",
            f"the row has {int(grid.lengths[position])} cells, the header {width}: cells are missing (a truncated file or a lost separator?)",
            row=int(grid.numbers[position]),
            expected=f"{width} cells in every row as in the header, or `short_rows: <why>` in the sidecar when the table is complete as printed",
        )
        for position in short[:20]
    ]
    if len(short) > 20:
        problems.append(
            InputProblem(
                file_name,
                "short_row",
                f"and {len(short) - 20} more rows shorter than the header",
                expected=f"{width} cells in every row",
            )
        )
    return problems


def header_start(
    grid: Grid, kept: np.ndarray, layout: dict, named: dict[str, str], file_name: str, delimiter: str | None = None
) -> int:
    """Index among the non-blank rows of the first header row: layout.header_row, or the first row naming a column."""
    if layout.get("header_row") is not None:
        matches = np.flatnonzero(grid.numbers[kept] == int(layout["header_row"]))
        if len(matches):
            return int(matches[0])
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "header_not_found",
                    f"row {layout['header_row']} (layout.header_row) is empty or outside the table",
                    expected="the number of the table's first header row",
                )
            ]
        )
    rows = grid_rows(grid, kept[:50])
    for index, row in enumerate(rows):
        keys = {normalise_label(cell) for cell in row.cells}
        if keys & set(named.values()):
            return index
    separated = other_separator(rows, set(named.values()), delimiter)
    if separated is not None and delimiter is not None:
        raise InputError([separator_problem(separated, delimiter, set(named.values()), file_name, "header_not_found")])
    encoding = grid.encoding
    garbled = f"; if the text looks garbled, check the sidecar's encoding ({encoding})" if encoding else ""
    raise InputError(
        [
            InputProblem(
                file_name,
                "header_not_found",
                f"no row among the first 50 names any of the layout's columns {sorted(named.values())}{garbled}",
                row=rows[0].number,
                expected="a header row with the columns the sidecar's layout names (or layout.header_row)",
            )
        ]
    )


def first_filled_columns(grid: Grid) -> np.ndarray:
    """Per row, the column of its first non-blank cell (-1 for a blank row); a column is checked only on the rows
    still blank left of it."""
    first = np.full(len(grid.numbers), -1, dtype="int64")
    pending = np.arange(len(grid.numbers))
    for position, column in enumerate(grid.columns):
        if not len(pending):
            break
        texts = column if len(pending) == len(column) else column.take(pa.array(pending, type=pa.int64()))
        found = nonblank_cells(texts)
        first[pending[found]] = position
        pending = pending[~found]
    return first


def footer_position(grid: Grid, positions: np.ndarray, first: np.ndarray) -> int | None:
    """Index among these rows (none blank; first: the column of each one's first non-blank cell) of the first whose
    first non-blank cell opens the notes (注：…, 资料来源：…), or None."""
    footer = np.zeros(len(positions), dtype=bool)
    for column in np.unique(first):
        chosen = np.flatnonzero(first == column)
        texts = grid.columns[column].take(pa.array(positions[chosen], type=pa.int64()))
        footer[chosen] = per_distinct_text(texts, lambda text: bool(FOOTER_PATTERN.match(normalise_text(text))), bool)
    hits = np.flatnonzero(footer)
    return int(hits[0]) if len(hits) else None


def fill_spanning_headers(parts: list[list[str]], id_columns: set[int]) -> None:
    """In multi-row headers, carry a group heading (城镇居民 over several years) right across empty cells."""
    for part in parts[:-1]:
        for column in range(1, len(part)):
            if not part[column] and column not in id_columns and column - 1 not in id_columns and part[column - 1]:
                part[column] = part[column - 1]


def unit_line_problems(
    title_rows: list[GridRow], sidecar: Sidecar, file_name: str, units: dict[str, tuple[str, float]], first_column: int
) -> list[InputProblem]:
    """A unit printed above the header (单位：万元, (亿元)) must be known and agree with the sidecar's unit."""
    problems = []
    declared = normalise_text(sidecar.fields["unit"])
    for row in title_rows:
        for position, raw in enumerate(row.cells):
            text = normalise_text(raw)
            match = UNIT_LINE_PATTERN.search(text)
            printed = match.group(1) if match else None
            bracketed = BRACKETED_UNIT_PATTERN.match(text)
            if printed is None and bracketed and bracketed.group(1) in units:
                printed = bracketed.group(1)
            if printed is None:
                continue
            cell = f"{column_letter(first_column + position)}{row.number}"
            if printed not in units:
                problems.append(
                    InputProblem(
                        file_name,
                        "unknown_unit",
                        f"unit line {raw.strip()!r} names unit {printed!r}, which is not in pipeline/metadata/units.csv",
                        row=row.number,
                        cell=cell,
                        expected=", ".join(units),
                    )
                )
            elif printed != declared:
                problems.append(
                    InputProblem(
                        file_name,
                        "unit_line_mismatch",
                        f"the table prints unit {printed!r} ({raw.strip()!r}) but the sidecar declares {declared!r}",
                        row=row.number,
                        cell=cell,
                        expected=f"the sidecar's unit and multiplier to match the printed unit {printed!r}",
                    )
                )
    return problems


def check_header(table: Table, sidecar: Sidecar, file_name: str, width: int, header: list[GridRow]) -> None:
    """Every column the layout names is present, header names are unique, rows are no wider than the header."""
    layout = sidecar.layout
    delimiter = csv_delimiter(sidecar)
    missing = {normalise_label(layout[role]) for role in LAYOUT_COLUMN_ROLES if layout.get(role)} - set(
        normalise_label(name) for name in table.names
    )
    separated = other_separator(header, missing, delimiter) if missing else None
    if separated is not None and delimiter is not None:
        raise InputError([separator_problem(separated, delimiter, missing, file_name, "missing_column")])
    problems = [
        InputProblem(
            file_name,
            "missing_column",
            f"the header has no column {layout[role]!r} ({role})",
            row=table.header_row,
            column=str(layout[role]),
            expected=f"the header to name it; header is {[name for name in table.names if name]}",
        )
        for role in LAYOUT_COLUMN_ROLES
        if layout.get(role) and role not in table.roles
    ]
    seen: dict[str, int] = {}  # header name → its first column
    for column, name in enumerate(table.names):
        if name and name in seen:
            problems.append(
                InputProblem(
                    file_name,
                    "duplicate_column",
                    f"column {name!r} appears twice (columns {column_letter(table.first_column + seen[name])} and {column_letter(table.first_column + column)})",
                    row=table.header_row,
                    column=name,
                    expected="unique header names",
                )
            )
        seen.setdefault(name, column)
    if problems:
        raise InputError(problems)


def cell_reference(table: Table, row: GridRow, column: int) -> str:
    """Spreadsheet-style reference of a cell (C7), counted from the file's or sheet's first column."""
    return f"{column_letter(table.first_column + column)}{row.number}"


def cell_name(column_number: int, row_number: int) -> str:
    """Spreadsheet-style reference of a cell (C7) from its column number (1 = A) and row number."""
    return f"{column_letter(int(column_number))}{int(row_number)}"


def row_cell(row: GridRow, column: int | None) -> str:
    """The text of a row's cell, empty where the row is short or no column is given."""
    if column is None or column >= len(row.cells):
        return ""
    return row.cells[column]
