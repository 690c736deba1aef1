"""The event log of `make run` / `make nightly`: Dagster's SQLite event log with kept engines and connections.

Same object, files and contents as Dagster's own storage, connections reused instead of reopened for every call, another
storage (another process) sees every committed event, a bounded number of kept engines, nothing left open after
wipe or dispose, no WAL file left at exit; and a guard on the private Dagster method it overrides."""

from __future__ import annotations

import inspect
import os
import shutil
import sqlite3
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event

from pipeline.defs.event_log import MAX_RUN_ENGINES, PooledSqliteEventLogStorage, pool_event_log_connections
from tests.support.paths import REPO_ROOT


@dg.asset
def made_up_number() -> int:
    """A made-up asset: one materialisation per run."""
    return 1


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A DAGSTER_HOME with the project's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def project_instance(home) -> dg.DagsterInstance:
    """The instance of the home's dagster.yaml, its event log pooled as the runner does."""
    instance = dg.DagsterInstance.from_config(str(home))
    assert pool_event_log_connections(instance)
    return instance


def test_the_runner_pools_the_event_log_the_instance_already_holds_in_its_own_folder(home):
    instance = dg.DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    assert type(storage) is SqliteEventLogStorage  # the project's dagster.yaml: Dagster's own storage
    assert pool_event_log_connections(instance)
    assert instance.event_log_storage is storage and type(storage) is PooledSqliteEventLogStorage
    assert not pool_event_log_connections(instance)  # once only
    assert storage._base_dir == str(home / "history" / "runs")
    result = dg.materialize([made_up_number], instance=instance)
    assert result.success
    assert (home / "history" / "runs" / f"{result.run_id}.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert instance.get_latest_materialization_event(dg.AssetKey("made_up_number")).run_id == result.run_id
    instance.dispose()


def test_connections_are_reused_and_another_storage_sees_every_committed_event(home):
    instance = project_instance(home)
    storage = instance.event_log_storage
    opened: list[object] = []
    dg.materialize([made_up_number], instance=instance)  # makes the index's engine
    event.listen(storage._engines["index"], "connect", lambda connection, record: opened.append(connection))
    runs = [dg.materialize([made_up_number], instance=instance).run_id for _ in range(3)]
    assert opened == []  # three runs' index writes on the one pooled connection
    other = SqliteEventLogStorage(str(home / "history" / "runs"))  # Dagster's own class, as another process has
    records = other.fetch_materializations(dg.AssetKey("made_up_number"), limit=10).records
    assert {record.run_id for record in records} >= set(runs)
    assert [entry.run_id for entry in other.get_logs_for_run(runs[-1])] == [runs[-1]] * len(
        storage.get_logs_for_run(runs[-1])
    )
    instance.dispose()


def test_the_kept_engines_are_bounded_and_wipe_and_dispose_close_them(home):
    instance = project_instance(home)
    storage = instance.event_log_storage
    for _ in range(MAX_RUN_ENGINES + 2):
        dg.materialize([made_up_number], instance=instance)
    assert "index" in storage._engines
    assert len(storage._engines) == MAX_RUN_ENGINES + 1
    storage.wipe()
    assert list(storage._engines) == ["index"]  # the wipe itself empties the index through a new engine
    assert list((home / "history" / "runs").glob("*.db")) == [home / "history" / "runs" / "index.db"]
    assert dg.materialize([made_up_number], instance=instance).success  # usable again after a wipe
    instance.dispose()
    assert storage._engines == {}


def test_no_wal_file_is_left_when_the_process_ends(home):
    script = (
        "import dagster as dg\n"
        "from pipeline.defs.event_log import pool_event_log_connections\n"
        "from tests.unit.defs.test_event_log import made_up_number\n"
        "instance = dg.DagsterInstance.get()\n"
        "assert pool_event_log_connections(instance)\n"
        "assert dg.materialize([made_up_number], instance=instance).success\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True)
    runs = home / "history" / "runs"
    assert list(runs.glob("*-wal")) == []
    with sqlite3.connect(runs / "index.db") as connection:  # every event is in the database file itself
        assert connection.execute("select count(*) from event_logs").fetchone()[0] > 0


def test_another_event_log_storage_is_left_as_it_is():
    with dg.DagsterInstance.ephemeral() as instance:
        kind = type(instance.event_log_storage)
        assert not pool_event_log_connections(instance)
        assert type(instance.event_log_storage) is kind


def test_the_overridden_dagster_method_keeps_its_shape():
    """PooledSqliteEventLogStorage replaces SqliteEventLogStorage._connect (private): an upgrade that changes it fails here."""
    assert list(inspect.signature(SqliteEventLogStorage._connect).parameters) == ["self", "shard"]
    source = inspect.getsource(SqliteEventLogStorage._connect)
    for expected in ("self._db_lock", "self._initialized_dbs", "self._initdb(engine)", "conn.begin()"):
        assert expected in source
    assert SqliteEventLogStorage.run_connection.__qualname__ == "SqliteEventLogStorage.run_connection"
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.run_connection)
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.index_connection)


def test_a_forked_child_opens_its_own_connections_and_the_parent_keeps_working(home):
    instance = project_instance(home)
    storage = instance.event_log_storage
    dg.materialize([made_up_number], instance=instance)
    parent_engine = storage._engines["index"]
    child = os.fork()
    if child == 0:  # the child: no engine of the parent's left; a run of its own is stored
        code = 0 if storage._engines == {} and dg.materialize([made_up_number], instance=instance).success else 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert storage._engines["index"] is parent_engine
    assert len(storage.fetch_materializations(dg.AssetKey("made_up_number"), limit=10).records) == 2
    instance.dispose()


def test_the_runner_of_make_run_and_make_nightly_pools_the_event_log(home):
    from pipeline.defs.automation import JOB_NAME
    from pipeline.operate.runs import execute_job

    instance = dg.DagsterInstance.from_config(str(home))
    definitions = dg.Definitions(assets=[made_up_number], jobs=[dg.define_asset_job(JOB_NAME)])
    assert execute_job(definitions, instance, log_level="CRITICAL").success
    assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
    assert len(instance.fetch_materializations(dg.AssetKey("made_up_number"), limit=10).records) == 1
    instance.dispose()
