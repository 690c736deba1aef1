"""The generic table reader: a raw table plus its sidecar → tidy staged observations with lineage."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as arrow_csv

from pipeline.cells import CellError, ParsedCell, normalise_label, normalise_text, parse_cell, parse_year
from pipeline.errors import InputError, InputProblem
from pipeline.frames import categorical_texts, packed_keys, spread_texts, stacked_frames
from pipeline.metadata import METADATA_DIR, load_indicator_catalog
from pipeline.sidecar import CELL_RANGE_PATTERN, MAX_FILE_BYTES, Sidecar, declared_format

FIRST_YEAR = 1949
STAGED_COLUMNS = [
    "source_id",
    "source_file",
    "source_row",
    "source_column",
    "printed_label",
    "region_code",
    "year",
    "indicator_code",
    "value",
    "unit",
    "status",
    "rounding_radius",
]
# Text columns of the staged tables, held as categoricals (codes + sorted distinct texts) while in memory; the
# published types stay text (the warehouse and the release decode them).
TEXT_COLUMNS = [
    "source_id",
    "source_file",
    "source_column",
    "printed_label",
    "region_code",
    "indicator_code",
    "unit",
    "status",
]
STAGED_DTYPES = {
    **dict.fromkeys(TEXT_COLUMNS, "str"),
    "source_row": "int64",
    "year": "int64",
    "value": "float64",
    "rounding_radius": "float64",
}
# Size limits (besides MAX_FILE_BYTES, 20 MiB, checked on the file before it is hashed): rows and columns
# of the grid read, and the uncompressed size of an XLSX (a zip archive; this stops zip bombs).
MAX_ROWS = 100_000
MAX_COLUMNS = 1_000
MAX_XLSX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
BOUNDARY_CHANGES_FILE = METADATA_DIR / "boundary_changes.csv"
# A unit line above the header: 单位：万元 anywhere in a cell, or a cell that is just (亿元) / （元）.
UNIT_LINE_PATTERN = re.compile(r"单位\s*[:：]\s*([^\s,，;；()（）]+)")
BRACKETED_UNIT_PATTERN = re.compile(r"^[(（]\s*([^()（）]+?)\s*[)）]$")
# A notes row below the data ends the table: 注：…, 注1. …, 资料来源：…
FOOTER_PATTERN = re.compile(r"^(注|资料来源|数据来源|说明|备注)\s*[:：0-9①-⑩]")
# Leading markers of sub-items in region columns: 其中：荔湾区, #荔湾区.
REGION_PREFIX_PATTERN = re.compile(r"^(其中[:：]?|#)")
LAYOUT_COLUMN_ROLES = ("label_column", "region_column", "year_column", "value_column", "unit_column")
# Cells the bulk path parses without Python, in one vectorised pass: plain ASCII decimals, no sign but '-', no
# grouping, no exponent, at most 15 digits each side (so Arrow's and Python's float parsing agree and stay finite).
# Every other cell (placeholders, footnotes, full-width digits, %, 12,345) goes through parse_cell once per text.
PLAIN_NUMBER_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridRow:
    """One row of the raw table as printed: its row number in the file or sheet and its cells as text."""

    number: int
    cells: list[str]


@dataclass
class Grid:
    """The raw table as columns of text (one Arrow array per column, '' where a row is short), with each row's
    number in the file or sheet and its count of cells, and the number of its first column (1 = A)."""

    columns: list[pa.Array]
    numbers: np.ndarray
    lengths: np.ndarray
    first_column: int = 1
    encoding: str | None = None


@dataclass
class Table:
    """A located table: header names per column, the data rows (a Grid) and the roles of the named columns."""

    names: list[str]
    header_parts: list[list[str]]
    header_row: int
    data: Grid
    roles: dict[str, int] = field(default_factory=dict)
    first_column: int = 1


@dataclass(frozen=True)
class BoundaryChange:
    """A former region: renamed (same territory) or merged into another region in a given year."""

    old_code: str
    old_name: str
    new_code: str
    new_name: str
    change: str
    year: int
    note: str


def read_source_table(
    sidecar: Sidecar,
    raw_dir: Path,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date | None = None,
    *,
    indicator_catalog: pd.DataFrame | None = None,
    boundary_changes: list[BoundaryChange] | None = None,
) -> pd.DataFrame:
    """Read one raw table as its sidecar describes it; raise InputError listing every problem found."""
    file_name = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
    catalog = default_indicator_catalog() if indicator_catalog is None else indicator_catalog
    changes = load_boundary_changes() if boundary_changes is None else boundary_changes
    check_sidecar_against_metadata(sidecar, units, catalog)
    grid = read_grid(sidecar, file_name)
    table = locate_table(grid, sidecar, file_name, units)
    layout = sidecar.layout
    cells = wide_cells(table, layout, file_name) if layout["kind"] == "wide" else long_cells(table, layout, file_name)
    return stage_cells(cells, sidecar, file_name, region_lookup, units, today or dt.date.today(), catalog, changes)


def default_indicator_catalog(metadata_dir: Path = METADATA_DIR) -> pd.DataFrame:
    """A metadata folder's indicator catalogue, parsed once per version of indicators.yaml (YAML parsing is slow)."""
    path = metadata_dir / "indicators.yaml"
    return cached_indicator_catalog(str(metadata_dir), path.stat().st_mtime_ns, path.stat().st_size)


