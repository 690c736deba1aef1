"""Immutable raw snapshots: the table as a CSV the reader understands, the original answer, and a complete sidecar."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core.errors import InputError
from pipeline.core.metadata import load_units, region_name_lookup
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import (
    SIDECAR_CHECKSUM_KEY,
    SIDECAR_FIELDS,
    SIDECAR_SUFFIX,
    load_sidecar,
    sidecar_checksum,
)

TABLE_COLUMNS = ["地区", "年份", "指标", "数值", "单位"]
LONG_LAYOUT = {
    "kind": "long",
    "region_column": "地区",
    "year_column": "年份",
    "label_column": "指标",
    "value_column": "数值",
    "unit_column": "单位",
}
PARTIAL_SUFFIX = ".partial"


class SnapshotRejected(Exception):
    """A fetched table that does not read through the pipeline's own reader; nothing is written to raw/."""


@dataclass(frozen=True)
class TableSnapshot:
    """What a connector hands over: rows in the long table shape, label mapping, provenance and the original bytes."""

    rows: list[dict[str, str]]
    labels: dict[str, str]
    provenance: dict
    original_body: bytes
    original_suffix: str
    extra_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileSnapshot:
    """A published file kept as it is (a yearbook table taken from a zip): its bytes, how to read it, provenance."""

    data: bytes
    data_suffix: str
    reading: dict
    provenance: dict


@dataclass(frozen=True)
class SnapshotOutcome:
    """What writing a snapshot did: `new_snapshot` with its source_id, or `unchanged` naming the identical snapshot."""

    status: str
    source_id: str
    sha256: str
    file: str = ""


def table_csv_bytes(snapshot: TableSnapshot) -> bytes:
    """The snapshot's rows as UTF-8 CSV, sorted so that the same figures always give the same bytes."""
    columns = TABLE_COLUMNS + snapshot.extra_columns
    rows = sorted(snapshot.rows, key=lambda row: tuple(str(row.get(column, "")) for column in columns))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue().encode("utf-8")


def existing_snapshot_hashes(folder: Path) -> dict[str, str]:
    """sha256 → source_id of every snapshot already in a source's folder."""
    hashes = {}
    for path in sorted(folder.glob(f"*{SIDECAR_SUFFIX}")):
        try:
            fields = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, OSError):
            continue
        if isinstance(fields, dict) and fields.get("sha256"):
            hashes[str(fields["sha256"]).lower()] = str(fields.get("source_id", path.name))
    return hashes


def next_source_id(folder: Path, source_key: str, day: dt.date) -> str:
    """`<source>_<YYYYMMDD>`, with `_2`, `_3`… when that day already has a snapshot: an id is never reused."""
    base = f"{source_key}_{day:%Y%m%d}"
    candidate, number = base, 1
    while any(folder.glob(f"{candidate}.*")):
        number += 1
        candidate = f"{base}_{number}"
    return candidate


def write_snapshot(
    raw_dir: Path, source_key: str, snapshot: TableSnapshot | FileSnapshot, accessed: dt.datetime, connector: str
) -> SnapshotOutcome:
    """Store a new snapshot under raw/<source>/ unless an identical one exists; check it reads before writing it."""
    if isinstance(snapshot, FileSnapshot):
        data, data_suffix = snapshot.data, snapshot.data_suffix
    else:
        data, data_suffix = table_csv_bytes(snapshot), ".csv"
    digest = hashlib.sha256(data).hexdigest()
    folder = raw_dir / source_key
    known = existing_snapshot_hashes(folder) if folder.is_dir() else {}
    if digest in known:
        return SnapshotOutcome("unchanged", known[digest], digest)

    source_id = next_source_id(folder, source_key, accessed.date())
    data_name = f"{source_id}{data_suffix}"
    files = {data_name: data}
    if isinstance(snapshot, TableSnapshot):
        # The original answer goes first so that the data file and the sidecar are renamed after it.
        files = {f"{source_id}{snapshot.original_suffix}": snapshot.original_body, **files}
        reading = table_reading_fields(snapshot)
    else:
        reading = dict(snapshot.reading)
    sidecar = sidecar_fields(source_id, data_name, snapshot, reading, digest, accessed, connector)
    files[f"{source_id}{SIDECAR_SUFFIX}"] = sidecar_text(sidecar, source_key).encode("utf-8")
    check_snapshot_reads(files, source_id)

    folder.mkdir(parents=True, exist_ok=True)
    # Data first, sidecar last: a run that stops half-way leaves no sidecar, so ingest never sees a partial snapshot.
    for name, content in files.items():
        partial = folder / f".{name}{PARTIAL_SUFFIX}"
        partial.write_bytes(content)
        os.replace(partial, folder / name)
    return SnapshotOutcome("new_snapshot", source_id, digest, data_name)


