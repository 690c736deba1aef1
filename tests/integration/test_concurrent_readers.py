"""Analysts' read-only connections in other processes keep working, and see whole warehouses, while runs publish."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.publish.registry import PUBLISHED_TABLES
from pipeline.publish.release.versions import DATAPACKAGE, LATEST, release_versions
from tests.integration.test_crash import fill_rural_income_2022, pipeline_environment, run_to_completion
from tests.support.paths import FIXTURE_RAW
from tests.support.pipeline_runs import run_pipeline
from tests.support.tables import write_table

pytestmark = pytest.mark.integration

# A reader process: one read-only connection for the whole test ("hold") or a new one per query ("reconnect").
# Each query reads the publication marker and the row counts in one transaction and logs them as a JSON line.
READER = """
import json, os, sys, time
import duckdb

path, log_path, stop_path, mode = sys.argv[1:5]
held = duckdb.connect(path, read_only=True) if mode == "hold" else None
with open(log_path, "w", encoding="utf-8") as log:
    print("ready", flush=True)
    while not os.path.exists(stop_path):
        try:
            connection = held or duckdb.connect(path, read_only=True)
            connection.execute("BEGIN TRANSACTION")
            version, content_hash = connection.execute(
                "SELECT release_version, content_hash FROM publication"
            ).fetchone()
            counts = connection.execute(
                "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM observations),"
                " (SELECT count(*) FROM indicators), (SELECT sum(value) FROM indicators)"
            ).fetchone()
            names = ("sources", "observations", "indicators", "indicator_value_sum")
            record = {"version": version, "content_hash": content_hash, **dict(zip(names, counts))}
            connection.execute("COMMIT")
            if held is None:
                connection.close()
        except Exception as error:  # every error is a failure of the test
            record = {"error": repr(error)}
        log.write(json.dumps(record) + "\\n")
        log.flush()
        time.sleep(0.2)