@lru_cache(maxsize=4)
def cached_indicator_catalog(metadata_dir: str, modified: int, size: int) -> pd.DataFrame:
    """The indicator catalogue for one version (modification time and size) of a folder's indicators.yaml."""
    return load_indicator_catalog(Path(metadata_dir))


def load_boundary_changes(path: Path = BOUNDARY_CHANGES_FILE) -> list[BoundaryChange]:
    """The crosswalk of former regions (pipeline/metadata/boundary_changes.csv)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [
        BoundaryChange(row.old_code, row.old_name, row.new_code, row.new_name, row.change, int(row.year), row.note)
        for row in frame.itertuples(index=False)
    ]


def check_sidecar_against_metadata(
    sidecar: Sidecar, units: dict[str, tuple[str, float]], catalog: pd.DataFrame
) -> None:
    """The sidecar's unit, multiplier and indicator codes exist in the metadata files."""
    fields = sidecar.fields
    problems = []
    name = str(sidecar.path)
    if normalise_text(fields["unit"]) not in units:
        problems.append(
            InputProblem(
                name,
                "unknown_unit",
                f"unit {fields['unit']!r} is not in pipeline/metadata/units.csv",
                column="unit",
                expected=", ".join(units),
            )
        )
    elif float(fields["multiplier"]) != units[normalise_text(fields["unit"])][1]:
        problems.append(
            InputProblem(
                name,
                "unit_multiplier",
                f"multiplier {fields['multiplier']} does not match unit {fields['unit']!r}",
                column="multiplier",
                expected=str(units[normalise_text(fields["unit"])][1]),
            )
        )
    known = set(catalog["indicator_code"])
    for label, code in sidecar.labels.items():
        if code not in known:
            problems.append(
                InputProblem(
                    name,
                    "unknown_indicator",
                    f"label {label!r} maps to indicator {code!r}, which is not in pipeline/metadata/indicators.yaml",
                    column="labels",
                    expected="an indicator_code of the catalogue (add the indicator there first)",
                )
            )
    if problems:
        raise InputError(problems)


def read_grid(sidecar: Sidecar, file_name: str) -> Grid:
    """The raw file (CSV or XLSX) as rows of text; errors for oversize, undecodable or corrupt files."""
    size = sidecar.data_path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "file_size",
                    f"the file has {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}",
                    expected="a published table of at most 20 MiB",
                )
            ]
        )
    if size == 0:
        raise InputError(
            [InputProblem(file_name, "empty_file", "the file is empty", expected="a header and data rows")]
        )
    if declared_format(sidecar.fields) == "xlsx":
        return read_xlsx_grid(sidecar, file_name)
    return read_csv_grid(sidecar, file_name)


def read_csv_grid(sidecar: Sidecar, file_name: str) -> Grid:
    """A CSV as rows of text, each with the line on which it starts."""
    data = sidecar.data_path.read_bytes()
    text, encoding = decode_text(data, str(sidecar.fields["encoding"]).lower(), file_name, expected_texts(sidecar))
    if not text.strip():
        raise InputError(
            [InputProblem(file_name, "empty_file", "the file holds no text", expected="a header and data rows")]
        )
    delimiter = str(sidecar.fields.get("delimiter", ","))
    columns = arrow_csv_columns(text, delimiter)
    if columns is not None:
        count = len(columns[0])
        numbers = np.arange(1, count + 1, dtype="int64")
        return Grid(columns, numbers, np.full(count, len(columns), dtype="int64"), encoding=encoding)
    return csv_module_grid(text, delimiter, file_name, encoding)


def csv_module_grid(text: str, delimiter: str, file_name: str, encoding: str | None = None) -> Grid:
    """A CSV read row by row with the csv module (any quoting, ragged rows), each row with the line it starts on."""
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 0
    try:
        for cells in reader:
            rows.append(GridRow(line + 1, cells))
            line = reader.line_num
            check_grid_size(len(rows), len(cells), file_name)
    except csv.Error as error:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "csv_syntax",
                    f"not a well-formed CSV: {error}",
                    row=reader.line_num,
                    expected="fields separated by commas, quotes balanced",
                )
            ]
        ) from error
    return grid_of_rows(rows, encoding=encoding)


