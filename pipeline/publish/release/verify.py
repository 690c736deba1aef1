"""Verifying releases against their checksums.csv and datapackage.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.hashing import sha256_of
from pipeline.publish.release.versions import (
    CHECKSUM_COLUMNS,
    CHECKSUMS,
    DATAPACKAGE,
    LATEST,
    latest_version,
    release_versions,
)
from pipeline.publish.release.write import csv_row_count


def verify_release(path: Path, expected_version: str | None = None) -> list[str]:
    """Every file of a release against checksums.csv (sha256, bytes) and datapackage.json (rows); problems, named."""
    label = expected_version or path.name
    descriptor_path = path / DATAPACKAGE
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{label}/{DATAPACKAGE}: unreadable ({error})"]
    problems = []
    if descriptor.get("version") != label:
        problems.append(f"{label}/{DATAPACKAGE}: declares version {descriptor.get('version')!r}")
    checksums, checksum_problems = recorded_checksums(path, descriptor)
    problems.extend(f"{label}/{problem}" for problem in checksum_problems)
    listed = {DATAPACKAGE}
    for resource in descriptor.get("resources", []):
        relative = str(resource.get("path", ""))
        listed.add(relative)
        problems.extend(f"{label}/{relative}: {problem}" for problem in resource_problems(path, resource))
    for name, (size, digest) in sorted(checksums.items()):
        problems.extend(f"{label}/{name}: {problem}" for problem in checksum_mismatches(path / name, size, digest))
    for entry in sorted(path.iterdir()):
        if entry.name not in listed:
            problems.append(f"{label}/{entry.name}: file not listed in {DATAPACKAGE}")
        elif entry.name not in checksums and entry.name != CHECKSUMS and (path / CHECKSUMS).is_file():
            problems.append(f"{label}/{entry.name}: file not listed in {CHECKSUMS}")
    return problems


def recorded_checksums(folder: Path, descriptor: dict) -> tuple[dict[str, tuple[object, str]], list[str]]:
    """File name → (bytes, sha256) from checksums.csv; a release cut before it existed: from datapackage.json."""
    path = folder / CHECKSUMS
    if not path.is_file():
        legacy = {
            str(resource.get("path", "")): (resource.get("bytes"), str(resource["hash"]).removeprefix("sha256:"))
            for resource in descriptor.get("resources", [])
            if str(resource.get("hash", "")).startswith("sha256:")
        }
        return legacy, [] if legacy else [f"{CHECKSUMS}: missing (no file's sha256 and size is recorded)"]
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return {}, [f"{CHECKSUMS}: unreadable ({error})"]
    if not rows or rows[0] != CHECKSUM_COLUMNS:
        return {}, [f"{CHECKSUMS}: header is {rows[0] if rows else []}, expected {CHECKSUM_COLUMNS}"]
    checksums: dict[str, tuple[object, str]] = {}
    problems = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(CHECKSUM_COLUMNS) or not row[1].isdigit():
            problems.append(f"{CHECKSUMS}: row {number} is not file,bytes,sha256: {row}")
            continue
        checksums[row[0]] = (int(row[1]), row[2])
    return checksums, problems


def checksum_mismatches(path: Path, size: object, digest: str) -> list[str]:
    """A file against its recorded size and sha256: missing, bytes mismatch, sha256 mismatch."""
    if "/" in path.name or path.name.startswith(".") or not path.is_file():
        return ["file missing"]
    problems = []
    actual_size = path.stat().st_size
    if size != actual_size:
        problems.append(f"bytes mismatch: recorded {size}, file has {actual_size}")
    actual_hash = sha256_of(path)
    if digest != actual_hash:
        problems.append(f"sha256 mismatch: recorded {digest}, file has {actual_hash}")
    return problems


def resource_problems(folder: Path, resource: dict) -> list[str]:
    """The mismatches between one resource's declared rows and its file (sha256 and bytes: checksums.csv)."""
    relative = str(resource.get("path", ""))
    path = folder / relative
    if not relative or "/" in relative or relative.startswith(".") or not path.is_file():
        return ["file missing" if relative else "resource without a path"]
    problems = []
    if "rows" in resource:
        try:
            rows = pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else csv_row_count(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            problems.append(f"rows unreadable: {error}")
        else:
            if rows != resource["rows"]:
                problems.append(f"rows mismatch: declared {resource['rows']}, file has {rows}")
    return problems


def verify_releases(releases_dir: Path) -> dict[str, list[str]]:
    """Problems of every release (version → problems, empty when it verifies) and of the `latest` link."""
    results = {version: verify_release(releases_dir / version) for version in release_versions(releases_dir)}
    link = releases_dir / LATEST
    if results:
        target = latest_version(releases_dir)
        if target is None:
            results[LATEST] = [f"{LATEST}: missing or not a symlink"]
        elif target not in results:
            results[LATEST] = [f"{LATEST}: points at {target!r}, which is not a release"]
        else:
            results[LATEST] = []
    elif link.exists() or link.is_symlink():
        results[LATEST] = [f"{LATEST}: exists but there are no releases"]
    return results
