"""Release versions: calendar dates plus a sequence number, the `latest` link and committing a release folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.fs import fsync_directory
from pipeline.core.locks import lock_is_held

LATEST = "latest"
DATAPACKAGE = "datapackage.json"
# Every file's sha256 and byte size (datapackage.json included; this file itself excepted): what `verify` checks.
# Kept out of datapackage.json, where frictionless 5.21 misreads `bytes` of Parquet files (and ignores `hash`).
CHECKSUMS = "checksums.csv"
CHECKSUM_COLUMNS = ["file", "bytes", "sha256"]
CHANGES = "CHANGES.md"
TEMPORARY_PREFIX = ".tmp-"
VERSION_PATTERN = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})\.(\d+)$")


@dataclass(frozen=True)
class Release:
    """A complete release on disk: its version, folder and data package descriptor."""

    version: str
    path: Path
    descriptor: dict

    @property
    def content_hash(self) -> str | None:
        """The content hash recorded when the release was cut."""
        return self.descriptor.get("content_hash")


def parse_version(name: str) -> tuple[int, ...] | None:
    """'2026.11.28.2' → (2026, 11, 28, 2); anything else → None."""
    match = VERSION_PATTERN.match(name)
    return tuple(int(part) for part in match.groups()) if match else None


def release_versions(releases_dir: Path) -> list[str]:
    """Versions of the release folders (complete by construction: they only appear by rename), oldest first."""
    if not releases_dir.is_dir():
        return []
    versions = {
        entry.name: version
        for entry in releases_dir.iterdir()
        if entry.is_dir() and not entry.is_symlink() and (version := parse_version(entry.name))
    }
    return sorted(versions, key=versions.__getitem__)


def newest_release(releases_dir: Path) -> Release | None:
    """The newest release (by version, whatever `latest` says), or None before the first one."""
    versions = release_versions(releases_dir)
    if not versions:
        return None
    path = releases_dir / versions[-1]
    try:
        descriptor = json.loads((path / DATAPACKAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RuntimeError(f"{path / DATAPACKAGE} is unreadable ({error}); run `make verify`") from error
    return Release(versions[-1], path, descriptor)


def next_version(releases_dir: Path, today: dt.date) -> str:
    """Calendar version plus a sequence number; never sorts before an existing release, even if the clock did."""
    versions = release_versions(releases_dir)
    newest = parse_version(versions[-1]) if versions else None
    day: tuple[int, ...] = (today.year, today.month, today.day)
    if newest and newest[:3] >= day:
        day, sequence = newest[:3], newest[3] + 1
    else:
        sequence = 1
    return f"{day[0]:04d}.{day[1]:02d}.{day[2]:02d}.{sequence}"


def latest_version(releases_dir: Path) -> str | None:
    """The version `latest` points at, if it is a symlink to a release folder."""
    link = releases_dir / LATEST
    if not link.is_symlink():
        return None
    return os.readlink(link)


def commit_release(temporary: Path, releases_dir: Path, version: str) -> Path:
    """Make the prepared files read-only and rename the folder to its version; never replaces an existing release."""
    if not lock_is_held(releases_dir.parent):
        raise RuntimeError(f"committing a release needs the pipeline lock of {releases_dir.parent}")
    final = releases_dir / version
    if final.exists():
        raise FileExistsError(f"release {final} already exists; releases are write-once")
    for path in temporary.iterdir():
        path.chmod(READ_ONLY)
    os.rename(temporary, final)
    fsync_directory(releases_dir)
    return final


def point_latest_at(releases_dir: Path, version: str) -> None:
    """Switch the `latest` symlink to a version atomically (a new link renamed over the old one)."""
    link = releases_dir / LATEST
    temporary_link = releases_dir / f".{LATEST}-{os.getpid()}"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(version, target_is_directory=True)
    os.replace(temporary_link, link)
    fsync_directory(releases_dir)


def remove_stale_temporaries(releases_dir: Path) -> list[Path]:
    """Remove half-written release folders and links of earlier runs (only under the pipeline lock)."""
    if not releases_dir.is_dir():
        return []
    if not lock_is_held(releases_dir.parent):
        raise RuntimeError(f"removing temporary releases needs the pipeline lock of {releases_dir.parent}")
    removed = []
    for entry in sorted([*releases_dir.glob(f"{TEMPORARY_PREFIX}*"), *releases_dir.glob(f".{LATEST}-*")]):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
