"""Dagster's SQLite event log with its database engines kept between calls (dagster.yaml `event_log_storage`).

Dagster 1.13's SqliteEventLogStorage builds a new SQLAlchemy engine, opens a new SQLite connection and closes it
(without a pool) for every call: about 8,000 times in one run of the real bundle (~2,600 events, each written to the
run's database and, for asset and check events, to index.db). Building the engine, SQLAlchemy's first-connect
queries, compiling each statement anew (the compiled-statement cache belongs to the engine) and the close (the last
connection to a WAL database checkpoints it) were about 14 of the run's 36 s on a quiet machine.

This storage is the same class, the same files (history/runs/index.db and one <run_id>.db per run, WAL mode) and the
same schema; only `_connect` differs: each database's engine is kept, with SQLAlchemy's default pool for a SQLite
file (QueuePool), so a connection is reused rather than reopened. Calls are still serialised by the storage's lock
and each is still one transaction, committed when the call ends; an idle pooled connection holds no lock, so another
process (the UI, the daemon) reads and writes as before. Engines of the index and of the most recent run databases are
kept (MAX_RUN_ENGINES); older ones are disposed, and all are on wipe, dispose and at exit; a forked child
drops the parent's connections unclosed and opens its own.

`_connect` is not public Dagster API: tests/unit/defs/test_event_log.py fails if its shape changes on an upgrade.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy.engine import Connection, Engine

INDEX_SHARD = "index"
MAX_RUN_ENGINES = 4  # run databases whose engine is kept besides the index's (a run writes to its own one)
EVENT_LOGS_FOLDER = ("history", "runs")  # where Dagster's default instance keeps them, under DAGSTER_HOME


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (and their pooled connections) are kept between calls."""

    def __init__(self, base_dir: str | None = None, inst_data=None) -> None:
        """As SqliteEventLogStorage; without base_dir, DAGSTER_HOME/history/runs (the default instance's folder)."""
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        # At exit (or when collected) the pooled connections close: the last one checkpoints its WAL into the
        # database file, so no -wal file is left beside index.db, as with Dagster's own storage.
        weakref.finalize(self, dispose_engines, self._engines)
        LIVE_STORAGES.add(self)
        super().__init__(base_dir or default_base_dir(), inst_data)

    @classmethod
    def config_type(cls):
        """base_dir is optional: the default instance's folder under DAGSTER_HOME."""
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        """This class (not SqliteEventLogStorage, which the parent's returns) from dagster.yaml's config."""
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """One transaction on the shard's database, on a pooled connection of its kept engine."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        """The shard's kept engine, made on first use; the least recently used run database's is disposed."""
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD]
        for name in runs[: max(len(runs) - MAX_RUN_ENGINES, 0)]:
            self._engines.pop(name).dispose()
        return engine

    def wipe(self) -> None:
        """As SqliteEventLogStorage.wipe, with no connection left open to the run databases it deletes."""
        with self._db_lock:
            dispose_engines(self._engines)
        super().wipe()

    def dispose(self) -> None:
        """Stop the watchers (as SqliteEventLogStorage) and close the pooled connections."""
        super().dispose()
        with self._db_lock:
            dispose_engines(self._engines)


def forget_engines_in_child() -> None:
    """After os.fork, in the child: drop the parent's pooled connections without closing them (SQLAlchemy's advice
    for pools and fork: a SQLite connection must not be used in two processes); the child opens its own."""
    for storage in list(LIVE_STORAGES):
        for engine in storage._engines.values():
            engine.dispose(close=False)
        storage._engines.clear()


LIVE_STORAGES: weakref.WeakSet[PooledSqliteEventLogStorage] = weakref.WeakSet()
os.register_at_fork(after_in_child=forget_engines_in_child)


def dispose_engines(engines: OrderedDict[str, Engine]) -> None:
    """Close every pooled connection of the engines and forget them (the next call makes new ones)."""
    while engines:
        engines.popitem()[1].dispose()


def default_base_dir() -> str:
    """DAGSTER_HOME/history/runs/, the event log folder of Dagster's default SQLite instance."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise dg.DagsterInvariantViolationError(
            "PooledSqliteEventLogStorage needs DAGSTER_HOME (or base_dir in dagster.yaml's event_log_storage config)"
        )
    return os.path.join(home, *EVENT_LOGS_FOLDER, "")
