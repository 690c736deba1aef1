"""The DuckDB warehouse: staged in a new file, audited, then swapped in."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.core.fs import fsync_directory, fsync_file, pause_point
from pipeline.core.hashing import sha256_of
from pipeline.core.locks import lock_is_held
from pipeline.core.sql import quoted
from pipeline.core.tables import ParquetSource, table_source
from pipeline.publish.registry import PublishedTable

STAGING_MARKER = ".staging-"
PUBLICATION_TABLE = "publication"
PUBLICATION_COLUMNS = ["release_version", "content_hash", "definitions_hash", "built_at"]
MAX_LISTED_KEYS = 5
# Beside the live warehouse: the sha256 and size it was published with (`current`), and those of the file about to
# be swapped in (`pending`, between the two steps of a swap), so a crash between them leaves a file still recognised.
# Rows per Arrow slice DuckDB scans while it loads a table (a stored table's row groups hold as many).
STREAM_ROWS = 1024 * 1024
RECORD_SUFFIX = ".sha256.json"
LOCK_HOLDER_PATTERN = re.compile(
    r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?"
)


class WarehouseAuditError(RuntimeError):
    """The staging warehouse or release failed one or more audits; nothing was published."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("audit failed, nothing was published:\n" + "\n".join(f"- {problem}" for problem in problems))


def staging_path_for(live_path: Path) -> Path:
    """The staging file of this process, beside the live warehouse (same folder, so os.replace is atomic)."""
    return live_path.with_name(f".{live_path.name}{STAGING_MARKER}{os.getpid()}")


def remove_stale_staging(live_path: Path) -> list[Path]:
    """Delete staging files (and their WAL) of earlier runs; only called under the pipeline lock, so none is live."""
    if not lock_is_held(live_path.parent):
        raise RuntimeError(f"removing staging files needs the pipeline lock of {live_path.parent}")
    own = staging_path_for(live_path).name
    removed = []
    # Also half-written fingerprint records (a run killed while writing one; the record itself is replaced atomically).
    candidates = [
        *live_path.parent.glob(f".{live_path.name}{STAGING_MARKER}*"),
        *live_path.parent.glob(f".{live_path.name}{RECORD_SUFFIX}-*"),
    ]
    for candidate in sorted(candidates):
        if candidate.name.startswith(own):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def stage_warehouse(
    tables: dict[str, ParquetSource | pd.DataFrame],
    staging: Path,
    publication: dict[str, str] | Callable[[], dict[str, str]],
    statements: Sequence[str] = (),
) -> None:
    """Write every table, the publication row, then views and comments into a fresh staging database, closed.

    DuckDB reads a stored table on the local disk itself (read_parquet, on every thread it has), any other as a
    stream of Arrow slices (a stored table: one row group at a time), never whole. The publication row may be
    given as a callable, asked for only once the tables are written (the publication hashes the content meanwhile).
    """
    discard_staging(staging)
    with duckdb.connect(str(staging)) as connection:
        for position, (name, table) in enumerate(tables.items()):
            source = table_source(table)
            # Table names come from the PUBLISHED_TABLES registry, never from data; they are quoted.
            if source.local_path is not None:
                columns = stored_columns(source.footer()[1])
                connection.execute(
                    f"CREATE TABLE {quoted(name)} AS SELECT {columns} FROM read_parquet(?)", [source.local_path]
                )
            else:
                connection.register("incoming_frame", arrow_stream(source))
                connection.execute(f"CREATE TABLE {quoted(name)} AS SELECT * FROM incoming_frame")
                connection.unregister("incoming_frame")
            if position == 0:
                pause_point("staging", staging.parent)
        row = publication() if callable(publication) else publication
        connection.execute(
            f"CREATE TABLE {PUBLICATION_TABLE} ({', '.join(f'{column} VARCHAR' for column in PUBLICATION_COLUMNS)})"
        )
        connection.execute(
            f"INSERT INTO {PUBLICATION_TABLE} VALUES ({', '.join('?' for _ in PUBLICATION_COLUMNS)})",
            [row[key] for key in PUBLICATION_COLUMNS],
        )
        for statement in statements:  # views and COMMENT ON, from pipeline/metadata (never data)
            connection.execute(statement)
        connection.execute("CHECKPOINT")
    fsync_file(staging)


def arrow_stream(source: ParquetSource) -> pa.RecordBatchReader:
    """A table as a stream of Arrow record batches for DuckDB to scan; all-null columns stay text, not NULL-typed."""
    slices = source.slices(STREAM_ROWS)
    first = text_for_null(next(slices))

    def batches() -> Iterator[pa.RecordBatch]:
        """The first slice's batches, then every other slice's."""
        yield from first.to_batches()
        for part in slices:
            yield from text_for_null(part).to_batches()

    return pa.RecordBatchReader.from_batches(first.schema, batches())


