"""Done-when: a malformed table fails the run naming its file, and the warehouse and latest release keep every byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.defs import validate
from pipeline.ingest.sidecar import rehash_sidecar
from tests.support.paths import FIXTURE_RAW, REPO_ROOT
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages
from tests.support.tables import corrupt_one_figure, write_table

pytestmark = pytest.mark.integration
CORRUPTED = "gd_yearbook_2024_t10_22"


def published_bytes(warehouse_dir: Path) -> dict[str, bytes | str]:
    """Every file under the warehouse folder (the DuckDB file, every release, the latest link) and its bytes."""
    snapshot: dict[str, bytes | str] = {}
    for path in sorted(warehouse_dir.rglob("*")):
        name = path.relative_to(warehouse_dir).as_posix()
        if path.is_symlink():
            snapshot[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            snapshot[name] = path.read_bytes()
    latest = warehouse_dir / "releases" / "latest"
    for path in sorted(latest.resolve().rglob("*")):
        snapshot[f"latest/{path.relative_to(latest.resolve()).as_posix()}"] = path.read_bytes()
    return snapshot


def test_malformed_copy_of_a_real_table_fails_every_way_it_is_run_and_publishes_nothing(tmp_path):
    raw_dir = tmp_path / "raw"
    warehouse_dir = tmp_path / "warehouse"
    shutil.copytree(REPO_ROOT / "raw", raw_dir)
    result = run_pipeline(raw_dir, warehouse_dir)
    assert result.success, step_failure_messages(result)
    before = published_bytes(warehouse_dir)
    assert "indicators.duckdb" in before and any(name.startswith("latest/") for name in before)

    # 1. The file changed but its sidecar still holds the old checksum.
    line, column = corrupt_one_figure(raw_dir / f"{CORRUPTED}.meta.yaml")
    result = run_pipeline(raw_dir, warehouse_dir)
    assert not result.success
    messages = step_failure_messages(result)
    assert "sha256_mismatch" in messages and f"{CORRUPTED}.csv" in messages
    assert published_bytes(warehouse_dir) == before

    # 2. The checksum updated: the reader finds the text in a numeric cell.
    rehash_sidecar(raw_dir / f"{CORRUPTED}.meta.yaml")
    result = run_pipeline(raw_dir, warehouse_dir)
    assert not result.success
    messages = step_failure_messages(result)
    assert f"{CORRUPTED}.csv, row {line}, column '{column}'" in messages and "[numeric_cell]" in messages
    assert published_bytes(warehouse_dir) == before

    # 3. The same through the command line that `make run` uses.
    completed = run_command_line(raw_dir, warehouse_dir, tmp_path / "dagster_home")
    assert completed.returncode != 0, completed.stdout
    assert f"{CORRUPTED}.csv" in completed.stderr and "numeric_cell" in completed.stderr
    assert published_bytes(warehouse_dir) == before


def run_command_line(raw_dir: Path, warehouse_dir: Path, dagster_home: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline run` on the given folders, with its own DAGSTER_HOME."""
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    environment = {
        **os.environ,
        "PIPELINE_RAW_DIR": str(raw_dir),
        "PIPELINE_WAREHOUSE_DIR": str(warehouse_dir),
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_districts_exceeding_the_city_total_fail_the_run_and_publish_nothing(tmp_path, monkeypatch):
    raw_dir = tmp_path / "raw"
    warehouse_dir = tmp_path / "warehouse"
    shutil.copytree(FIXTURE_RAW, raw_dir)
    content = "地区,年份,指标,数值\n广州市,2023,农村居民人均可支配收入,100\n广州市,2022,农村居民人均可支配收入,—\n"
    write_table(raw_dir, "made_up_status", content, status=[{"status": "p", "years": [2023]}])
    assert run_pipeline(raw_dir, warehouse_dir).success
    before = published_bytes(warehouse_dir)
    # Status flags reach the warehouse and the release.
    expected = {(2022, None, ":"), (2023, 100.0, "p")}
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "SELECT year, value, status FROM observations WHERE source_id = ?", ["made_up_status"]
        ).fetchall()
    assert set(rows) == expected
    released = pd.read_parquet(warehouse_dir / "releases" / "latest" / "observations.parquet")
    released = released[released["source_id"] == "made_up_status"]
    assert {
        (row.year, None if pd.isna(row.value) else row.value, row.status) for row in released.itertuples()
    } == expected
    # Pretend, for this test only, that the made-up table's indicator is additive (no catalogue entry is yet).
    monkeypatch.setattr(validate, "additive_indicator_codes", lambda *_: {"rural_disposable_income_per_capita"})
    content = "地区,年份,指标,数值\n广州市,2023,农村居民人均可支配收入,100\n荔湾区,2023,农村居民人均可支配收入,60\n越秀区,2023,农村居民人均可支配收入,50\n"
    write_table(raw_dir, "made_up_districts", content)
    result = run_pipeline(raw_dir, warehouse_dir)
    assert not result.success
    failures = failed_checks(result)
    assert "made_up_districts.csv, row 2" in failures["observations_parts_within_totals"]
    assert published_bytes(warehouse_dir) == before
