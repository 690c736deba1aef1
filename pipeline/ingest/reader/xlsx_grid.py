"""Reading an XLSX sheet into a grid: archive limits, merged cells and cached formula values."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.reader import model
from pipeline.ingest.reader.model import Grid, GridRow, check_grid_size, grid_of_rows
from pipeline.ingest.sidecar import Sidecar


def read_xlsx_grid(sidecar: Sidecar, file_name: str) -> Grid:
    """A worksheet (or its cell_range) as rows of text, with merged cells filled and formulas' values."""
    import openpyxl
    from openpyxl.utils.cell import range_boundaries

    path = sidecar.data_path
    check_xlsx_archive(path, file_name)
    try:
        workbook = openpyxl.load_workbook(path, data_only=False)
    except Exception as error:  # openpyxl raises many kinds of errors on broken files
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "xlsx_corrupt",
                    f"the workbook cannot be opened: {type(error).__name__}: {error}",
                    expected="a complete .xlsx workbook as published",
                )
            ]
        ) from error
    sheet_name = sidecar.fields.get("sheet")
    if sheet_name is None and len(workbook.sheetnames) > 1:
        raise InputError(
            [
                InputProblem(
                    str(sidecar.path),
                    "xlsx_sheet",
                    f"the workbook has {len(workbook.sheetnames)} sheets and the sidecar names none",
                    column="sheet",
                    expected=f"sheet: one of {workbook.sheetnames}",
                )
            ]
        )
    if sheet_name is not None and str(sheet_name) not in workbook.sheetnames:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "xlsx_sheet",
                    f"no sheet named {sheet_name!r}",
                    column="sheet",
                    expected=f"one of {workbook.sheetnames}",
                )
            ]
        )
    sheet = workbook[str(sheet_name)] if sheet_name is not None else workbook.worksheets[0]
    if sidecar.fields.get("cell_range"):
        min_column, min_row, max_column, max_row = range_boundaries(str(sidecar.fields["cell_range"]))
    else:
        min_column, min_row, max_column, max_row = 1, 1, sheet.max_column, sheet.max_row
    check_grid_size(max_row - min_row + 1, max_column - min_column + 1, file_name)
    merged = merged_values(sheet)
    cached = cached_formula_values(path, sheet.title) if has_formulas(sheet) else {}
    rows = []
    problems = []
    for row_number in range(min_row, max_row + 1):
        texts = []
        for column_number in range(min_column, max_column + 1):
            cell = sheet.cell(row_number, column_number)
            value = merged.get((row_number, column_number), cell)
            if cell.data_type == "f":
                value = cached.get(cell.coordinate)
                if value is None:
                    problems.append(
                        InputProblem(
                            file_name,
                            "xlsx_formula",
                            f"cell {cell.coordinate} holds a formula without a saved value",
                            row=row_number,
                            cell=cell.coordinate,
                            expected="values (open and save the workbook in a spreadsheet program)",
                        )
                    )
                texts.append(value_text(value, cell.number_format))
                continue
            texts.append(value_text(value.value, value.number_format))
        rows.append(GridRow(row_number, texts))
    if problems:
        raise InputError(problems)
    return grid_of_rows(rows, first_column=min_column)


def check_xlsx_archive(path: Path, file_name: str) -> None:
    """An XLSX is a zip archive: it must be complete, and not expand beyond the limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
            sheets = [
                member
                for member in archive.infolist()
                if member.filename.startswith("xl/worksheets/") and member.file_size > model.MAX_XLSX_SHEET_BYTES
            ]
            broken = archive.testzip() if expanded <= model.MAX_XLSX_UNCOMPRESSED_BYTES else None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "xlsx_corrupt",
                    f"not a readable .xlsx (zip) file: {error}",
                    expected="a complete .xlsx workbook as published (truncated downloads fail here)",
                )
            ]
        ) from error
    if sheets:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "table_size",
                    f"worksheet {sheets[0].filename} expands to {sheets[0].file_size:,} bytes of XML, over the limit of {model.MAX_XLSX_SHEET_BYTES:,} (a sheet far larger than a published table)",
                    expected=f"worksheets of at most {model.MAX_XLSX_SHEET_BYTES // (1024 * 1024)} MiB uncompressed; cut the workbook down to the published table",
                )
            ]
        )
    if expanded > model.MAX_XLSX_UNCOMPRESSED_BYTES:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "file_size",
                    f"the workbook expands to {expanded:,} bytes, over the limit of {model.MAX_XLSX_UNCOMPRESSED_BYTES:,}",
                    expected="a workbook of at most 100 MiB uncompressed",
                )
            ]
        )
    if broken is not None:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "xlsx_corrupt",
                    f"member {broken} of the workbook fails its checksum",
                    expected="a complete .xlsx workbook",
                )
            ]
        )


def merged_values(sheet) -> dict[tuple[int, int], Any]:
    """Every cell inside a merged range → the range's top-left cell (which holds the printed value)."""
    filled = {}
    for merged_range in sheet.merged_cells.ranges:
        top_left = sheet.cell(merged_range.min_row, merged_range.min_col)
        for row_number in range(merged_range.min_row, merged_range.max_row + 1):
            for column_number in range(merged_range.min_col, merged_range.max_col + 1):
                filled[(row_number, column_number)] = top_left
    return filled


def has_formulas(sheet) -> bool:
    """True when any cell of the sheet holds a formula."""
    return any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def cached_formula_values(path: Path, sheet_name: str) -> dict[str, object]:
    """The values saved with the workbook for its formula cells (what a reader of the file sees)."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, data_only=True)
    return {cell.coordinate: cell.value for row in workbook[sheet_name].iter_rows() for cell in row}


def value_text(value: object, number_format: str | None) -> str:
    """A cell value as the text a reader sees: numbers with the decimals of their number format, % applied."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        number_format = number_format or "General"
        percent = "%" in number_format
        number = value * 100 if percent else value
        decimals = re.search(r"0\.(0+)", number_format)
        if decimals:
            text = f"{number:.{len(decimals.group(1))}f}"
        elif "0" in number_format:
            text = f"{number:.0f}"
        else:
            text = format(number, ".15g") if isinstance(number, float) else str(number)
        return text + ("%" if percent else "")
    return str(value)


def column_letter(number: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
