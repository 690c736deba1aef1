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
from pipeline.ingest.reader.xlsx_grid import read_xlsx_grid
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
