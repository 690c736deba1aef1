"""Warehouse: audits on the staging file before the swap, nothing published on failure, stale staging, the lock."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from pipeline.core.locks import PipelineBusyError, lock_is_held, pipeline_lock
from pipeline.defs.resources import ProjectPaths
from pipeline.publish.publication import publish_tables
from pipeline.publish.registry import PublishedTable
from pipeline.publish.release.verify import verify_releases
from pipeline.publish.release.versions import LATEST, release_versions
from pipeline.publish.warehouse import WarehouseAuditError, remove_stale_staging
from tests.support.paths import REPO_ROOT

TODAY = dt.date(2026, 11, 28)


class RegionLikeSchema(pa.DataFrameModel):
    """A made-up dimension table."""

    region_code: Series[str] = pa.Field(description="region code")
    name_en: Series[str] = pa.Field(description="name")

    class Config:
        strict = True
        coerce = True


class MeasureSchema(pa.DataFrameModel):
    """A made-up fact table referring to the dimension."""

    region_code: Series[str] = pa.Field(description="region code")
    year: Series[int] = pa.Field(description="year")
    value: Series[float] = pa.Field(nullable=True, description="value")

    class Config:
        strict = True
        coerce = True


SPECS = {
    "places": PublishedTable(RegionLikeSchema, ("region_code",)),
    "measures": PublishedTable(
        MeasureSchema, ("region_code", "year"), references={"region_code": "places.region_code"}
    ),
}


def good_tables() -> dict[str, pd.DataFrame]:
    """Two made-up tables that pass every audit."""
    return {
        "places": pd.DataFrame({"region_code": ["440100", "440103"], "name_en": ["Guangzhou", "Liwan"]}),
        "measures": pd.DataFrame({"region_code": ["440100", "440103"], "year": [2020, 2020], "value": [1.0, 2.0]}),
    }


def paths_in(tmp_path: Path) -> ProjectPaths:
    """Project paths with the warehouse folder in tmp_path."""
    return ProjectPaths(raw_dir=str(tmp_path / "raw"), warehouse_dir=str(tmp_path / "warehouse"))


def snapshot(warehouse_dir: Path) -> dict[str, object]:
    """Every file under the warehouse folder (bytes), and where `latest` points."""
    files = {
        str(path.relative_to(warehouse_dir)): path.read_bytes()
        for path in sorted(warehouse_dir.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name != ".pipeline.lock"
    }
    link = warehouse_dir / "releases" / LATEST
    return {"files": files, "latest": os.readlink(link) if link.is_symlink() else None}


def with_duplicate_key(tables):
    """measures holds 440100/2020 twice."""
    measures = pd.concat([tables["measures"], tables["measures"].iloc[[0]].assign(value=9.0)], ignore_index=True)
    return {**tables, "measures": measures}


def with_orphan_reference(tables):
    """measures refers to a region missing from places."""
    extra = pd.DataFrame({"region_code": ["449999"], "year": [2021], "value": [3.0]})
    return {**tables, "measures": pd.concat([tables["measures"], extra], ignore_index=True)}


def with_null_key(tables):
    """measures has a row without a region code."""
    extra = pd.DataFrame({"region_code": [None], "year": [2021], "value": [3.0]})
    return {**tables, "measures": pd.concat([tables["measures"], extra], ignore_index=True)}


def with_unexpected_column(tables):
    """places has a column its model does not declare."""
    return {**tables, "places": tables["places"].assign(note="x")}


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (
            with_duplicate_key,
            "measures: primary key (region_code, year) not unique, 1 duplicated key(s): region_code=440100, year=2020 ×2",
        ),
        (with_orphan_reference, "measures.region_code: 1 value(s) not found in places.region_code: 449999"),
        (with_null_key, "measures: 1 row(s) with a null primary key (region_code, year)"),
        (
            with_unexpected_column,
            "places: columns ['region_code', 'name_en', 'note'] differ from the RegionLikeSchema model's",
        ),
    ],
)
def test_a_failing_audit_publishes_nothing(tmp_path, corrupt, expected):
    paths = paths_in(tmp_path)
    publish_tables(good_tables(), {}, paths, TODAY, specs=SPECS)
    before = snapshot(paths.warehouse_path)

    changed = {**good_tables(), "places": good_tables()["places"].assign(name_en=["Canton", "Liwan"])}
    with pytest.raises(WarehouseAuditError) as raised:
        publish_tables(corrupt(changed), {}, paths, TODAY, specs=SPECS)

    assert any(expected in problem for problem in raised.value.problems), raised.value.problems
    assert "nothing was published" in str(raised.value)
    assert snapshot(paths.warehouse_path) == before  # no new release, no staging or temporary files, same warehouse
    assert release_versions(paths.releases_path) == ["2026.11.28.1"]
    assert all(problems == [] for problems in verify_releases(paths.releases_path).values())


def test_stale_staging_files_of_a_killed_run_are_removed_on_the_next_run(tmp_path):
    paths = paths_in(tmp_path)
    warehouse_dir = paths.warehouse_path
    warehouse_dir.mkdir(parents=True)
    stale = [
        warehouse_dir / ".indicators.duckdb.staging-999999",
        warehouse_dir / ".indicators.duckdb.staging-999999.wal",
    ]
    for path in stale:
        path.write_bytes(b"left by a killed run")
    unrelated = warehouse_dir / "notes.txt"
    unrelated.write_text("analyst's file")
    with pytest.raises(RuntimeError, match="pipeline lock"):
        remove_stale_staging(paths.warehouse_file)

    publish_tables(good_tables(), {}, paths, TODAY, specs=SPECS)

    assert not any(path.exists() for path in stale)
    assert unrelated.read_text() == "analyst's file"
    leftovers = [path.name for path in warehouse_dir.iterdir() if ".staging-" in path.name]
    assert leftovers == []


HOLDER = """
import sys, time
from pathlib import Path
from pipeline.core.locks import pipeline_lock
with pipeline_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    while not Path(sys.argv[2]).exists():  # hold the lock until the test says go
        time.sleep(0.02)
"""


@pytest.mark.integration  # starts a second process
def test_one_writer_at_a_time(tmp_path):
    warehouse_dir = tmp_path / "warehouse"
    release_signal = tmp_path / "release-the-lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse_dir), str(release_signal)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(PipelineBusyError, match=rf"holds .*\.pipeline\.lock \(pid {holder.pid} since"),
            pipeline_lock(warehouse_dir),
        ):
            pass
        with pytest.raises(PipelineBusyError):
            publish_tables(good_tables(), {}, paths_in(tmp_path), TODAY, specs=SPECS)
        assert not (warehouse_dir / "indicators.duckdb").exists()

        messages = []
        started = time.monotonic()
        threading.Timer(1.0, release_signal.write_text, ["go"]).start()
        with pipeline_lock(warehouse_dir, wait=True, announce=messages.append):
            waited = time.monotonic() - started
            with pipeline_lock(warehouse_dir):  # re-entrant within one process
                assert lock_is_held(warehouse_dir)
        assert not lock_is_held(warehouse_dir)
        assert (warehouse_dir / ".pipeline.lock").read_text() == ""  # emptied on release: stable between runs
        assert messages and "waiting for it to finish" in messages[0]
        assert waited >= 1.0  # we got the lock only after the holder was told to let go
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
        holder.wait()
