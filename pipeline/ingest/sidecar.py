"""Provenance sidecars (<table>.meta.yaml): load, validate and rehash them."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import tempfile
import unicodedata
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
    "sidecar_sha256": "the sha256 of the sidecar's own content (every other key), written by `python -m pipeline rehash`",
    "label_units": "printed label → the unit printed for its rows, where it is not the sidecar's `unit`",
    "short_rows": "why rows shorter than the header are complete as printed (otherwise a short row is an error)",
    "update_period": "how often the source publishes a new edition (ISO 8601 period, default P1Y)",
    # Written by the source connectors (pipeline/connectors/snapshots.py).
    "accessed_at": "connectors: the UTC time of the fetch",
    "original_file": "connectors: the original answer kept beside the CSV",
    "original_sha256": "connectors: the sha256 of the original answer",
    "query_urls": "connectors: every URL queried",
}
LAYOUT_KEYS = {
    "kind": "wide | long",
    "region_column": "the column holding region names",
    "label_column": "the column holding row labels",
    "year_column": "long: the column holding years",
    "value_column": "long: the column holding the figures",
    "unit_column": "the column holding each row's printed unit",
    "region": "the region of every figure, when there is no region column",
    "label": "the label of every figure, when there is no label column",
    "year": "the year of every figure, when there is no year in the header or a year column",
    "header_row": "the number of the first header row",
    "header_rows": "how many rows the header has",
    "ignore_columns": "header names of columns that hold no figures to read (codes, growth rates)",
}
# A source id becomes part of Dagster asset and op names: ASCII letters, digits and underscores only.
SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,120}$")
SOURCE_ID_RULE = "ASCII letters, digits and underscores only (pattern [A-Za-z0-9_]+), e.g. gz_yearbook_2022_t8_08"
# Limits on a sidecar's YAML, checked before and while it is parsed (a few kilobytes is usual; aliases are rare).
MAX_SIDECAR_BYTES = 256 * 1024
MAX_YAML_ALIASES = 50
MAX_YAML_NODES = 20_000
MAX_YAML_DEPTH = 40
MAX_FILE_NAME_BYTES = 255
SIDECAR_CHECKSUM_KEY = "sidecar_sha256"
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


class SidecarLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses more than MAX_YAML_ALIASES aliases (an alias bomb expands exponentially), more
    than MAX_YAML_NODES nodes and nesting deeper than MAX_YAML_DEPTH, each as soon as it is met."""

    alias_count = 0
    node_count = 0
    depth = 0

    def compose_node(self, parent, index):
        """Count alias events, nodes and nesting before composing them; stop at a limit."""
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_YAML_ALIASES:
                raise SidecarYamlLimit(f"more than {MAX_YAML_ALIASES} YAML aliases (*name)")
        self.node_count += 1
        if self.node_count > MAX_YAML_NODES:
            raise SidecarYamlLimit(f"the YAML has more than {MAX_YAML_NODES:,} nodes")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise SidecarYamlLimit(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_flow_collection_start(self, TokenClass):  # noqa: N803 (PyYAML's name)
        """Refuse a deeply nested flow collection ([[[…) as the scanner meets it, before the parser looks ahead."""
        if self.flow_level >= MAX_YAML_DEPTH:
            raise SidecarYamlLimit(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)


class SidecarYamlLimit(Exception):
    """A sidecar's YAML goes beyond the size limits."""


def expanded_node_count(node: yaml.Node, limit: int) -> int:
    """The number of nodes of a composed YAML document with every alias expanded; raise past the limit or on a cycle."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, path: frozenset) -> int:
        key = id(current)
        if key in path:
            raise SidecarYamlLimit("a YAML alias refers to a node that contains it (a recursive structure)")
        if key in sizes:
            return sizes[key]
        children: list = []
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [item for pair in current.value for item in pair]
        total = 1
        for child in children:
            total += size(child, path | {key})
            if total > limit:
                raise SidecarYamlLimit(f"the YAML expands to more than {limit:,} nodes")
        sizes[key] = total
        return total

    return size(node, frozenset())


def read_sidecar_fields(path: Path) -> object:
    """A sidecar's YAML document, parsed safely within the limits; InputError naming the file for anything unreadable."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise InputError(
                [
                    InputProblem(
                        name,
                        "sidecar_size",
                        f"the sidecar has {size:,} bytes, over the limit of {MAX_SIDECAR_BYTES:,}",
                        expected="a provenance sidecar of a few kilobytes",
                    )
                ]
            )
        data = path.read_bytes()
    except OSError as error:
        raise InputError([InputProblem(name, "sidecar_unreadable", f"cannot read the sidecar: {error}")]) from error
    parsed = PARSED_SIDECARS.get(data)
    if parsed is None:
        parsed = parsed_sidecar(name, data)
        if len(PARSED_SIDECARS) >= MAX_PARSED_SIDECARS:
            PARSED_SIDECARS.pop(next(iter(PARSED_SIDECARS)), None)
        PARSED_SIDECARS[data] = parsed
    return copy.deepcopy(parsed.document)