def stored_columns(schema: pa.Schema) -> str:
    """The select list that reads a stored file's columns as the Arrow stream gives them: all-null columns as text."""
    return ", ".join(
        f"CAST({quoted(field_.name)} AS VARCHAR) AS {quoted(field_.name)}"
        if pa.types.is_null(field_.type)
        else quoted(field_.name)
        for field_ in schema
    )


def text_for_null(table: pa.Table) -> pa.Table:
    """The table with its NULL-typed (all-null) columns as text."""
    for position, field_ in enumerate(table.schema):
        if pa.types.is_null(field_.type):
            table = table.set_column(position, field_.name, table.column(position).cast(pa.string()))
    return table


def audit_warehouse(
    staging: Path,
    tables: dict[str, ParquetSource | pd.DataFrame],
    specs: dict[str, PublishedTable],
    publication: dict[str, str],
    require_comments: bool = False,
) -> dict[str, int]:
    """Run every audit on the closed staging file through a read-only connection; raise listing all failures."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    with duckdb.connect(str(staging), read_only=True) as connection:
        present = {row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for name, table in tables.items():
            if name not in present:
                problems.append(f"{name}: table missing from the staging warehouse")
                continue
            counts[name] = audit_table(connection, name, table_source(table).num_rows, specs[name], present, problems)
            if len(counts) == 1:
                pause_point("audits", staging.parent)
        problems.extend(audit_publication(connection, publication))
        problems.extend(audit_views(connection))
        if require_comments:
            problems.extend(audit_comments(connection))
    if problems:
        raise WarehouseAuditError(problems)
    return counts


def audit_table(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    expected_rows: int,
    spec: PublishedTable,
    present: set[str],
    problems: list[str],
) -> int:
    """Row count, columns against the model, primary key unique and not null, references resolve; returns rows.

    Everything is counted by DuckDB in the staging file; of the table as published only its row count is used.
    """
    table = quoted(name)
    count_row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert count_row is not None  # count(*) always returns one row
    stored = count_row[0]
    if stored != expected_rows:
        problems.append(f"{name}: {stored} rows stored, {expected_rows} expected (row count)")
    columns = [row[0] for row in connection.execute(f"DESCRIBE {table}").fetchall()]
    model_columns = list(spec.model.to_schema().columns)
    if columns != model_columns:
        problems.append(f"{name}: columns {columns} differ from the {spec.model.__name__} model's {model_columns}")
    missing_key = [column for column in spec.primary_key if column not in columns]
    if missing_key:
        problems.append(f"{name}: primary key column(s) {missing_key} missing")
        return stored
    key = ", ".join(quoted(column) for column in spec.primary_key)
    null_condition = " OR ".join(f"{quoted(column)} IS NULL" for column in spec.primary_key)
    null_row = connection.execute(f"SELECT count(*) FROM {table} WHERE {null_condition}").fetchone()
    assert null_row is not None  # count(*) always returns one row
    nulls = null_row[0]
    if nulls:
        problems.append(f"{name}: {nulls} row(s) with a null primary key ({', '.join(spec.primary_key)})")
    duplicates = connection.execute(
        f"SELECT {key}, count(*) AS copies FROM {table} GROUP BY {key} HAVING count(*) > 1 ORDER BY {key}"
    ).fetchall()
    if duplicates:
        listed = "; ".join(
            ", ".join(f"{column}={value}" for column, value in zip(spec.primary_key, row[:-1], strict=True))
            + f" ×{row[-1]}"
            for row in duplicates[:MAX_LISTED_KEYS]
        )
        problems.append(
            f"{name}: primary key ({', '.join(spec.primary_key)}) not unique, {len(duplicates)} duplicated key(s): {listed}"
        )
    for column, target in spec.references.items():
        target_table, target_column = target.split(".", 1)
        if target_table not in present or column not in columns:
            problems.append(f"{name}.{column}: reference to {target} cannot be checked (table or column missing)")
            continue
        orphans = connection.execute(
            f"SELECT DISTINCT {quoted(column)} FROM {table} WHERE {quoted(column)} IS NOT NULL "
            f"AND {quoted(column)} NOT IN (SELECT {quoted(target_column)} FROM {quoted(target_table)}) ORDER BY 1"
        ).fetchall()
        if orphans:
            values = ", ".join(str(row[0]) for row in orphans[:MAX_LISTED_KEYS])
            problems.append(f"{name}.{column}: {len(orphans)} value(s) not found in {target}: {values}")
    return stored


def audit_publication(connection: duckdb.DuckDBPyConnection, publication: dict[str, str]) -> list[str]:
    """The publication table holds exactly the one row this run wrote."""
    rows = connection.execute(f"SELECT {', '.join(PUBLICATION_COLUMNS)} FROM {PUBLICATION_TABLE}").fetchall()
    expected = tuple(publication[key] for key in PUBLICATION_COLUMNS)
    if rows != [expected]:
        return [f"{PUBLICATION_TABLE}: expected the single row {expected}, found {rows}"]
    return []


def audit_views(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Every view can be read (a view over a renamed column fails only when queried)."""
    problems = []
    for (name,) in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall():
        try:
            connection.execute(f"SELECT count(*) FROM {quoted(name)}").fetchone()
        except duckdb.Error as error:
            problems.append(f"{name}: view cannot be read ({error})")
    return problems