def arrow_csv_columns(text: str, delimiter: str) -> list[pa.Array] | None:
    """The CSV's columns read by Arrow, only where that provably gives the csv module's grid, else None.

    That is: no quote character, no NUL, no byte order mark, no carriage return but in CR LF, no empty line (so every
    line is one row and row numbers are line numbers), every row as wide as the first, no field at the csv module's
    size limit, and the table within MAX_ROWS and MAX_COLUMNS (the csv module path reports the others).
    """
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n\x00' or text.startswith("\ufeff"):
        return None
    data = text.encode("utf-8")
    if b'"' in data or b"\x00" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    if data.startswith((b"\n", b"\r\n")) or b"\n\n" in data or b"\n\r\n" in data:
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    end = text.find("\n")
    width = (text if end < 0 else text[:end]).count(delimiter) + 1
    if lines > MAX_ROWS or width > MAX_COLUMNS:
        return None
    try:
        read = arrow_csv.read_csv(
            io.BytesIO(data),
            read_options=arrow_csv.ReadOptions(autogenerate_column_names=True),
            parse_options=arrow_csv.ParseOptions(
                delimiter=delimiter, quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=arrow_csv.ConvertOptions(
                column_types={f"f{column}": pa.string() for column in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if read.num_rows != lines or read.num_columns != width:
        return None
    columns = [column.combine_chunks() for column in read.columns]
    limit = csv.field_size_limit()
    if any((pc.max(pc.utf8_length(column)).as_py() or 0) >= limit for column in columns):
        return None
    return columns


def grid_of_rows(rows: list[GridRow], first_column: int = 1, encoding: str | None = None) -> Grid:
    """Rows of text as a Grid: one text array per column, '' where a row is short."""
    width = max((len(row.cells) for row in rows), default=0)
    columns = [
        pa.array([row.cells[column] if column < len(row.cells) else "" for row in rows], type=pa.string())
        for column in range(width)
    ]
    numbers = np.array([row.number for row in rows], dtype="int64")
    lengths = np.array([len(row.cells) for row in rows], dtype="int64")
    return Grid(columns, numbers, lengths, first_column, encoding)


def grid_rows(grid: Grid, positions: np.ndarray) -> list[GridRow]:
    """The grid's rows at these positions, each with its cells as read (short rows stay short)."""
    positions = np.asarray(positions, dtype="int64")
    if not len(positions):
        return []
    index = pa.array(positions)
    texts = [column.take(index).to_pylist() for column in grid.columns]
    return [
        GridRow(int(grid.numbers[position]), [texts[column][place] for column in range(int(grid.lengths[position]))])
        for place, position in enumerate(positions)
    ]


def grid_part(grid: Grid, positions: np.ndarray) -> Grid:
    """The grid's rows at these positions (a slice where they are consecutive) as a Grid of their own."""
    positions = np.asarray(positions, dtype="int64")
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        columns = [column.slice(int(positions[0]), len(positions)) for column in grid.columns]
    else:
        index = pa.array(positions, type=pa.int64())
        columns = [column.take(index) for column in grid.columns]
    return Grid(columns, grid.numbers[positions], grid.lengths[positions], grid.first_column, grid.encoding)


def nonblank_cells(column: pa.Array) -> np.ndarray:
    """True for cells with text besides whitespace (what str.strip() leaves non-empty), per cell of a column.

    A printable ASCII character other than space settles it in one vectorised pass; the other cells are checked
    with str.strip() once per distinct text.
    """
    found = pc.fill_null(pc.match_substring_regex(column, "[!-~]"), False).to_numpy(zero_copy_only=False).copy()
    rest = np.flatnonzero(~found)
    if len(rest):
        found[rest] = per_distinct_text(column.take(pa.array(rest)), lambda text: bool(text.strip()), bool)
    return found


def per_distinct_text(texts: pa.Array, function, dtype) -> np.ndarray:
    """function applied once per distinct text of an Arrow text array, spread back to every cell."""
    encoded = pc.dictionary_encode(texts)
    results = np.array([function(text) for text in encoded.dictionary.to_pylist()], dtype=dtype)
    return results[encoded.indices.to_numpy(zero_copy_only=False)]


def spread_column(texts: pa.Array, positions: np.ndarray) -> pd.Categorical:
    """texts[position] for every position, as a categorical over the sorted distinct texts used (see spread_texts)."""
    encoded = pc.dictionary_encode(texts)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int64")
    return spread_texts(encoded.dictionary.to_pylist(), codes[positions])


def expected_texts(sidecar: Sidecar) -> list[str]:
    """Texts a correctly decoded table must contain: the layout's column names and the printed labels."""
    names = [str(sidecar.layout[role]) for role in LAYOUT_COLUMN_ROLES if sidecar.layout.get(role)]
    return [normalise_label(text) for text in [*names, *sidecar.labels]]


def decode_text(data: bytes, declared: str, file_name: str, expected: list[str]) -> tuple[str, str]:
    """Decode with the declared encoding, or detect it (encoding: auto) and say what was detected."""
    if declared == "auto":
        return detect_encoding(data, file_name, expected)
    codec = "utf-8-sig" if declared in ("utf-8", "utf-8-sig") else declared
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        hint = ""
        for alternative in ("utf-8-sig", "gb18030"):
            if alternative != codec and decodes(data, alternative):
                hint = f"; the bytes do decode as {alternative}"
                break
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "encoding",
                    f"byte {error.start} (0x{data[error.start : error.end].hex()}) does not decode as {declared}{hint}",
                    row=line,
                    expected=f"text in the declared encoding {declared}; fix the sidecar's encoding or the file",
                )
            ]
        ) from error
    if codec != "utf-8-sig" and not data.isascii() and decodes(data, "utf-8"):
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "encoding",
                    f"the sidecar declares {declared}, but the file is valid UTF-8 (it would read as mojibake)",
                    expected="encoding: utf-8 in the sidecar",
                )
            ]
        )
    return text, codec


