"""Durable file operations (fsync of files and folders) and the pause points the crash tests stop at."""

from __future__ import annotations

import os
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