def audit_comments(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table, view and column of the warehouse has a comment."""
    objects = connection.execute(
        "SELECT table_name, comment FROM duckdb_tables() UNION ALL "
        "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal ORDER BY 1"
    ).fetchall()
    columns = connection.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal ORDER BY 1, 2"
    ).fetchall()
    problems = [f"{name}: no comment" for name, comment in objects if not (comment or "").strip()]
    problems += [f"{table}.{column}: no comment" for table, column, comment in columns if not (comment or "").strip()]
    return problems


def definitions_hash(statements: Sequence[str]) -> str:
    """The sha256 of the views and comments a warehouse is built with: they change without the content changing."""
    return hashlib.sha256("\n;\n".join(statements).encode("utf-8")).hexdigest()


def live_publication(live_path: Path) -> dict[str, str] | None:
    """The publication row of the live warehouse, read through a read-only connection; None if unreadable.

    A warehouse built before a column was added to the publication table reads as None: it is rebuilt.
    """
    if not live_path.is_file():
        return None
    try:
        with duckdb.connect(str(live_path), read_only=True) as connection:
            row = connection.execute(f"SELECT {', '.join(PUBLICATION_COLUMNS)} FROM {PUBLICATION_TABLE}").fetchone()
    except duckdb.Error:
        return None
    return dict(zip(PUBLICATION_COLUMNS, row, strict=True)) if row else None


def swap_in(staging: Path, live_path: Path) -> None:
    """Replace the live warehouse with the audited staging file in one atomic rename, then sync the folder."""
    os.replace(staging, live_path)
    fsync_directory(live_path.parent)


def discard_staging(staging: Path) -> None:
    """Remove a staging file and its write-ahead log."""
    staging.unlink(missing_ok=True)
    Path(f"{staging}.wal").unlink(missing_ok=True)


def record_path_for(live_path: Path) -> Path:
    """The file recording the live warehouse's published sha256 and size: indicators.duckdb.sha256.json."""
    return live_path.with_name(f"{live_path.name}{RECORD_SUFFIX}")


def file_fingerprint(path: Path) -> dict[str, object]:
    """A file's sha256 and byte size."""
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}


def read_warehouse_record(live_path: Path) -> dict | None:
    """The recorded fingerprints of the live warehouse ({"current": …, "pending": …}), or None if none is recorded."""
    path = record_path_for(live_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"unreadable": True}
    return record if isinstance(record, dict) else {"unreadable": True}


def write_warehouse_record(live_path: Path, current: dict | None, pending: dict | None = None) -> None:
    """Record the live warehouse's fingerprint (and the one about to replace it) atomically and durably."""
    record = {"file": live_path.name, "current": current, "pending": pending}
    temporary = live_path.with_name(f".{live_path.name}{RECORD_SUFFIX}-{os.getpid()}")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    fsync_file(temporary)
    os.replace(temporary, record_path_for(live_path))
    fsync_directory(live_path.parent)


def warehouse_problems(live_path: Path) -> list[str]:
    """The live warehouse against its recorded sha256: changed, written through a read-write connection, locked."""
    if not live_path.exists():
        return []
    problems = []
    holder = read_write_holder(live_path)
    if holder:
        problems.append(
            f"{live_path}: open read-write in another process ({holder}); a swap would lose its writes and "
            "readers get lock errors: close that connection (analysts: duckdb.connect(path, read_only=True))"
        )
    wal = Path(f"{live_path}.wal")
    if wal.exists() and not holder:
        problems.append(f"{wal}: write-ahead log present: the warehouse was written to after it was published")
    record = read_warehouse_record(live_path)
    if record is None:
        return problems  # published before fingerprints were recorded: recorded by the next run
    if record.get("unreadable"):
        return [*problems, f"{record_path_for(live_path)}: unreadable, the warehouse cannot be checked"]
    actual = file_fingerprint(live_path)
    accepted = [entry for entry in (record.get("current"), record.get("pending")) if entry]
    if actual not in accepted and not holder:
        expected = accepted[0] if accepted else {}
        problems.append(
            f"{live_path}: sha256 {actual['sha256']} ({actual['bytes']} bytes) differs from the recorded "
            f"{expected.get('sha256')} ({expected.get('bytes')} bytes) in {record_path_for(live_path).name}: "
            "changed after it was published"
        )
    return problems


def read_write_holder(live_path: Path) -> str | None:
    """Who holds a read-write connection on the warehouse file (DuckDB's lock), or None when it can be read."""
    try:
        with duckdb.connect(str(live_path), read_only=True):
            return None
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            return None
        match = LOCK_HOLDER_PATTERN.search(text)
        if not match:
            return "a DuckDB read-write lock is held"
        user = f", user {match['user']}" if match["user"] else ""
        return f"PID {match['pid']}, {match['program']}{user}"
    except duckdb.Error:
        return None  # unreadable for another reason: the sha256 check names it
