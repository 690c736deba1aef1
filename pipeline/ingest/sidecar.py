"""Provenance sidecars (<table>.meta.yaml): load, validate and rehash them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.hashing import sha256_of

SIDECAR_SUFFIX = ".meta.yaml"
# Field → what it must hold. Every field is required; `url` may be null only with a `url_note` saying why.
SIDECAR_FIELDS = {
    "source_id": "the table's identifier, equal to the data file's stem",
    "title": "the table or release title as published",
    "publication": "the publication it appears in (yearbook, bulletin, release)",
    "publisher": "the publishing body",
    "table_number": "the table number, or 'release text' / 'article text'",
    "edition": "the edition or release date",
    "url": "where the figures were read (null only with url_note)",
    "url_kind": "official | mirror | news | compilation | self_media",
    "authority": "official | mirror_of_official | news_report | third_party_compilation | low_confidence",
    "accessed": "the date the figures were read (YYYY-MM-DD)",
    "licence": "the terms the figures are reproduced under",
    "file": "the data file's name, in the same folder as the sidecar",
    "sha256": "the sha256 of the data file",
    "encoding": "the text encoding of a CSV (utf-8, utf-8-sig, gbk, gb18030, or auto to detect); not needed for XLSX",
    "unit": "the unit as printed (a key of pipeline/metadata/units.csv)",
    "multiplier": "the multiplier from the printed unit into the canonical unit",
    "layout": "how to read the table (kind wide|long and its columns)",
    "labels": "printed row labels → indicator codes",
    "caveats": "a list of caveats (may be empty)",
}
# Optional fields and what they mean (docs/adding_a_source_table.md explains each with an example).
OPTIONAL_SIDECAR_FIELDS = {
    "url_note": "why there is no URL (required when url is null)",
    "retrieved_via": "how the copy in raw/ was obtained",
    "format": "csv | xlsx (default: from the file's suffix)",
    "sheet": "XLSX: the worksheet's name (required when the workbook has more than one sheet)",
    "cell_range": "XLSX: the block to read, e.g. A3:N40 (default: the whole sheet)",
    "delimiter": "CSV: the field separator (default ',')",
    "blank_cells": "not_transcribed: empty cells were not read from the source and are left out (not missing)",
    "status": "observation status rules: [{status: b|e|p|u, and any of indicators, labels, regions, years, columns, cells}]",
    "skip_regions": "printed region names whose rows are deliberately not read (e.g. 珠三角 subtotals)",
    "skip_labels": "printed row labels whose rows are deliberately not read",
    "boundaries": "restated: the table restates years before a boundary change on today's boundaries (no b flag)",
    "next_edition_due": "YYYY-MM-DD: the date by which the publisher's next edition is due, from its stated cycle "
    "(e.g. a yearbook each autumn); the freshness check warns once it has passed",
}
ENCODINGS = {"utf-8", "utf-8-sig", "gbk", "gb2312", "gb18030", "auto"}
FORMATS = {".csv": "csv", ".xlsx": "xlsx"}
STATUS_FLAGS = set("bepu")
STATUS_SELECTORS = {"indicators", "labels", "regions", "years", "columns", "cells"}
CELL_RANGE_PATTERN = re.compile(r"^([A-Z]{1,3})(\d+):([A-Z]{1,3})(\d+)$")
# Size limits, checked before the file is hashed or parsed. Official tables are far smaller (a yearbook
# table is a few kilobytes); anything larger is a mistake (a whole database dump, a zip bomb).
MAX_FILE_BYTES = 20 * 1024 * 1024
URL_KINDS = {"official", "mirror", "news", "compilation", "self_media"}
# Lower rank = preferred when two sources publish the same figure.
AUTHORITY_RANK = {
    "official": 1,
    "mirror_of_official": 2,
    "news_report": 3,
    "third_party_compilation": 4,
    "low_confidence": 5,
}
LAYOUT_KINDS = {"wide", "long"}


@dataclass(frozen=True)
class Sidecar:
    """A validated provenance sidecar and the absolute path of the data file it describes."""

    path: Path
    data_path: Path
    fields: dict = field(repr=False)

    @property
    def source_id(self) -> str:
        """The table's identifier."""
        return self.fields["source_id"]

    @property
    def layout(self) -> dict:
        """The layout block: kind and the names of the columns to read."""
        return self.fields["layout"]

    @property
    def labels(self) -> dict[str, str]:
        """Printed row labels → indicator codes."""
        return self.fields["labels"]


def sidecar_paths(raw_dir: Path) -> list[Path]:
    """Every sidecar in a raw folder (recursively), in a stable order."""
    return sorted(raw_dir.rglob(f"*{SIDECAR_SUFFIX}"))