"""
READER_MODES = ("hold", "reconnect", "reconnect")


def assert_progress_and_summary(stdout: str) -> None:
    """`make run` shows a line per finished step (elapsed time, step k of n, rows) and a closing human summary."""
    progress = re.findall(r"^\[\s*([\d.]+) s\]\s+(\d+)/(\d+) (.+)$", stdout, flags=re.MULTILINE)
    assert len(progress) >= 10, stdout
    assert [int(step) for _, step, _, _ in progress] == list(range(1, len(progress) + 1))
    assert int(progress[-1][1]) == int(progress[-1][2])  # the last line is step n of n
    assert [float(seconds) for seconds, _, _, _ in progress] == sorted(float(seconds) for seconds, _, _, _ in progress)
    assert any(re.match(r"observations \(\d+ rows\)", text) for _, _, _, text in progress), stdout
    assert any(text.startswith("raw_files: ") and "file(s) observed" in text for _, _, _, text in progress)
    for heading in ("checks: ", "release: new release ", "release folder: ", "warehouse: ", "rows: "):
        assert re.search(rf"^{re.escape(heading)}", stdout, re.MULTILINE), f"no {heading!r} line in:\n{stdout}"
    assert re.search(r"^rows: .*observations \d+", stdout, re.MULTILINE)
    assert re.search(r"^  changed: observations: \d+ → \d+ rows, 1 added", stdout, re.M), stdout
    assert "=" not in stdout.split("checks: ")[1]  # no key=value lines unless --machine-readable


def release_expectations(releases_dir: Path) -> dict[str, dict[str, object]]:
    """Per release version: its content hash, table row counts and the sum of indicator values."""
    expectations = {}
    for version in release_versions(releases_dir):
        package = json.loads((releases_dir / version / DATAPACKAGE).read_text(encoding="utf-8"))
        rows = {resource["name"]: resource.get("rows") for resource in package["resources"]}
        values = pq.read_table(releases_dir / version / "indicators.parquet").column("value").to_pylist()
        expectations[version] = {
            "content_hash": package["content_hash"],
            "sources": rows["sources"],
            "observations": rows["observations"],
            "indicators": rows["indicators"],
            "indicator_value_sum": sum(values),
        }
    return expectations


def test_readers_never_fail_and_see_either_the_old_or_the_new_warehouse(tmp_path):
    raw_dir = tmp_path / "raw"
    warehouse_dir = tmp_path / "warehouse"
    raw_dir.mkdir()
    for path in FIXTURE_RAW.iterdir():
        (raw_dir / path.name).write_bytes(path.read_bytes())
    initial = run_pipeline(raw_dir, warehouse_dir)
    assert initial.success
    assert_published_every_registry_table(initial, warehouse_dir)
    environment = pipeline_environment(tmp_path, raw_dir)
    stop = tmp_path / "stop-readers"
    logs = [tmp_path / f"reader-{number}-{mode}.jsonl" for number, mode in enumerate(READER_MODES)]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(warehouse_dir / "indicators.duckdb"), str(log), str(stop), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        for log, mode in zip(logs, READER_MODES, strict=True)
    ]
    try:
        for reader in readers:
            assert reader.stdout.readline().strip() == "ready"
        wait_until(lambda: all(log.exists() and log.read_text(encoding="utf-8").count("\n") >= 3 for log in logs))

        fill_rural_income_2022(raw_dir, "12600")  # first run: a gap filled, one derived ratio more
        first = run_to_completion(environment)
        assert first.returncode == 0, first.stderr
        middle = release_versions(warehouse_dir / "releases")[-1]
        reconnecting = [log for log, mode in zip(logs, READER_MODES, strict=True) if mode == "reconnect"]
        wait_until(lambda: all(f'"version": "{middle}"' in log.read_text(encoding="utf-8") for log in reconnecting))
        write_table(
            raw_dir,
            "fixture_guangzhou_long",
            "地区,年份,指标,数值\n广州市,2020,农村居民人均可支配收入,26000\n",
            caveats=["MADE UP for the concurrent readers test."],
        )  # second run: a new source table and one observation more
        second = run_to_completion(environment)
        assert second.returncode == 0, second.stderr
        assert_progress_and_summary(second.stdout)
        time.sleep(0.5)  # let the readers query the newest warehouse a few times
    finally:
        stop.write_text("stop")
        for reader in readers:
            reader.wait(timeout=60)

    expectations = release_expectations(warehouse_dir / "releases")
    versions = list(expectations)
    assert len(versions) == 3
    assert len({(e["observations"], e["indicators"], e["sources"]) for e in expectations.values()}) == 3
    for log, mode in zip(logs, READER_MODES, strict=True):
        records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        errors = [record["error"] for record in records if "error" in record]
        assert errors == [], f"{log.name}: {errors[:3]}"
        for record in records:
            expected = expectations[record["version"]]
            seen = {key: record[key] for key in expected}
            assert seen == pytest.approx(expected), f"{log.name}: a query mixed warehouses: {seen} vs {expected}"
        order = [versions.index(record["version"]) for record in records]
        assert order == sorted(order), f"{log.name}: went back to an older warehouse"
        if mode == "hold":
            assert set(order) == {0}  # an open connection keeps the warehouse it opened until reconnected
        else:
            assert set(order) == {0, 1, 2}  # a new connection sees the warehouse published last
        assert len(records) >= 10
        print(f"{log.name}: {len(records)} queries, 0 errors, versions seen in order: {sorted(set(order))}")


def wait_until(condition, timeout: float = 60.0) -> None:
    """Poll a condition until it holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


def assert_published_every_registry_table(result, warehouse_dir: Path) -> None:
    """The job's publication step put every registry table and the publication row in the warehouse, and a release."""
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        tables = {row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        version = connection.execute("SELECT release_version FROM publication").fetchone()[0]
    assert tables == {*PUBLISHED_TABLES, "publication"}
    assert os.readlink(warehouse_dir / "releases" / LATEST) == version
    materialised = {
        event.materialization.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert materialised["release"]["changed"].value is True
    assert materialised["warehouse"]["swapped"].value is True
    package = json.loads((warehouse_dir / "releases" / version / DATAPACKAGE).read_text(encoding="utf-8"))
    rows = {resource["name"]: resource.get("rows") for resource in package["resources"]}
    assert {name: materialised["warehouse"][f"rows_{name}"].value for name in PUBLISHED_TABLES} == {
        name: rows[name] for name in PUBLISHED_TABLES
    }