def decodes(data: bytes, codec: str) -> bool:
    """True when the bytes decode strictly in this codec."""
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(data: bytes, file_name: str, expected: list[str]) -> tuple[str, str]:
    """UTF-8 (with or without BOM) or GB18030, only when the evidence is unambiguous; log what was detected."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            [
                InputProblem(
                    file_name, "encoding", "the file is UTF-16", expected="UTF-8, UTF-8 with BOM, GBK or GB18030"
                )
            ]
        )
    if data.startswith(b"\xef\xbb\xbf") and decodes(data, "utf-8-sig"):
        encoding, evidence = "utf-8-sig", "a UTF-8 byte order mark"
    elif decodes(data, "utf-8"):
        encoding, evidence = "utf-8", "every byte sequence is valid UTF-8"
    elif decodes(data, "gb18030"):
        encoding, evidence = "gb18030", "not valid UTF-8, valid GB18030"
        text = normalise_label(data.decode("gb18030"))
        if not any(item and item in text for item in expected):
            raise InputError(
                [
                    InputProblem(
                        file_name,
                        "encoding",
                        "encoding: auto, and the file decodes as GB18030 but none of the sidecar's column names or labels appear in it, so the guess cannot be confirmed",
                        expected="a declared encoding in the sidecar",
                    )
                ]
            )
    else:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "encoding",
                    "encoding: auto, and the file decodes neither as UTF-8 nor as GB18030",
                    expected="a file in UTF-8, UTF-8 with BOM, GBK or GB18030",
                )
            ]
        )
    logger.warning(
        "%s: encoding not declared; detected %s (%s). Declare `encoding: %s` in the sidecar.",
        file_name,
        encoding,
        evidence,
        encoding,
    )
    return data.decode(encoding), encoding


def check_grid_size(rows: int, columns: int, file_name: str) -> None:
    """Raise when a table has more rows or columns than the stated limits."""
    if rows > MAX_ROWS or columns > MAX_COLUMNS:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "table_size",
                    f"the table reaches {rows:,} rows and {columns:,} columns",
                    expected=f"at most {MAX_ROWS:,} rows and {MAX_COLUMNS:,} columns",
                )
            ]
        )


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
            broken = archive.testzip() if expanded <= MAX_XLSX_UNCOMPRESSED_BYTES else None
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
    if expanded > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "file_size",
                    f"the workbook expands to {expanded:,} bytes, over the limit of {MAX_XLSX_UNCOMPRESSED_BYTES:,}",
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


def merged_values(sheet) -> dict[tuple[int, int], object]:
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


def locate_table(grid: Grid, sidecar: Sidecar, file_name: str, units: dict[str, tuple[str, float]]) -> Table:
    """Find the header below any title rows, check a printed unit line, and cut off notes below the data."""
    first = first_filled_columns(grid)
    kept = np.flatnonzero(first >= 0)  # positions of the rows with any text
    if not len(kept):
        raise InputError([InputProblem(file_name, "empty_file", "the file has no cells", expected="a header and rows")])
    layout = sidecar.layout
    named = {role: normalise_label(layout[role]) for role in LAYOUT_COLUMN_ROLES if layout.get(role)}
    start = header_start(grid, kept, layout, named, file_name)
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
    if problems:
        raise InputError(problems)
    width = max(len(row.cells) for row in header)
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
    check_header(table, sidecar, file_name, width)
    return table


def header_start(grid: Grid, kept: np.ndarray, layout: dict, named: dict[str, str], file_name: str) -> int:
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


def check_header(table: Table, sidecar: Sidecar, file_name: str, width: int) -> None:
    """Every column the layout names is present, header names are unique, rows are no wider than the header."""
    layout = sidecar.layout
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
    seen = {}
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
        if year is None and ("label_column" in roles or layout.get("label")):
            # Years in the header: a column without a year (区划代码, 2015年比2014年增长(%)) holds no figure to read.
            logger.info("%s: column %r has no year in its header and is not read", file_name, table.names[column])
            continue
        if year is None:
            problems.append(
                InputProblem(
                    file_name,
                    "no_year",
                    f"column {table.names[column] or column_letter(table.first_column + column)!r} has no year in its header and the layout gives none",
                    row=table.header_row,
                    column=table.names[column],
                    expected="a header such as 2023 or 2023年, layout.year, or the column in layout.ignore_columns",
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
            row = grid_rows(data, [position])[0]
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


def combined_staged_tables(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Staged tables stacked in order, text columns categorical (one union of sorted categories), fresh index."""
    frames = [frame[STAGED_COLUMNS] for frame in frames if not frame.empty]
    if not frames:
        empty = pd.DataFrame({column: pd.Series([], dtype=STAGED_DTYPES[column]) for column in STAGED_COLUMNS})
        return categorical_texts(empty, TEXT_COLUMNS)
    return stacked_frames([categorical_texts(frame, TEXT_COLUMNS) for frame in frames])


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


def stage_cells(
    cells: pd.DataFrame,
    sidecar: Sidecar,
    file_name: str,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date,
    catalog: pd.DataFrame,
    changes: list[BoundaryChange],
) -> pd.DataFrame:
    """Map labels, regions and units to codes, parse values and apply status rules; collect every problem."""
    arguments = (cells, sidecar, file_name, region_lookup, units, today, catalog, changes)
    staged = cell_records_in_bulk(*arguments)
    problems: list[InputProblem] = []
    if staged is None:
        staged, problems = cell_records_one_by_one(*arguments)
    problems.extend(duplicate_problems(staged, file_name))
    if staged.empty and not problems:
        problems.append(
            InputProblem(
                file_name,
                "no_figures",
                "no figure was read from the table (every row blank or skipped)",
                expected="at least one figure, or the table removed from raw/",
            )
        )
    if problems:
        raise InputError(problems)
    fields = sidecar.fields
    staged = apply_status_rules(staged, fields.get("status") or [], str(sidecar.path))
    staged = staged[STAGED_COLUMNS]
    staged = staged.astype({"year": "int64", "source_row": "int64", "value": "float64", "rounding_radius": "float64"})
    return categorical_texts(staged, TEXT_COLUMNS)


