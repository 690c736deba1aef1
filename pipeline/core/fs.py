"""Durable file operations (fsync), the crash tests' pause points, and readable disk problems (full, read-only)."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

PAUSE_ENVIRONMENT_VARIABLE = "PIPELINE_PAUSE_AT"
PAUSE_MARKER_ENVIRONMENT_VARIABLE = "PIPELINE_PAUSE_MARKER"
PAUSE_SECONDS_ENVIRONMENT_VARIABLE = "PIPELINE_PAUSE_SECONDS"
# Fault-injection points, in the order a run passes them (see docs/releases_and_warehouse.md).
PAUSE_POINTS = ("staging", "audits", "release", "swap", "latest", "warehouse-swap")


def pause_point(name: str, directory: Path) -> None:
    """Fault injection for the crash tests: if PIPELINE_PAUSE_AT names this point, write a marker file and sleep."""
    if os.environ.get(PAUSE_ENVIRONMENT_VARIABLE) != name:
        return
    marker = Path(os.environ.get(PAUSE_MARKER_ENVIRONMENT_VARIABLE) or directory / f".paused-at-{name}")
    marker.write_text(f"{os.getpid()} paused at {name}\n", encoding="utf-8")
    time.sleep(float(os.environ.get(PAUSE_SECONDS_ENVIRONMENT_VARIABLE, "600")))


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk, so a rename after it never exposes an empty file after a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (renames) to disk."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def os_error_line(error: OSError) -> str:
    """An OSError as one readable line: what went wrong (full disk, read-only, no permission) and on which file."""
    reason = {
        errno.ENOSPC: "no space left on the device (disk full)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }.get(error.errno or 0, error.strerror or str(error))
    where = f" on {error.filename}" if error.filename else ""
    return f"{reason}{where}"


def writable_folder_problem(folder: Path, role: str) -> str | None:
    """Why a run could not write in this folder (created if missing), as one line; None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"probe\n")
        probe.unlink()
    except OSError as error:
        return f"the {role} {folder} is not writable: {os_error_line(error)}"
    return None


def free_space_problem(folder: Path, needed_bytes: int, role: str) -> str | None:
    """A one-line problem when the disk holding a folder has less free space than a run needs; None otherwise."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    if free >= needed_bytes:
        return None
    return (
        f"not enough free disk space for the {role} {folder}: {free / MEBIBYTE:.1f} MiB free, a run needs about "
        f"{needed_bytes / MEBIBYTE:.1f} MiB"
    )


def tree_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (0 when absent)."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) if path.is_dir() else 0


MEBIBYTE = 1 << 20
