"""Wide and long layouts: the value cells of a located table with their row, column and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.frames import spread_texts
from pipeline.ingest.cells import normalise_label, parse_year
from pipeline.ingest.reader.locate import cell_reference, row_cell
from pipeline.ingest.reader.model import Grid, GridRow, Table, grid_rows, nonblank_cells, spread_column
from pipeline.ingest.reader.xlsx_grid import column_letter


def wide_cells(table: Table, layout: dict, file_name: str) -> pd.DataFrame:
    """Figures in a grid: one record per value cell, with the year (and label) from its header."""
    roles = table.roles
    data = table.data
    id_columns = set(roles.values())
    ignored = {normalise_label(name) for name in layout.get("ignore_columns") or []}
    value_columns = [
        column
        for column, name in enumerate(table.names)
        if column not in id_columns
        and normalise_label(name) not in ignored
        and (name or nonblank_cells(data.columns[column]).any())
    ]
    problems = []
    headings = {}
    for column in value_columns:
        parts = [part[column] for part in table.header_parts if part[column]]
        years = [year for year in map(parse_year, parts) if year is not None]
        label_parts = [part for part in parts if parse_year(part) is None]
        year = years[0] if years else layout.get("year")
        if year is None:
            problems.append(
                InputProblem(
                    file_name,
                    "no_year",
                    f"header cell {column_letter(table.first_column + column)}{table.header_row} {table.names[column] or '(blank)'!r} is not a year (a typo such as 2O23, or a text column) and the layout gives no year",
                    row=table.header_row,
                    column=table.names[column],
                    cell=f"{column_letter(table.first_column + column)}{table.header_row}",
                    expected="a header such as 2023 or 2023年, layout.year, or the column named in layout.ignore_columns when it holds no figures to read",
                )
            )
            continue
        headings[column] = (int(year), " ".join(label_parts))
    if problems:
        raise InputError(problems)
    if not headings:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "no_year_columns",
                    "a wide table needs value columns",
                    row=table.header_row,
                    expected="headers such as 2023 or 2023年",
                )
            ]
        )
    extra = [nonblank_cells(column) for column in data.columns[len(table.names) :]]
    if extra:
        beyond = np.vstack(extra)  # one row per column right of the header
        for position in np.flatnonzero(beyond.any(axis=0)):
            row = grid_rows(data, np.array([position]))[0]
            column = len(table.names) + int(np.argmax(beyond[:, position]))
            problems.append(ragged_row_problem(table, row, column, file_name))
    if problems:
        raise InputError(problems)
    return wide_cell_frame(table, layout, headings)


def wide_cell_frame(table: Table, layout: dict, headings: dict[int, tuple[int, str]]) -> pd.DataFrame:
    """The value cells of a wide table, row by row and left to right, built column-wise (what cell_record gives per cell)."""
    roles = table.roles
    data = table.data
    columns = list(headings)
    row_count = len(data.numbers)
    if not row_count or not columns:
        return pd.DataFrame()
    per_column = len(columns)
    row_positions = np.repeat(np.arange(row_count), per_column)
    column_positions = np.tile(np.arange(per_column), row_count)
    every_cell = np.zeros(len(row_positions), dtype="int64")

    def per_cell(texts: list[str]) -> pd.api.extensions.ExtensionArray:
        """One text per value column, repeated for every row."""
        return spread_texts(texts, column_positions)

    letters = [column_letter(table.first_column + column) for column in columns]
    if "label_column" in roles:
        labels = spread_column(data.columns[roles["label_column"]], row_positions)
    else:
        labels = per_cell([str(layout.get("label", headings[column][1])) for column in columns])
    if "region_column" in roles:
        printed_regions = spread_column(data.columns[roles["region_column"]], row_positions)
    else:
        printed_regions = spread_texts([str(layout.get("region", ""))], every_cell)
    if "unit_column" in roles:
        printed_units = spread_column(data.columns[roles["unit_column"]], row_positions)
    else:
        printed_units = spread_texts([""], every_cell)
    return pd.DataFrame(
        {
            "source_row": np.repeat(data.numbers.astype("int64"), per_column),
            "column_number": np.tile(np.array([table.first_column + column for column in columns]), row_count),
            "source_column": per_cell([table.names[column] or letters[index] for index, column in enumerate(columns)]),
            "printed_label": labels,
            "printed_region": printed_regions,
            "printed_unit": printed_units,
            "year": np.tile(np.array([headings[column][0] for column in columns], dtype="int64"), row_count),
            "raw_value": value_cells(data, columns),
        },
        copy=False,  # every column is a fresh array of its own: no second copy into consolidated blocks
    )


def value_cells(data: Grid, columns: list[int]) -> pd.api.extensions.ExtensionArray:
    """The texts of the value cells, row by row and left to right ('' where a row is short), as one text array."""
    row_count = len(data.numbers)
    stacked = pa.concat_arrays([data.columns[column] for column in columns])  # column after column
    order = (np.arange(len(columns))[None, :] * row_count + np.arange(row_count)[:, None]).ravel()
    return pd.array(stacked.take(pa.array(order, type=pa.int64())), dtype="str")


def long_cells(table: Table, layout: dict, file_name: str) -> pd.DataFrame:
    """One figure per row, with label, value and optionally year, region and unit columns."""
    roles = table.roles
    value_column = roles["value_column"]
    problems = []
    records = []
    for row in grid_rows(table.data, np.arange(len(table.data.numbers))):
        extra = [column for column in range(len(table.names), len(row.cells)) if row.cells[column].strip()]
        if extra:
            problems.append(ragged_row_problem(table, row, extra[0], file_name))
            continue
        if "year_column" in roles:
            printed_year = row_cell(row, roles["year_column"])
            year = parse_year(printed_year)
            if year is None:
                problems.append(
                    InputProblem(
                        file_name,
                        "year_format",
                        f"{printed_year!r} is not a year",
                        row=row.number,
                        column=str(layout["year_column"]),
                        cell=cell_reference(table, row, roles["year_column"]),
                        expected="a year such as 2023 or 2023年",
                    )
                )
                continue
        elif layout.get("year") is not None:
            year = int(layout["year"])
        else:
            raise InputError(
                [
                    InputProblem(
                        file_name,
                        "no_year",
                        "the layout has neither year_column nor year",
                        expected="layout.year_column or layout.year",
                    )
                ]
            )
        label = row_cell(row, roles["label_column"]) if "label_column" in roles else layout.get("label", "")
        records.append(
            cell_record(
                table, row, value_column, layout, label=str(label), year=year, year_column=layout.get("year_column")
            )
        )
    if problems:
        raise InputError(problems)
    return pd.DataFrame.from_records(records)


def ragged_row_problem(table: Table, row: GridRow, column: int, file_name: str) -> InputProblem:
    """A row with figures beyond the last header column."""
    return InputProblem(
        file_name,
        "ragged_row",
        f"the row has {len(row.cells)} cells, more than the header's {len(table.names)}",
        row=row.number,
        cell=cell_reference(table, row, column),
        expected="no cells right of the header (a stray comma or a shifted row?)",
    )


def cell_record(
    table: Table, row: GridRow, column: int, layout: dict, label: str, year: int, year_column: str | None
) -> dict:
    """One value cell with everything needed to stage it and to point back at it."""
    roles = table.roles
    return {
        "source_row": row.number,
        "column_number": table.first_column + column,
        "source_column": table.names[column] or column_letter(table.first_column + column),
        "printed_label": label,
        "printed_region": row_cell(row, roles["region_column"])
        if "region_column" in roles
        else str(layout.get("region", "")),
        "printed_unit": row_cell(row, roles["unit_column"]) if "unit_column" in roles else "",
        "year": year,
        "year_column": year_column,
        "raw_value": row_cell(row, column),
    }
