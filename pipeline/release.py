"""Versioned Parquet releases with a Frictionless data package, written under a temporary name and renamed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.warehouse import process_is_alive

LATEST = "latest"
DATAPACKAGE = "datapackage.json"
VERSION_PATTERN = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})\.(\d+)$")
FIELD_TYPES = {
    "string": "string",
    "large_string": "string",
    "int64": "integer",
    "int32": "integer",
    "double": "number",
    "float": "number",
    "bool": "boolean",
}
PACKAGE_NAME = "guangzhou-urban-rural-convergence"


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release attempt did: the version written, or the unchanged version it matched."""

    version: str
    path: Path
    changed: bool
    content_hash: str


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_version(name: str) -> tuple[int, ...] | None:
    """'2026.11.28.2' → (2026, 11, 28, 2); anything else → None."""
    match = VERSION_PATTERN.match(name)
    return tuple(int(part) for part in match.groups()) if match else None


def release_versions(releases_dir: Path) -> list[str]:
    """Complete release versions, oldest first."""
    if not releases_dir.is_dir():
        return []
    names = [
        entry.name
        for entry in releases_dir.iterdir()
        if entry.is_dir() and not entry.is_symlink() and parse_version(entry.name)
    ]
    return sorted(names, key=parse_version)


def next_version(releases_dir: Path, today: dt.date) -> str:
    """Calendar version plus a sequence number for releases cut on the same day."""
    prefix = today.strftime("%Y.%m.%d")
    same_day = [parse_version(name)[3] for name in release_versions(releases_dir) if name.startswith(prefix + ".")]
    return f"{prefix}.{max(same_day, default=0) + 1}"


def latest_content_hash(releases_dir: Path) -> str | None:
    """The content hash recorded in the latest release's data package, if any."""
    descriptor = releases_dir / LATEST / DATAPACKAGE
    if not descriptor.is_file():
        return None
    return json.loads(descriptor.read_text(encoding="utf-8")).get("content_hash")


def table_schema(table: pa.Table, descriptions: dict[str, str], primary_key: list[str]) -> dict:
    """A Frictionless table schema for an Arrow table."""
    fields = [
        {
            "name": field.name,
            "type": FIELD_TYPES.get(str(field.type), "any"),
            "description": descriptions.get(field.name, ""),
        }
        for field in table.schema
    ]
    schema = {"fields": fields}
    if primary_key:
        schema["primaryKey"] = primary_key
    return schema


def write_release(
    tables: dict[str, pd.DataFrame],
    releases_dir: Path,
    today: dt.date,
    descriptions: dict[str, dict[str, str]],
    primary_keys: dict[str, list[str]],
) -> ReleaseOutcome:
    """Write a release if the content changed since the latest one; switch `latest` only when it is complete."""
    releases_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(releases_dir)
    temporary = releases_dir / f".tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        resources = []
        for name, frame in tables.items():
            arrow_table = pa.Table.from_pandas(frame, preserve_index=False)
            path = temporary / f"{name}.parquet"
            pq.write_table(arrow_table, path, compression="zstd")
            resources.append(
                {
                    "name": name,
                    "path": path.name,
                    "format": "parquet",
                    "mediatype": "application/vnd.apache.parquet",
                    "hash": f"sha256:{sha256_file(path)}",
                    "bytes": path.stat().st_size,
                    "rows": arrow_table.num_rows,
                    "schema": table_schema(arrow_table, descriptions.get(name, {}), primary_keys.get(name, [])),
                }
            )
        content_hash = hashlib.sha256("\n".join(f"{r['name']}={r['hash']}" for r in resources).encode()).hexdigest()
        previous = latest_content_hash(releases_dir)
        if previous == content_hash:
            latest = (releases_dir / LATEST).resolve()
            return ReleaseOutcome(latest.name, latest, changed=False, content_hash=content_hash)
        version = next_version(releases_dir, today)
        package = {
            "name": PACKAGE_NAME,
            "title": "Urban–rural convergence indicators for Guangzhou and Guangdong (百千万工程)",
            "version": version,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "content_hash": content_hash,
            "licenses": [{"name": "various", "title": "Each figure keeps its source's terms; see the sources table"}],
            "resources": resources,
        }
        (temporary / DATAPACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        final = releases_dir / version
        os.rename(temporary, final)
        point_latest_at(releases_dir, version)
        return ReleaseOutcome(version, final, changed=True, content_hash=content_hash)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def point_latest_at(releases_dir: Path, version: str) -> None:
    """Switch the `latest` symlink to a version atomically (a new link renamed over the old one)."""
    link = releases_dir / LATEST
    temporary_link = releases_dir / f".{LATEST}-{os.getpid()}"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(version, target_is_directory=True)
    os.replace(temporary_link, link)


def remove_stale_temporaries(releases_dir: Path) -> None:
    """Remove half-written release folders and links left by runs that died."""
    for entry in releases_dir.glob(".tmp-*"):
        pid = entry.name.removeprefix(".tmp-")
        if pid.isdigit() and int(pid) != os.getpid() and process_is_alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
    for entry in releases_dir.glob(f".{LATEST}-*"):
        entry.unlink(missing_ok=True)