@dataclass(frozen=True)
class ParsedSidecar:
    """A sidecar document as parsed from some bytes (kept read only; callers get a copy)."""

    document: object


# Parsed sidecars by their exact bytes: a run reads each sidecar about five times (observation, freshness, staging,
# provenance, the raw folder's checks); the same bytes always parse to the same document, so it is parsed once.
# Only documents that passed every check are kept; a refused file is parsed (and refused) again each time.
PARSED_SIDECARS: dict[bytes, ParsedSidecar] = {}
MAX_PARSED_SIDECARS = 1024


def parsed_sidecar(name: str, data: bytes) -> ParsedSidecar:
    """Parse a sidecar's bytes within the limits; InputError naming the file (name) for anything unreadable."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        hint = encoding_hint(data, error.start)
        raise InputError(
            [
                InputProblem(
                    name,
                    "sidecar_encoding",
                    f"the sidecar is not UTF-8: byte {error.start} (0x{data[error.start : error.end].hex()}) on line {line} does not decode{hint}",
                    row=line,
                    expected="a sidecar saved as UTF-8 (re-save it as UTF-8)",
                )
            ]
        ) from error
    loader = None
    try:
        loader = SidecarLoader(text)  # checks the text is printable: a control character is a YAML error here
        node = loader.get_single_node()
        if node is None:
            return ParsedSidecar(None)
        expanded_node_count(node, MAX_YAML_NODES)
        duplicate = duplicate_key(node)
        if duplicate is not None:
            key, first, second = duplicate
            raise InputError(
                [
                    InputProblem(
                        name,
                        "sidecar_duplicate_key",
                        f"key {key!r} is given twice (lines {first} and {second}); YAML would silently keep the second",
                        row=second,
                        column=key,
                        expected="each key once in its mapping",
                    )
                ]
            )
        document = loader.construct_document(node)
    except SidecarYamlLimit as error:
        raise InputError(
            [
                InputProblem(
                    name,
                    "sidecar_yaml_limit",
                    f"the sidecar's YAML is refused: {error}",
                    expected=f"plain YAML within {MAX_YAML_ALIASES} aliases, {MAX_YAML_NODES:,} nodes and "
                    f"{MAX_YAML_DEPTH} levels of nesting",
                )
            ]
        ) from error
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as error:
        mark = getattr(error, "problem_mark", None)
        raise InputError(
            [
                InputProblem(
                    name,
                    "sidecar_yaml",
                    f"not readable YAML: {str(error)[:500]}",
                    row=None if mark is None else mark.line + 1,
                    expected="a YAML mapping of the sidecar fields",
                )
            ]
        ) from error
    finally:
        if loader is not None:
            loader.dispose()
    where = unprintable_text(document)
    if where is not None:
        raise InputError(
            [
                InputProblem(
                    name,
                    "sidecar_text",
                    f"{where} holds a control character or a lone surrogate (an escape such as \\0 or \\ud800 in a quoted text)",
                    column=where,
                    expected="printable text (tab and line breaks allowed)",
                )
            ]
        )
    return ParsedSidecar(document)


def duplicate_key(node: yaml.Node) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping of a composed document: (key, first line, second line), or None."""
    pending, seen_nodes = [node], set()
    while pending:
        current = pending.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in lines:
                        return key.value, lines[key.value], line
                    lines[key.value] = line
                pending.extend([key, value])
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return None


