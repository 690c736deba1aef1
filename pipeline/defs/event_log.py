"""Dagster's SQLite event log with its database engines and connections kept between calls, for `make run` / `make nightly`.

Dagster 1.13's SqliteEventLogStorage builds a new SQLAlchemy engine, opens a new SQLite connection and closes it
(without a pool) for every call: about 8,000 times in one run of the real bundle (~2,600 events, each written to the
run's database and, for asset and check events, to index.db). Building the engine, SQLAlchemy's first-connect
queries, compiling each statement anew (the compiled-statement cache belongs to the engine) and the close (the last
connection to a WAL database checkpoints it) were about 14 of the run's 36 s on a quiet machine.

`pool_event_log_connections(instance)` (called by pipeline.operate.runs for the instance of DAGSTER_HOME) makes the
instance's SqliteEventLogStorage this subclass: the same object, the same files (history/runs/index.db and one <run_id>.db per run, WAL mode) and the
same schema; only `_connect` differs: each database's engine is kept, with SQLAlchemy's default pool for a SQLite
file (QueuePool), so a connection is reused rather than reopened. Calls are still serialised by the storage's lock
and each is still one transaction, committed when the call ends; an idle pooled connection holds no lock, so another
process (the UI, the daemon, which keep Dagster's own storage) reads and writes as before. Engines of the index and of the most recent run databases are
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


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (and their pooled connections) are kept between calls."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        """As SqliteEventLogStorage."""
        self._start_pooling()
        super().__init__(base_dir, inst_data)

    def _start_pooling(self) -> None:
        """No engine kept yet; at exit (or when collected) the pooled connections close, the last one of each
        database checkpointing its WAL into the database file, so no -wal file is left, as with Dagster's storage."""
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        weakref.finalize(self, dispose_engines, self._engines)
        LIVE_STORAGES.add(self)

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


def pool_event_log_connections(instance: dg.DagsterInstance) -> bool:
    """Make the instance's event log keep its engines and connections, if it is Dagster's SQLite one; True if so.

    For the processes the project starts (`make run`, `make nightly`): the storage object the instance (and its
    storage) already holds becomes a PooledSqliteEventLogStorage, with the folder it was configured with. Any other
    storage (in memory, Postgres, already pooled) is left as it is.
    """
    storage = instance.event_log_storage
    if type(storage) is not SqliteEventLogStorage:
        return False
    with storage._db_lock:
        storage.__class__ = PooledSqliteEventLogStorage
        storage._start_pooling()  # type: ignore[attr-defined]
    return True