def table_reading_fields(snapshot: TableSnapshot) -> dict:
    """How the reader reads a connector's long CSV: its unit, the long layout, labels and per-label units."""
    unit = snapshot.rows[0]["单位"] if snapshot.rows else ""
    fields: dict = {"encoding": "utf-8", "unit": unit, "layout": dict(LONG_LAYOUT), "labels": dict(snapshot.labels)}
    # Rows printed in another unit than the first row's (the unit column says so row by row) are declared, as the
    # reader requires of every table with a unit column.
    label_units = {
        str(row[LONG_LAYOUT["label_column"]]): str(row["单位"]) for row in snapshot.rows if str(row["单位"]) != unit
    }
    if label_units:
        fields["label_units"] = label_units
    return fields


def sidecar_fields(
    source_id: str,
    data_name: str,
    snapshot: TableSnapshot | FileSnapshot,
    reading: dict,
    digest: str,
    accessed: dt.datetime,
    connector: str,
) -> dict:
    """Every required sidecar field (pipeline/sidecar.py SIDECAR_FIELDS) plus the connector's lineage fields."""
    units = load_units()
    unit = str(reading.get("unit", ""))
    provenance = snapshot.provenance
    fields = {
        "source_id": source_id,
        "title": provenance["title"],
        "publication": provenance["publication"],
        "publisher": provenance["publisher"],
        "table_number": str(provenance["table_number"]),
        "edition": str(provenance["edition"]),
        "url": provenance["url"],
        "url_kind": "official",
        "authority": "official",
        "accessed": accessed.date().isoformat(),
        "licence": provenance["licence"],
        "file": data_name,
        "sha256": digest,
        **{key: value for key, value in reading.items() if key != "caveats"},
        "caveats": list(provenance.get("caveats") or []),
    }
    fields.setdefault("multiplier", plain_number(units[unit][1]) if unit in units else 1)
    # An XLSX has no text encoding (the reader does not ask for one); every other required field must be filled.
    optional = {"encoding"} if data_name.lower().endswith(".xlsx") else set()
    missing = [key for key in SIDECAR_FIELDS if key not in optional and fields.get(key) in (None, "")]
    if missing:
        raise SnapshotRejected(f"the connector left required sidecar fields empty: {missing}")
    fields.update({key: value for key, value in provenance.items() if key not in fields and key != "caveats"})
    fields.update(
        {
            "accessed_at": accessed.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "retrieved_via": provenance.get("retrieved_via", f"pipeline.connectors ({connector}), automatic fetch"),
        }
    )
    if isinstance(snapshot, TableSnapshot):
        fields["original_file"] = f"{source_id}{snapshot.original_suffix}"
        fields["original_sha256"] = hashlib.sha256(snapshot.original_body).hexdigest()
    return fields


def plain_number(value: float) -> float | int:
    """1.0 → 1, as hand-written sidecars print it; other values unchanged."""
    return int(value) if float(value).is_integer() else value


def sidecar_text(fields: dict, source_key: str) -> str:
    """The sidecar as YAML with a header comment saying who wrote it."""
    origin = (
        "The CSV is generated from the original answer kept beside it."
        if "original_file" in fields
        else "The data file is the published file itself, byte for byte."
    )
    header = (
        f"# Provenance sidecar written by `python -m pipeline.connectors fetch` (source {source_key}).\n"
        f"# Schema: pipeline/sidecar.py (SIDECAR_FIELDS). {origin}\n"
    )
    body = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=1000)
    checksum = sidecar_checksum(yaml.safe_load(body))  # of the content as ingest will read it back
    return header + body + f'{SIDECAR_CHECKSUM_KEY}: "{checksum}"\n'


def check_snapshot_reads(files: dict[str, bytes], source_id: str) -> None:
    """Write the files to a scratch folder and read them exactly as ingest will; raise SnapshotRejected if they fail."""
    with tempfile.TemporaryDirectory(prefix="connector-check-") as scratch:
        scratch_dir = Path(scratch)
        for name, content in files.items():
            (scratch_dir / name).write_bytes(content)
        try:
            sidecar = load_sidecar(scratch_dir / f"{source_id}{SIDECAR_SUFFIX}", scratch_dir)
            read_source_table(sidecar, scratch_dir, region_name_lookup(), load_units())
        except InputError as error:
            raise SnapshotRejected(
                "the fetched table does not read through pipeline.reader: "
                + "; ".join(problem.describe() for problem in error.problems[:5])
            ) from error