def unprintable_text(value: object, where: str = "") -> str | None:
    """Where (a key path such as layout.label) the first text with a control character or a lone surrogate is (texts
    that cannot be stored as UTF-8 or shown), or None."""
    if isinstance(value, str):
        bad = not value.isprintable() and any(
            character not in "\t\n\r" and unicodedata.category(character) in ("Cc", "Cs") for character in value
        )
        return (where or "a top-level text") if bad else None
    children: list[tuple[str, object]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            children += [(f"{where or 'a'} key", key), (inner, item)]
    elif isinstance(value, list):
        children = [(f"{where}[{position}]", item) for position, item in enumerate(value)]
    return next((found for inner, item in children if (found := unprintable_text(item, inner)) is not None), None)


def is_plain_file_name(value: object) -> bool:
    """A file name with no folder part, short enough for any file system: what `file:` may hold."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and not any(character in value for character in "/\\\x00")
        and len(value.encode("utf-8", "surrogatepass")) <= MAX_FILE_NAME_BYTES
    )


def encoding_hint(data: bytes, position: int) -> str:
    """What the bytes that are not UTF-8 are: the whole file or just the offending line in GB18030 (a comment saved
    in GBK), or UTF-16 only when the file says so with its byte order mark (any even-length bytes decode as UTF-16)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "; the file is UTF-16 (it starts with a UTF-16 byte order mark)"
    if decodes_as(data, "gb18030"):
        return "; the whole file decodes as GB18030/GBK"
    start = data.rfind(b"\n", 0, position) + 1
    end = data.find(b"\n", position)
    line = data[start : None if end < 0 else end]
    if decodes_as(line, "gb18030"):
        shown = line.decode("gb18030").strip()
        return f"; that line decodes as GB18030/GBK ({shown[:60]!r}): it was saved in another encoding than the rest"
    return ""


def decodes_as(data: bytes, codec: str) -> bool:
    """True when the bytes decode strictly in this codec."""
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def canonical_content(value: object) -> object:
    """A sidecar's parsed content in a form with one JSON text: mapping keys as tagged text, dates as ISO text."""
    if isinstance(value, dict):
        return sorted(
            ([key if isinstance(key, str) else f"{type(key).__name__}:{key}", canonical_content(item)])
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return [canonical_content(item) for item in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def sidecar_checksum(fields: dict) -> str:
    """The sha256 of a sidecar's content: every key but sidecar_sha256, canonically ordered (comments do not count)."""
    content = {key: value for key, value in fields.items() if key != SIDECAR_CHECKSUM_KEY}
    text = json.dumps(canonical_content(content), ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_sidecar_checksum(fields: dict) -> dict:
    """The fields with their sidecar_sha256 (for code that writes sidecars: connectors, benchmarks, tests)."""
    return {**fields, SIDECAR_CHECKSUM_KEY: sidecar_checksum(fields)}


def sidecar_paths(raw_dir: Path) -> list[Path]:
    """Every sidecar in a raw folder (recursively), in a stable order."""
    return sorted(raw_dir.rglob(f"*{SIDECAR_SUFFIX}"))


def load_sidecar(path: Path, raw_dir: Path, check_hash: bool = True) -> Sidecar:
    """Read and validate one sidecar; raise InputError naming the sidecar and every broken rule."""
    name = str(path)
    fields = read_sidecar_fields(path)
    if not isinstance(fields, dict):
        raise InputError([InputProblem(name, "sidecar_yaml", "the sidecar is not a YAML mapping")])
    problems = unknown_key_problems(name, fields)
    if problems:
        raise InputError(problems)

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
    if not problems:
        problems.extend(field_type_problems(name, fields))
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
    if not SOURCE_ID_PATTERN.match(str(fields["source_id"])):
        problems.append(
            InputProblem(
                name,
                "sidecar_source_id",
                f"source_id {fields['source_id']!r} is not a valid identifier",
                column="source_id",
                expected=SOURCE_ID_RULE,
            )
        )
    elif path.name != f"{fields['source_id']}{SIDECAR_SUFFIX}":
        problems.append(
            InputProblem(
                name,
                "sidecar_source_id",
                f"source_id {fields['source_id']!r} does not match the sidecar's name",
                expected=f"{path.name.removesuffix(SIDECAR_SUFFIX)}",
            )
        )

    if not is_plain_file_name(fields["file"]):
        shown = str(fields["file"])
        raise InputError(
            [
                InputProblem(
                    name,
                    "sidecar_file_path",
                    f"file {shown[:80] + '…' if len(shown) > 80 else shown!r} is not a plain file name",
                    column="file",
                    expected=f"the data file's name beside the sidecar (no folder, at most {MAX_FILE_NAME_BYTES} bytes)",
                )
            ]
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
        check_sidecar_checksum(path, fields)
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
    # A layout key written with no value (`header_rows:`) is a key not given: the reader never sees a null.
    layout = {key: value for key, value in fields["layout"].items() if value is not None}
    return Sidecar(path=path, data_path=data_path, fields={**fields, "layout": layout})


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
    for selector in sorted(STATUS_SELECTORS & set(rule)):
        items = rule[selector]
        if not isinstance(items, list):
            problems.append(InputProblem(name, "sidecar_status", f"{where}: {selector} must be a list"))
        elif selector == "years" and not all(is_whole_year(item) for item in items):
            problems.append(
                InputProblem(
                    name, "sidecar_status", f"{where}: years {items!r} are not all years", expected="e.g. [2014, 2015]"
                )
            )
        elif not all(isinstance(item, str | int) and not isinstance(item, bool) for item in items):
            problems.append(
                InputProblem(
                    name,
                    "sidecar_status",
                    f"{where}: {selector} {items!r} must list texts or numbers",
                    expected=f"{selector}: [a printed name, code or cell range, …]",
                )
            )
    cells = rule.get("cells")
    for cell_range in cells if isinstance(cells, list) else []:
        if not CELL_RANGE_PATTERN.match(str(cell_range)):
            problems.append(
                InputProblem(
                    name, "sidecar_status", f"{where}: {cell_range!r} is not a cell range", expected="e.g. C3:E5"
                )
            )
    return problems


def is_whole_year(value: object) -> bool:
    """A year written as a whole number (2014) or its digits ('2014')."""
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and 0 < value < 10_000) or (isinstance(value, str) and value.strip().isdecimal())


def closest_key(key: object, known) -> str:
    """' (did you mean …?)' with the closest known key, or '' when none is close."""
    matches = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def unknown_key_problems(name: str, fields: dict) -> list[InputProblem]:
    """Every key of the sidecar and of its layout must be known: a misspelled key is an error, never ignored."""
    known = {**SIDECAR_FIELDS, **OPTIONAL_SIDECAR_FIELDS}
    problems = [
        InputProblem(
            name,
            "sidecar_unknown_key",
            f"unknown key {key!r}{closest_key(key, known)}",
            column=str(key),
            expected="one of the keys of pipeline/ingest/sidecar.py SIDECAR_FIELDS / OPTIONAL_SIDECAR_FIELDS",
        )
        for key in fields
        if key not in known
    ]
    layout = fields.get("layout")
    if isinstance(layout, dict):
        problems += [
            InputProblem(
                name,
                "sidecar_unknown_key",
                f"unknown layout key {key!r}{closest_key(key, LAYOUT_KEYS)}",
                column=f"layout.{key}",
                expected=f"one of {sorted(LAYOUT_KEYS)}",
            )
            for key in layout
            if key not in LAYOUT_KEYS
        ]
    return problems


TEXT_FIELDS = ("source_id", "title", "publication", "publisher", "url_kind", "authority", "licence", "file", "sha256")
SCALAR_TYPES = (str, int, float, dt.date)


def field_type_problems(name: str, fields: dict) -> list[InputProblem]:
    """Fields hold the kind of value they describe: text, a date or number, a mapping of texts, a list."""
    problems = []
    for key in TEXT_FIELDS:
        if not isinstance(fields[key], str):
            problems.append(
                InputProblem(name, "sidecar_field_type", f"{key} is {fields[key]!r}, not a text", column=key)
            )
    for key in ("table_number", "edition", "accessed", "unit", "encoding"):
        if key in fields and (not isinstance(fields[key], SCALAR_TYPES) or isinstance(fields[key], bool)):
            problems.append(
                InputProblem(name, "sidecar_field_type", f"{key} is {fields[key]!r}, not a text", column=key)
            )
    if fields.get("url") is not None and not isinstance(fields["url"], str):
        problems.append(InputProblem(name, "sidecar_field_type", "url is not a text", column="url"))
    for key in ("labels", "label_units"):
        mapping = fields.get(key)
        if mapping is None:
            continue
        if not isinstance(mapping, dict) or not all(
            isinstance(label, str | int) and isinstance(value, str) for label, value in mapping.items()
        ):
            problems.append(
                InputProblem(
                    name,
                    "sidecar_field_type",
                    f"{key} must map printed labels to texts",
                    column=key,
                    expected=f"{key}: {{printed label: text}}",
                )
            )
    layout = fields["layout"]
    if isinstance(layout, dict):
        for key, value in layout.items():
            allowed = list if key == "ignore_columns" else SCALAR_TYPES
            if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
                problems.append(
                    InputProblem(name, "sidecar_field_type", f"layout.{key} is {value!r}", column=f"layout.{key}")
                )
    if "short_rows" in fields and (not isinstance(fields["short_rows"], str) or not fields["short_rows"].strip()):
        problems.append(
            InputProblem(
                name,
                "sidecar_field_type",
                "short_rows must say why rows shorter than the header are complete",
                column="short_rows",
                expected="short_rows: <the reason, e.g. the source prints no trailing empty cells>",
            )
        )
    return problems


def check_sidecar_checksum(path: Path, fields: dict) -> None:
    """The sidecar's content matches its sidecar_sha256: an edited sidecar is a new version that must be rehashed."""
    declared = fields.get(SIDECAR_CHECKSUM_KEY)
    actual = sidecar_checksum(fields)
    if declared is None:
        message = "the sidecar has no sidecar_sha256 (the checksum of its own content)"
    elif str(declared).lower() != actual:
        message = f"the sidecar's content has sha256 {actual}, its sidecar_sha256 says {declared}: it was edited after it was last checked"
    else:
        return
    raise InputError(
        [
            InputProblem(
                str(path),
                "sidecar_checksum",
                message,
                column=SIDECAR_CHECKSUM_KEY,
                expected=f"review the change, then record it: python -m pipeline rehash {path}",
            )
        ]
    )


def rehash_problem(path: Path, rule: str, message: str, expected: str) -> InputError:
    """An InputError for rehash."""
    return InputError([InputProblem(str(path), rule, message, expected=expected)])


def rehash_sidecar(path: Path, raw_dir: Path | None = None) -> str:
    """Write the data file's sha256 and the sidecar's own checksum into a sidecar inside raw_dir (default: its folder).

    Only regular files inside raw/ are read or written: a symlinked sidecar or data file, a sidecar outside raw/ or a
    `file:` outside the sidecar's folder is refused. A missing `sha256:` or `sidecar_sha256:` line is added.
    """
    root = (raw_dir if raw_dir is not None else path.parent).resolve()
    expected_place = f"a regular file (not a symlink) inside {root}"
    if path.is_symlink() or not path.is_file():
        raise rehash_problem(
            path, "rehash_path", "not a regular sidecar file (a symlink, missing or not a file)", expected_place
        )
    if not path.resolve().is_relative_to(root) or not path.name.endswith(SIDECAR_SUFFIX):
        raise rehash_problem(path, "rehash_path", f"the sidecar is outside the raw folder {root}", expected_place)
    fields = read_sidecar_fields(path)
    if not isinstance(fields, dict) or not is_plain_file_name(fields.get("file")):
        raise rehash_problem(
            path, "rehash_file", "the sidecar names no data file (file: a plain file name)", "file: <data file name>"
        )
    data_path = path.parent / fields["file"]
    if (
        data_path.is_symlink()
        or data_path.resolve().parent != path.resolve().parent
        or not data_path.resolve().is_relative_to(root)
    ):
        raise rehash_problem(
            path,
            "rehash_file",
            f"file {fields['file']!r} is not a regular file beside the sidecar in raw/",
            "a data file name in the sidecar's folder (no path, no symlink)",
        )
    if not data_path.is_file():
        raise rehash_problem(
            path, "rehash_file", f"data file {fields['file']!r} does not exist", "the data file beside the sidecar"
        )
    digest = sha256_of(data_path)
    text = path.read_text(encoding="utf-8")
    lines = set_top_level_line(text.splitlines(), "sha256", f'sha256: "{digest}"', after="file")
    fields["sha256"] = digest
    checksum = sidecar_checksum(fields)
    lines = set_top_level_line(lines, SIDECAR_CHECKSUM_KEY, f'{SIDECAR_CHECKSUM_KEY}: "{checksum}"', after="sha256")
    new_text = "\n".join(lines) + "\n"
    written = read_fields_of_text(new_text, path)
    if sidecar_checksum(written) != checksum or written.get("sha256") != digest:
        raise rehash_problem(
            path,
            "rehash_lines",
            "the sha256 lines could not be written as top-level keys",
            'top-level lines sha256: "…" and sidecar_sha256: "…" (no multi-line values)',
        )
    write_atomically(path, new_text)
    return digest


def set_top_level_line(lines: list[str], key: str, line: str, after: str) -> list[str]:
    """The lines with the top-level `key:` line replaced by `line`, or `line` inserted after the `after:` line (else at the end)."""
    prefix = f"{key}:"
    if any(text.startswith(prefix) for text in lines):
        return [line if text.startswith(prefix) else text for text in lines]
    for position, text in enumerate(lines):
        if text.startswith(f"{after}:"):
            return [*lines[: position + 1], line, *lines[position + 1 :]]
    return [*lines, line]


def read_fields_of_text(text: str, path: Path) -> dict:
    """The fields of a sidecar text about to be written (parsed as the loader does)."""
    loader = None
    try:
        loader = SidecarLoader(text)
        fields = loader.get_single_data()
    except (yaml.YAMLError, SidecarYamlLimit, RecursionError, ValueError, TypeError, OverflowError) as error:
        raise rehash_problem(
            path, "rehash_lines", f"the rewritten sidecar is not YAML: {error}", "plain top-level keys"
        ) from error
    finally:
        if loader is not None:
            loader.dispose()
    return fields if isinstance(fields, dict) else {}


def write_atomically(path: Path, text: str) -> None:
    """Write a file through a temporary file in its folder and os.replace (never through a symlink)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