def load_sidecar(path: Path, raw_dir: Path, check_hash: bool = True) -> Sidecar:
    """Read and validate one sidecar; raise InputError naming the sidecar and every broken rule."""
    name = str(path)
    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError([InputProblem(name, "sidecar_yaml", f"not readable YAML: {error}")]) from error
    if not isinstance(fields, dict):
        raise InputError([InputProblem(name, "sidecar_yaml", "the sidecar is not a YAML mapping")])

    table_format = declared_format(fields)
    problems = [
        InputProblem(name, "sidecar_required_field", f"missing required field {key!r}", expected=meaning)
        for key, meaning in SIDECAR_FIELDS.items()
        if (key not in fields or (fields[key] is None and key != "url") or fields[key] == "")
        and not (key == "encoding" and table_format == "xlsx")
    ]
    if "url" in fields and fields["url"] is None and not fields.get("url_note"):
        problems.append(
            InputProblem(
                name, "sidecar_url", "url is null without a url_note", expected="a URL, or url_note saying why none"
            )
        )
    if problems:
        raise InputError(problems)

    if fields["url_kind"] not in URL_KINDS:
        problems.append(
            InputProblem(
                name,
                "sidecar_url_kind",
                f"unknown url_kind {fields['url_kind']!r}",
                expected=" | ".join(sorted(URL_KINDS)),
            )
        )
    if fields["authority"] not in AUTHORITY_RANK:
        problems.append(
            InputProblem(
                name,
                "sidecar_authority",
                f"unknown authority {fields['authority']!r}",
                expected=" | ".join(AUTHORITY_RANK),
            )
        )
    if not isinstance(fields["layout"], dict) or fields["layout"].get("kind") not in LAYOUT_KINDS:
        problems.append(
            InputProblem(
                name, "sidecar_layout", "layout.kind must be wide or long", expected="layout: {kind: wide|long, ...}"
            )
        )
    if not isinstance(fields["labels"], dict) or not fields["labels"]:
        problems.append(InputProblem(name, "sidecar_labels", "labels must map printed labels to indicator codes"))
    if not isinstance(fields["caveats"], list):
        problems.append(InputProblem(name, "sidecar_caveats", "caveats must be a list"))
    problems.extend(optional_field_problems(name, fields, table_format))
    if path.name != f"{fields['source_id']}{SIDECAR_SUFFIX}":
        problems.append(
            InputProblem(
                name,
                "sidecar_source_id",
                f"source_id {fields['source_id']!r} does not match the sidecar's name",
                expected=f"{path.name.removesuffix(SIDECAR_SUFFIX)}",
            )
        )

    data_path = (path.parent / str(fields["file"])).resolve()
    raw_root = raw_dir.resolve()
    if not data_path.is_relative_to(raw_root) or data_path.parent != path.parent.resolve():
        problems.append(
            InputProblem(
                name,
                "sidecar_file_path",
                f"file {fields['file']!r} is outside the sidecar's folder in raw/",
                expected="a file name beside the sidecar",
            )
        )
    elif not data_path.is_file():
        problems.append(InputProblem(name, "sidecar_file_missing", f"data file {fields['file']!r} does not exist"))
    if problems:
        raise InputError(problems)

    size = data_path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(
            [
                InputProblem(
                    str(data_path),
                    "file_size",
                    f"the file has {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes",
                    expected=f"a published table of at most {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                )
            ]
        )
    if check_hash:
        actual = sha256_of(data_path)
        if actual != str(fields["sha256"]).lower():
            raise InputError(
                [
                    InputProblem(
                        str(data_path),
                        "sha256_mismatch",
                        f"the file's sha256 is {actual}, the sidecar {path.name} declares {fields['sha256']}",
                        expected="the file exactly as published; if it was deliberately replaced, update the sidecar (python -m pipeline rehash)",
                    )
                ]
            )
    return Sidecar(path=path, data_path=data_path, fields=fields)


def declared_format(fields: dict) -> str | None:
    """The table's format: the sidecar's `format`, else from the data file's suffix (None when unknown)."""
    if fields.get("format"):
        return str(fields["format"]).lower()
    return FORMATS.get(Path(str(fields.get("file", ""))).suffix.lower())


def optional_field_problems(name: str, fields: dict, table_format: str | None) -> list[InputProblem]:
    """Problems with the format, encoding, XLSX, skip and status fields of a sidecar."""
    problems = []
    if table_format not in FORMATS.values():
        problems.append(
            InputProblem(
                name,
                "sidecar_format",
                f"cannot read {fields['file']!r} as {table_format or 'an unknown format'}",
                expected="a .csv or .xlsx file, or format: csv | xlsx (save .xls workbooks as .xlsx)",
            )
        )
    if table_format == "csv" and str(fields.get("encoding")).lower() not in ENCODINGS:
        problems.append(
            InputProblem(
                name,
                "sidecar_encoding",
                f"unknown encoding {fields.get('encoding')!r}",
                expected=" | ".join(sorted(ENCODINGS)),
            )
        )
    if not isinstance(fields["multiplier"], int | float) or isinstance(fields["multiplier"], bool):
        problems.append(
            InputProblem(name, "sidecar_multiplier", f"multiplier {fields['multiplier']!r} is not a number")
        )
    if isinstance(fields["layout"], dict):
        problems.extend(layout_problems(name, fields["layout"]))
    delimiter = fields.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        problems.append(
            InputProblem(
                name, "sidecar_delimiter", f"delimiter {delimiter!r} is not one character", expected="e.g. ',' or a tab"
            )
        )
    cell_range = fields.get("cell_range")
    if cell_range is not None and not CELL_RANGE_PATTERN.match(str(cell_range)):
        problems.append(
            InputProblem(
                name, "sidecar_cell_range", f"cell_range {cell_range!r} is not a range", expected="e.g. A3:N40"
            )
        )
    if fields.get("boundaries") not in (None, "as_printed", "restated"):
        problems.append(
            InputProblem(
                name,
                "sidecar_boundaries",
                f"boundaries {fields['boundaries']!r} is not known",
                expected="as_printed (default) | restated",
            )
        )
    if "next_edition_due" in fields and not is_iso_date(fields["next_edition_due"]):
        problems.append(
            InputProblem(
                name,
                "sidecar_next_edition_due",
                f"next_edition_due {fields['next_edition_due']!r} is not a date",
                expected="YYYY-MM-DD, e.g. '2025-12-31' for a yearbook that appears each autumn",
            )
        )
    for key in ("skip_regions", "skip_labels"):
        if key in fields and not isinstance(fields[key], list):
            problems.append(InputProblem(name, f"sidecar_{key}", f"{key} must be a list of printed names"))
    rules = fields.get("status") or []
    if not isinstance(rules, list):
        return [*problems, InputProblem(name, "sidecar_status", "status must be a list of rules")]
    for number, rule in enumerate(rules, start=1):
        problems.extend(status_rule_problems(name, number, rule))
    return problems


def is_iso_date(value: object) -> bool:
    """A YYYY-MM-DD date (text, or a date YAML already parsed)."""
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def layout_problems(name: str, layout: dict) -> list[InputProblem]:
    """The layout names what each figure needs: a value, a region and a year, each from a column or fixed."""
    problems = []
    needs: list[tuple[str, str | None]] = [("region_column", "region")]
    if layout.get("kind") == "long":
        needs += [("value_column", None), ("year_column", "year"), ("label_column", "label")]
    for column_key, fixed_key in needs:
        if not layout.get(column_key) and not (fixed_key and layout.get(fixed_key) is not None):
            either = f"layout.{column_key}" + (f" or layout.{fixed_key}" if fixed_key else "")
            problems.append(
                InputProblem(name, "sidecar_layout", f"the layout has no {either}", column="layout", expected=either)
            )
    for key in ("year", "header_row", "header_rows"):
        value = layout.get(key)
        if value is not None and (not str(value).isdigit() or int(value) < 1):
            problems.append(
                InputProblem(
                    name, "sidecar_layout", f"layout.{key} {value!r} is not a positive whole number", column="layout"
                )
            )
    return problems


def status_rule_problems(name: str, number: int, rule: object) -> list[InputProblem]:
    """Problems with one status rule: its flags, its selectors and their cell ranges."""
    where = f"status rule {number}"
    expected = f"{{status: b|e|p|u, and any of {sorted(STATUS_SELECTORS)}}}"
    if not isinstance(rule, dict) or "status" not in rule:
        return [InputProblem(name, "sidecar_status", f"{where} is not a mapping with a status", expected=expected)]
    problems = []
    flags = str(rule["status"])
    if not flags or not set(flags) <= STATUS_FLAGS:
        problems.append(
            InputProblem(
                name,
                "sidecar_status",
                f"{where} sets unknown status {flags!r}",
                expected="b (break), e (estimated), p (provisional), u (low reliability)",
            )
        )
    unknown = set(rule) - STATUS_SELECTORS - {"status", "note"}
    if unknown:
        problems.append(
            InputProblem(name, "sidecar_status", f"{where} has unknown keys {sorted(unknown)}", expected=expected)
        )
    for selector in STATUS_SELECTORS & set(rule):
        if not isinstance(rule[selector], list):
            problems.append(InputProblem(name, "sidecar_status", f"{where}: {selector} must be a list"))
    for cell_range in rule.get("cells") or []:
        if not CELL_RANGE_PATTERN.match(str(cell_range)):
            problems.append(
                InputProblem(
                    name, "sidecar_status", f"{where}: {cell_range!r} is not a cell range", expected="e.g. C3:E5"
                )
            )
    return problems


def rehash_sidecar(path: Path) -> str:
    """Write the data file's current sha256 into a sidecar, keeping its other text unchanged."""
    text = path.read_text(encoding="utf-8")
    fields = yaml.safe_load(text)
    digest = sha256_of(path.parent / fields["file"])
    lines = [f'sha256: "{digest}"' if line.startswith("sha256:") else line for line in text.splitlines()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return digest
