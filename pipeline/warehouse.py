"""Building the DuckDB warehouse in a staging file beside the live one and swapping it in atomically."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

STAGING_MARKER = ".staging-"


def staging_path_for(live_path: Path) -> Path:
    """The staging file of this process, beside the live warehouse."""
    return live_path.with_name(f".{live_path.name}{STAGING_MARKER}{os.getpid()}")


def process_is_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(live_path: Path) -> list[Path]:
    """Delete staging files (and their WAL) left by runs whose process is gone; return what was removed."""
    removed = []
    for candidate in live_path.parent.glob(f".{live_path.name}{STAGING_MARKER}*"):
        pid_text = candidate.name.split(STAGING_MARKER, 1)[1].split(".", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and process_is_alive(int(pid_text)):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def build_warehouse(tables: dict[str, pd.DataFrame], live_path: Path) -> dict[str, int]:
    """Write every table into a fresh staging database, audit the row counts, then replace the live file."""
    live_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(live_path)
    staging = staging_path_for(live_path)
    staging.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(staging)) as connection:
            for name, frame in tables.items():
                connection.register("incoming_frame", frame)
                # Table names are constants of this module's callers, never user input.
                connection.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming_frame')
                connection.unregister("incoming_frame")
            counts = audit_row_counts(connection, tables)
            connection.execute("CHECKPOINT")
        os.replace(staging, live_path)
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    return counts


def audit_row_counts(connection: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Every table in the staging database holds exactly the rows it was given; raise otherwise."""
    counts = {}
    for name, frame in tables.items():
        stored = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        if stored != len(frame):
            raise RuntimeError(f"warehouse audit: table {name} has {stored} rows, expected {len(frame)}")
        counts[name] = stored
    return counts
