"""Reading a CSV into a column-wise grid: encodings, the csv module and Arrow's fast path."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as arrow_csv

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.cells import normalise_label
from pipeline.ingest.reader import model
from pipeline.ingest.reader.model import (
    LAYOUT_COLUMN_ROLES,
    Grid,
    GridRow,
    check_grid_size,
    grid_of_rows,
    logger,
)
from pipeline.ingest.reader.xlsx_grid import column_letter, read_xlsx_grid
from pipeline.ingest.sidecar import MAX_FILE_BYTES, Sidecar, declared_format


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
    if not text.endswith(("\n", "\r")):
        last_line = text.count("\n") + 1
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "truncated_file",
                    f"the file ends inside line {last_line} (no line break after it): it looks cut off, e.g. a broken download; last text {text[-40:]!r}",
                    row=last_line,
                    expected="the complete file as published, ending with a line break (if the publisher's file has none, add it and rehash)",
                )
            ]
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
        opened = open_quote_of_record(text, line + 1, delimiter)
        if opened is not None:
            raise InputError([unclosed_quote_problem(file_name, opened, reader.line_num, str(error))]) from error
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "csv_syntax",
                    f"not a well-formed CSV: {error}",
                    row=reader.line_num,
                    expected=f"fields separated by {delimiter!r}, quotes balanced",
                )
            ]
        ) from error
    return grid_of_rows(rows, encoding=encoding)


def open_quote_of_record(text: str, start_line: int, delimiter: str) -> tuple[int, int, str] | None:
    """(line, field number from 0, the text from the quote on) of the quote that opens a field running past the end
    of its line, in the record starting on start_line; None when every quoted field of that line closes on it."""
    lines = io.StringIO(text, newline="").readlines()
    if not 0 < start_line <= len(lines):
        return None
    record = lines[start_line - 1]
    field_number, position, at_field_start = 0, 0, True
    while position < len(record):
        character = record[position]
        if at_field_start and character == '"':
            closing = closing_quote(record, position + 1)
            if closing is None:
                return start_line, field_number, record[position:].rstrip("\r\n")
            position = closing
        elif character == delimiter:
            field_number += 1
            at_field_start = True
            position += 1
            continue
        at_field_start = False
        position += 1
    return None


def closing_quote(line: str, position: int) -> int | None:
    """The position of the quote closing a quoted field that starts at position ('""' is a quote inside it), or None."""
    while position < len(line):
        if line[position] == '"':
            if line[position + 1 : position + 2] != '"':
                return position
            position += 1
        position += 1
    return None


def unclosed_quote_problem(file_name: str, opened: tuple[int, int, str], failed_line: int, error: str) -> InputProblem:
    """A quote that opens a field and is not closed on its line: named where it opens, not where the parser gave up."""
    line, field_number, rest = opened
    where = "at the end of the file" if "end of data" in error else f"on line {failed_line} ({error})"
    shown = rest if len(rest) <= 40 else f"{rest[:40]}…"
    return InputProblem(
        file_name,
        "csv_unclosed_quote",
        f"the quote opening field {field_number + 1} of line {line} ({shown!r}) is not closed on that line: the CSV "
        f"reader took the lines after it into that one cell and gave up {where}",
        row=line,
        cell=f"{column_letter(field_number + 1)}{line}",
        expected='the closing quote on the same line; a quote inside a cell is written "" within a quoted field',
    )


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
    if lines > model.MAX_ROWS or width > model.MAX_COLUMNS:
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
