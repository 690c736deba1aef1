"""The locks that keep one writer at a time: the warehouse folder's pipeline lock and the nightly run's lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE_NAME = ".pipeline.lock"
NIGHTLY_LOCK_FILE_NAME = "nightly.lock"
BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: another run holds the lock; try again later
# Locks this process holds: lock file → (open file, nesting depth). Makes pipeline_lock re-entrant in one process.
HELD_LOCKS: dict[Path, list] = {}


class PipelineBusyError(RuntimeError):
    """Another run holds the pipeline lock."""


@contextlib.contextmanager
def pipeline_lock(directory: Path, wait: bool = False, announce=print) -> Iterator[Path]:
    """Hold an exclusive flock on <directory>/.pipeline.lock (re-entrant in this process); busy → raise or wait."""
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = (directory / LOCK_FILE_NAME).resolve()
    if lock_path in HELD_LOCKS:
        HELD_LOCKS[lock_path][1] += 1
        try:
            yield lock_path
        finally:
            HELD_LOCKS[lock_path][1] -= 1
        return
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_path.read_text(encoding="utf-8").strip() or "unknown process"
            message = f"another pipeline run holds {lock_path} ({holder})"
            if not wait:
                raise PipelineBusyError(
                    f"{message}; not starting. Retry when it has finished, or use --wait."
                ) from None
            announce(f"{message}; waiting for it to finish…")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n")
        handle.flush()
        HELD_LOCKS[lock_path] = [handle, 1]
        try:
            yield lock_path
        finally:
            del HELD_LOCKS[lock_path]
            # Empty the holder note while still holding the lock, so between runs the file never changes.
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # closing the file releases the flock; the kernel releases it too if we are killed


def lock_is_held(directory: Path) -> bool:
    """True when this process holds the pipeline lock of this folder."""
    return (directory / LOCK_FILE_NAME).resolve() in HELD_LOCKS


@contextmanager
def nightly_lock(folder: Path):
    """An exclusive, non-blocking file lock in DAGSTER_HOME: yields False when another nightly run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / NIGHTLY_LOCK_FILE_NAME).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield True