def cell_records_in_bulk(
    cells: pd.DataFrame,
    sidecar: Sidecar,
    file_name: str,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date,
    catalog: pd.DataFrame,
    changes: list[BoundaryChange],
) -> pd.DataFrame | None:
    """The staged records computed once per distinct printed text; None when any cell has a problem (the one-by-one path names it)."""
    if cells.empty:
        return None
    fields = sidecar.fields
    declared_unit = normalise_text(fields["unit"])
    bounds = dict(zip(catalog["indicator_code"], catalog["unit"], strict=True))
    labels = {normalise_label(label): code for label, code in sidecar.labels.items()}
    skip_labels = {normalise_label(label) for label in fields.get("skip_labels") or []}
    skip_regions = {region_key(region) for region in fields.get("skip_regions") or []}
    regions = region_keys_of(tuple(region_lookup.items()))
    former = {region_key(change.old_name): change for change in changes}
    restated = fields.get("boundaries") == "restated"
    merged_into = {change.new_code: change for change in changes if change.change == "merged_into" and not restated}

    plain = plain_number_mask(cells["raw_value"])
    blank = np.zeros(len(cells), dtype=bool)  # a plain number is never blank
    blank[~plain] = per_distinct(cells["raw_value"][~plain], lambda raw: not str(raw).strip()).astype(bool)
    label_positions, printed_labels = distinct_values(cells["printed_label"])
    region_positions, printed_regions = distinct_values(cells["printed_region"])
    label_keys = [normalise_label(label) for label in printed_labels]
    region_keys = [region_key(region) for region in printed_regions]
    skipped = np.array([key in skip_labels for key in label_keys], dtype=bool)[label_positions]
    skipped |= np.array([key in skip_regions for key in region_keys], dtype=bool)[region_positions]
    no_label = np.array([key == "" for key in label_keys], dtype=bool)[label_positions]
    skipped |= no_label & np.array([key == "" for key in region_keys], dtype=bool)[region_positions] & blank
    if fields.get("blank_cells") == "not_transcribed":
        skipped |= blank
    kept = ~skipped
    if not kept.all():
        cells = cells[kept].reset_index(drop=True)
        label_positions, region_positions, plain = label_positions[kept], region_positions[kept], plain[kept]
    if cells.empty:
        return pd.DataFrame(columns=[*STAGED_COLUMNS, "column_number"])

    indicator_of_label = [labels.get(key) for key in label_keys]
    years = cells["year"].to_numpy(dtype="int64", copy=True)
    used_labels = np.flatnonzero(np.bincount(label_positions, minlength=len(label_keys)))
    if any(indicator_of_label[position] is None for position in used_labels):
        return None
    if not ((years >= FIRST_YEAR) & (years <= today.year)).all():
        return None
    # A region is resolved once per printed name; whether a figure lies on a former boundary depends on its year.
    used_regions = np.flatnonzero(np.bincount(region_positions, minlength=len(region_keys)))
    resolved = {
        position: printed_region_code(region_keys[position], regions, former, merged_into) for position in used_regions
    }
    if any(problem for _, problem, _ in resolved.values()):
        return None
    region_codes = [resolved[position][0] if position in resolved else None for position in range(len(region_keys))]
    merged_since = np.full(len(region_keys), np.iinfo("int64").min, dtype="int64")
    for position, (_, _, absorbed) in resolved.items():
        if absorbed is not None:
            merged_since[position] = absorbed.year
    former_boundary = years < merged_since[region_positions]

    unit_positions, printed_unit_texts = distinct_values(cells["printed_unit"])
    printed_units = [normalise_text(text) or declared_unit for text in printed_unit_texts]
    if any(unit not in units for unit in printed_units):
        return None
    values = parsed_values(cells["raw_value"], plain)
    if values is None:
        return None
    numbers, decimals, percent, status_positions, status_texts = values
    unit_numbers: dict[str, int] = {}  # canonical unit → a number, to compare units per cell without Python objects

    def unit_number(unit: str | None) -> int:
        """The unit's number (-1 for none)."""
        return -1 if unit is None else unit_numbers.setdefault(unit, len(unit_numbers))

    indicator_units = np.array([unit_number(bounds.get(code)) for code in indicator_of_label], dtype="int64")
    indicator_units = indicator_units[label_positions]
    canonical_units = [*(units[unit][0] for unit in printed_units)]
    multipliers = [*(units[unit][1] for unit in printed_units)]
    canonical_positions = unit_positions.astype("int64")
    if "%" in units:
        # A printed % sign is the cell's unit, in a percent indicator: position len(printed_units) stands for '%'.
        canonical_units.append(units["%"][0])
        multipliers.append(units["%"][1])
        canonical_positions = np.where(
            percent & (indicator_units == unit_number(units["%"][0])), len(printed_units), canonical_positions
        )
    canonical = np.array([unit_number(unit) for unit in canonical_units], dtype="int64")[canonical_positions]
    multiplier = np.array(multipliers, dtype="float64")[canonical_positions]
    if ((percent & (canonical != unit_number("percent"))) | (canonical != indicator_units)).any():
        return None

    fewest = int(decimals.min())
    radius_by_decimals = np.array(
        [0.5 * 10 ** (-places) for places in range(fewest, int(decimals.max()) + 1)], dtype="float64"
    )
    half_digits = radius_by_decimals[decimals - fewest]
    # Status: the cell's own (placeholders) plus b for a figure on a former boundary, one text per combination.
    combined_positions = status_positions * 2 + former_boundary
    combined_texts = [
        "".join(sorted(set(status_texts[combination // 2]) | ({"b"} if combination % 2 else set())))
        for combination in range(2 * len(status_texts))
    ]
    count = len(cells)
    return pd.DataFrame(
        {
            "source_id": spread_texts([sidecar.source_id], np.zeros(count, dtype="int64")),
            "source_file": spread_texts([file_name], np.zeros(count, dtype="int64")),
            "source_row": cells["source_row"].to_numpy(copy=True),
            "source_column": cells["source_column"].array.copy(),
            "printed_label": spread_texts([normalise_text(label) for label in printed_labels], label_positions),
            "region_code": spread_texts(region_codes, region_positions),
            "year": years,
            "indicator_code": spread_texts(indicator_of_label, label_positions),
            "value": numbers * multiplier,
            "unit": spread_texts(canonical_units, canonical_positions),
            "status": spread_texts(combined_texts, combined_positions),
            "rounding_radius": np.where(np.isnan(numbers), np.nan, half_digits * multiplier),
            "column_number": cells["column_number"].to_numpy(copy=True),
        },
        copy=False,  # every column is a fresh array of its own: no second copy into consolidated blocks
    )


def distinct_values(values: pd.Series) -> tuple[np.ndarray, list]:
    """Every row's position among the distinct values, and the distinct values (a missing value counts as one)."""
    positions, distinct = pd.factorize(values, use_na_sentinel=False)
    return positions, list(distinct)


def per_distinct(values: pd.Series, function) -> np.ndarray:
    """function applied once per distinct value, spread back to every row (an object array)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    results = np.empty(len(distinct), dtype=object)
    results[:] = [function(value) for value in distinct]
    return results[codes]


def plain_number_mask(raw_values: pd.Series) -> np.ndarray:
    """True for cells printed as a plain decimal (PLAIN_NUMBER_PATTERN), found in one vectorised pass."""
    texts = pa.array(raw_values, type=pa.large_string(), from_pandas=True)
    matches = pc.fill_null(pc.match_substring_regex(texts, PLAIN_NUMBER_PATTERN), False)
    return matches.to_numpy(zero_copy_only=False)


def parsed_values(
    raw_values: pd.Series, plain: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """Value, printed decimals, % sign and status (position among the distinct status texts, which are returned
    last; '' first) of every cell; None when a cell is neither number nor placeholder.

    Plain decimals are parsed by Arrow in one pass (Arrow and Python both round a decimal text to the nearest
    double, so the values are identical); every other cell goes through parse_cell once per distinct text.
    """
    count = len(raw_values)
    numbers = np.full(count, np.nan, dtype="float64")
    decimals = np.zeros(count, dtype="int64")
    percent = np.zeros(count, dtype=bool)
    status_positions = np.zeros(count, dtype="int64")
    status_texts = [""]
    if plain.any():
        texts = pa.array(raw_values[plain], type=pa.large_string())
        numbers[plain] = pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
        dots = pc.find_substring(texts, ".").to_numpy(zero_copy_only=False)
        lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False)
        decimals[plain] = np.where(dots >= 0, lengths - dots - 1, 0)
    rest = ~plain
    if rest.any():
        parsed = per_distinct(raw_values[rest], parsed_or_none)
        if any(cell is None for cell in parsed):
            return None
        numbers[rest] = [np.nan if cell.value is None else cell.value for cell in parsed]
        decimals[rest] = [cell.decimals for cell in parsed]
        percent[rest] = [cell.percent for cell in parsed]
        status_number = {"": 0}
        status_positions[rest] = [status_number.setdefault(cell.status, len(status_number)) for cell in parsed]
        status_texts = list(status_number)
    return numbers, decimals, percent, status_positions, status_texts


def parsed_or_none(raw: object) -> ParsedCell | None:
    """The parsed cell, or None when it is not a number or placeholder (the one-by-one path reports it)."""
    try:
        return parse_cell(raw)
    except CellError:
        return None


def cell_records_one_by_one(
    cells: pd.DataFrame,
    sidecar: Sidecar,
    file_name: str,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date,
    catalog: pd.DataFrame,
    changes: list[BoundaryChange],
) -> tuple[pd.DataFrame, list[InputProblem]]:
    """The staged records cell by cell, with every problem named by file, row, column, rule and expected text."""
    problems: list[InputProblem] = []
    fields = sidecar.fields
    layout = sidecar.layout
    label_column = layout.get("label_column") or "(sidecar layout.label)"
    region_column = layout.get("region_column") or "(sidecar layout.region)"
    unit_column = layout.get("unit_column") or "(sidecar unit)"
    declared_unit = normalise_text(fields["unit"])
    # Plausible ranges (valid_min/valid_max) are checked once, on all observations, by validate.observations_schema.
    bounds = dict(zip(catalog["indicator_code"], catalog["unit"], strict=True))
    labels = {normalise_label(label): code for label, code in sidecar.labels.items()}
    skip_labels = {normalise_label(label) for label in fields.get("skip_labels") or []}
    skip_regions = {region_key(region) for region in fields.get("skip_regions") or []}
    regions = {region_key(name): code for name, code in region_lookup.items()}
    former = {region_key(change.old_name): change for change in changes}
    restated = fields.get("boundaries") == "restated"
    merged_into = {change.new_code: change for change in changes if change.change == "merged_into" and not restated}

    records = []
    for cell in cells.itertuples(index=False):
        if fields.get("blank_cells") == "not_transcribed" and not str(cell.raw_value).strip():
            continue
        label_key = normalise_label(cell.printed_label)
        printed_region = region_key(cell.printed_region)
        if label_key in skip_labels or printed_region in skip_regions:
            continue
        if not label_key and not printed_region and not str(cell.raw_value).strip():
            continue
        where = {"row": cell.source_row, "cell": cell_name(cell.column_number, cell.source_row)}
        indicator_code = labels.get(label_key)
        if indicator_code is None:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_label",
                    f"row label {normalise_text(cell.printed_label)!r} is not mapped in the sidecar's labels",
                    column=label_column,
                    expected=f"one of {sorted(sidecar.labels)}, or the label in skip_labels",
                    **where,
                )
            )
            continue
        region_code, region_status, region_problem = resolve_region(
            printed_region, cell.year, regions, former, merged_into
        )
        if region_problem:
            problems.append(
                InputProblem(
                    file_name,
                    region_problem[0],
                    region_problem[1],
                    column=region_column,
                    expected=region_problem[2],
                    **where,
                )
            )
            continue
        printed_unit = normalise_text(cell.printed_unit) or declared_unit
        if printed_unit not in units:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_unit",
                    f"unit {printed_unit!r} is not in pipeline/metadata/units.csv",
                    column=unit_column,
                    expected=", ".join(units),
                    **where,
                )
            )
            continue
        if not FIRST_YEAR <= cell.year <= today.year:
            problems.append(
                InputProblem(
                    file_name,
                    "year_range",
                    f"year {cell.year} is outside {FIRST_YEAR}–{today.year}",
                    column=getattr(cell, "year_column", None) or cell.source_column,
                    expected=f"a year from {FIRST_YEAR} to this year ({today.year})",
                    **where,
                )
            )
            continue
        try:
            parsed = parse_cell(cell.raw_value)
        except CellError as error:
            problems.append(
                InputProblem(
                    file_name, error.rule, str(error), column=cell.source_column, expected=error.expected, **where
                )
            )
            continue
        if parsed.percent and "%" in units and bounds[indicator_code] == units["%"][0]:
            printed_unit = "%"  # a printed % sign is the cell's unit, in a percent indicator
        unit, multiplier = units[printed_unit]
        problem = value_problem(cell, parsed, printed_unit, unit, indicator_code, bounds, file_name)
        if problem:
            problems.append(problem)
            continue
        value = None if parsed.value is None else parsed.value * multiplier
        radius = 0.5 * 10 ** (-parsed.decimals) * multiplier if parsed.value is not None else None
        records.append(
            {
                "source_id": sidecar.source_id,
                "source_file": file_name,
                "source_row": cell.source_row,
                "source_column": cell.source_column,
                "printed_label": normalise_text(cell.printed_label),
                "region_code": region_code,
                "year": cell.year,
                "indicator_code": indicator_code,
                "value": value,
                "unit": unit,
                "status": "".join(sorted(set(parsed.status) | set(region_status))),
                "rounding_radius": radius,
                "column_number": cell.column_number,
            }
        )
    return pd.DataFrame.from_records(records, columns=[*STAGED_COLUMNS, "column_number"]), problems


@lru_cache(maxsize=4)
def region_keys_of(lookup_items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Region lookup by matching key (region_key of each printed name), built once per lookup table, not per table."""
    return {region_key(name): code for name, code in lookup_items}


def region_key(printed: object) -> str:
    """A printed region name as a matching key: markers, spaces and 其中： / # prefixes removed."""
    return REGION_PREFIX_PATTERN.sub("", normalise_label(printed))


def resolve_region(
    printed: str,
    year: int,
    regions: dict[str, str],
    former: dict[str, BoundaryChange],
    merged_into: dict[str, BoundaryChange],
) -> tuple[str | None, str, tuple[str, str, str] | None]:
    """Region code, extra status ('b' for figures on a former boundary) and a problem (rule, message, expected)."""
    code, problem, absorbed = printed_region_code(printed, regions, former, merged_into)
    return code, "b" if absorbed is not None and year < absorbed.year else "", problem


def printed_region_code(
    printed: str, regions: dict[str, str], former: dict[str, BoundaryChange], merged_into: dict[str, BoundaryChange]
) -> tuple[str | None, tuple[str, str, str] | None, BoundaryChange | None]:
    """Region code of a printed name, a problem (rule, message, expected), and the merger into it, if any, before
    whose year its figures lie on a former boundary."""
    change = former.get(printed)
    if change is not None and change.change == "renamed":
        return change.new_code, None, None
    if change is not None:
        return (
            None,
            (
                "former_region",
                f"{change.old_name} ({change.old_code}) was merged into {change.new_name} ({change.new_code}) in {change.year}; its figures cover only part of today's {change.new_name}",
                "the row left out via the sidecar's skip_regions (say so in caveats), or the former region added to regions.csv",
            ),
            None,
        )
    code = regions.get(printed)
    if code is None:
        return (
            None,
            (
                "unknown_region",
                f"region {printed!r} is not in regions.csv, region_aliases.csv or boundary_changes.csv",
                "an official name or a listed alias (add aliases to region_aliases.csv), or the row in skip_regions",
            ),
            None,
        )
    return code, None, merged_into.get(code)


def value_problem(
    cell, parsed, printed_unit: str, unit: str, indicator_code: str, bounds: dict[str, str], file_name: str
) -> InputProblem | None:
    """A parsed value whose unit contradicts its % sign or its indicator's unit in the catalogue."""
    where = {
        "row": cell.source_row,
        "column": cell.source_column,
        "cell": cell_name(cell.column_number, cell.source_row),
    }
    if parsed.percent and unit != "percent":
        return InputProblem(
            file_name,
            "unit_mismatch",
            f"{cell.raw_value!r} carries a % sign but the unit is {printed_unit!r}",
            expected="a % sign only in percent rows",
            **where,
        )
    expected_unit = bounds[indicator_code]
    if unit != expected_unit:
        return InputProblem(
            file_name,
            "unit_mismatch",
            f"{indicator_code} is measured in {expected_unit}, but this row's unit {printed_unit!r} is {unit}",
            expected=f"a unit in {expected_unit} for {indicator_code}",
            **where,
        )
    return None


def duplicate_problems(staged: pd.DataFrame, file_name: str) -> list[InputProblem]:
    """Two figures for the same indicator, region and year in one table: name both rows."""
    key = ["indicator_code", "region_code", "year"]
    packed = packed_keys(staged, key)
    if packed is None:
        repeats = staged.duplicated(key, keep="first").to_numpy()
    elif not (np.diff(np.sort(packed)) == 0).any():
        return []  # every key once (the usual case), found by sorting, without hashing
    else:
        repeats = pd.Series(packed).duplicated(keep="first").to_numpy()
    if not repeats.any():
        return []
    repeated = staged[repeats]
    problems = []
    for row in repeated.itertuples(index=False):
        first = staged[
            (staged["indicator_code"] == row.indicator_code)
            & (staged["region_code"] == row.region_code)
            & (staged["year"] == row.year)
        ].iloc[0]
        problems.append(
            InputProblem(
                file_name,
                "duplicate_row",
                f"a second figure for {row.indicator_code}, region {row.region_code}, {row.year} (first at row {first.source_row}, cell {cell_name(first.column_number, first.source_row)})",
                row=int(row.source_row),
                column=row.source_column,
                cell=cell_name(row.column_number, row.source_row),
                expected="one figure per indicator, region and year in a table",
            )
        )
    return problems


def apply_status_rules(staged: pd.DataFrame, rules: list[dict], sidecar_name: str) -> pd.DataFrame:
    """Set status flags (b, e, p, u) from the sidecar's rules: per table, indicator, column, region, year or cells."""
    problems = []
    if rules:
        staged = staged.assign(status=staged["status"].astype("str"))  # flags are added per row: plain texts
    for number, rule in enumerate(rules, start=1):
        selected = pd.Series(True, index=staged.index)
        if "indicators" in rule:
            selected &= staged["indicator_code"].isin([str(code) for code in rule["indicators"]])
        if "labels" in rule:
            keys = {normalise_label(label) for label in rule["labels"]}
            selected &= staged["printed_label"].map(normalise_label).isin(keys)
        if "years" in rule:
            selected &= staged["year"].isin([int(year) for year in rule["years"]])
        if "regions" in rule:
            selected &= staged["region_code"].isin([str(code) for code in rule["regions"]])
        if "columns" in rule:
            keys = {normalise_label(column) for column in rule["columns"]}
            selected &= staged["source_column"].map(normalise_label).isin(keys)
        if "cells" in rule:
            selected &= in_cell_ranges(staged, [str(cell_range) for cell_range in rule["cells"]])
        if not selected.any():
            problems.append(
                InputProblem(
                    sidecar_name,
                    "status_rule_unmatched",
                    f"status rule {number} ({rule}) selects no figure of the table",
                    column="status",
                    expected="selectors that match the table (check spelling, codes and cell ranges)",
                )
            )
            continue
        flag = str(rule["status"])
        staged.loc[selected, "status"] = staged.loc[selected, "status"].map(
            lambda current, flag=flag: "".join(sorted(set(current) | set(flag)))
        )
    if problems:
        raise InputError(problems)
    return staged


def in_cell_ranges(staged: pd.DataFrame, cell_ranges: list[str]) -> pd.Series:
    """True for figures whose cell lies in any of the ranges (A1 notation, as in the file or sheet)."""
    from openpyxl.utils.cell import column_index_from_string

    inside = pd.Series(False, index=staged.index)
    for cell_range in cell_ranges:
        first_column, first_row, last_column, last_row = CELL_RANGE_PATTERN.match(cell_range).groups()
        inside |= staged["source_row"].between(int(first_row), int(last_row)) & staged["column_number"].between(
            column_index_from_string(first_column), column_index_from_string(last_column)
        )
    return inside
