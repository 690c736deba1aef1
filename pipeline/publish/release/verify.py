"""Verifying releases against their datapackage.json."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.hashing import sha256_of
from pipeline.publish.release.versions import DATAPACKAGE, LATEST, latest_version, release_versions
from pipeline.publish.release.write import csv_row_count


def verify_release(path: Path, expected_version: str | None = None) -> list[str]:
    """Every file of a release against its datapackage.json (sha256, bytes, rows); the problems found, named."""
    label = expected_version or path.name
    descriptor_path = path / DATAPACKAGE
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{label}/{DATAPACKAGE}: unreadable ({error})"]
    problems = []
    if descriptor.get("version") != label:
        problems.append(f"{label}/{DATAPACKAGE}: declares version {descriptor.get('version')!r}")
    listed = {DATAPACKAGE}
    for resource in descriptor.get("resources", []):
        relative = str(resource.get("path", ""))
        listed.add(relative)
        problems.extend(f"{label}/{relative}: {problem}" for problem in resource_problems(path, resource))
    for entry in sorted(path.iterdir()):
        if entry.name not in listed:
            problems.append(f"{label}/{entry.name}: file not listed in {DATAPACKAGE}")
    return problems


def resource_problems(folder: Path, resource: dict) -> list[str]:
    """The mismatches between one resource's declared sha256, bytes and rows and its file."""
    relative = str(resource.get("path", ""))
    path = folder / relative
    if not relative or "/" in relative or relative.startswith(".") or not path.is_file():
        return ["file missing" if relative else "resource without a path"]
    problems = []
    declared_hash = str(resource.get("hash", ""))
    actual_hash = sha256_of(path)
    if not declared_hash.startswith("sha256:"):
        problems.append(f"no sha256 declared (hash is {declared_hash!r})")
    elif declared_hash.removeprefix("sha256:") != actual_hash:
        problems.append(f"sha256 mismatch: declared {declared_hash.removeprefix('sha256:')}, file has {actual_hash}")
    size = path.stat().st_size
    if resource.get("bytes") != size:
        problems.append(f"bytes mismatch: declared {resource.get('bytes')}, file has {size}")
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
