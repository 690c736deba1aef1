"""Crash safety: `python -m pipeline run` is SIGKILLed at each fault-injection point; nothing published is harmed."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.ingest.sidecar import rehash_sidecar
from pipeline.publish.release.verify import verify_releases
from pipeline.publish.release.versions import LATEST, release_versions
from tests.support.paths import FIXTURE_RAW, REPO_ROOT
from tests.support.pipeline_runs import run_pipeline

pytestmark = pytest.mark.integration

RUN_TIMEOUT_SECONDS = 300


def pipeline_environment(tmp_path: Path, raw_dir: Path) -> dict[str, str]:
    """Environment for `python -m pipeline` with raw tables, warehouse and Dagster home in tmp_path."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    return {
        **os.environ,
        "PIPELINE_RAW_DIR": str(raw_dir),
        "PIPELINE_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def start_run(environment: dict[str, str], pause_at: str | None = None, marker: Path | None = None):
    """Start `python -m pipeline run`, optionally pausing at a fault-injection point."""
    if pause_at:
        environment = {**environment, "PIPELINE_PAUSE_AT": pause_at, "PIPELINE_PAUSE_MARKER": str(marker)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run"],
        env=environment,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_to_completion(environment: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `python -m pipeline run` and wait for it."""
    command = [sys.executable, "-m", "pipeline", "run"]
    return subprocess.run(
        command, env=environment, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )


def wait_for_marker(process: subprocess.Popen, marker: Path) -> None:
    """Block until the run has written its pause marker; fail with its output if it ended first."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not marker.exists():
        if process.poll() is not None:
            stdout, stderr = process.communicate()
            pytest.fail(f"run ended (code {process.returncode}) before pausing:\n{stdout}\n{stderr}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"run did not reach {marker.name} in {RUN_TIMEOUT_SECONDS} s")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL a run and reap it."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def published_state(warehouse_dir: Path) -> dict[str, object]:
    """What analysts and downloaders see: the live warehouse's bytes, `latest`, and every release file's bytes."""
    releases_dir = warehouse_dir / "releases"
    live = warehouse_dir / "indicators.duckdb"
    return {
        "warehouse": live.read_bytes() if live.exists() else None,
        "latest": os.readlink(releases_dir / LATEST) if (releases_dir / LATEST).is_symlink() else None,
        "releases": {
            f"{version}/{path.name}": path.read_bytes()
            for version in release_versions(releases_dir)
            for path in sorted((releases_dir / version).iterdir())
        },
    }


def warehouse_release(warehouse_dir: Path) -> str:
    """The release version the live warehouse says it holds (a fresh read-only connection)."""
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        return connection.execute("SELECT release_version FROM publication").fetchone()[0]


def leftovers(warehouse_dir: Path) -> list[str]:
    """Staging files, temporary release folders and links left behind."""
    names = [path.name for path in warehouse_dir.iterdir()] + [
        path.name for path in (warehouse_dir / "releases").iterdir()
    ]
    return sorted(name for name in names if ".staging-" in name or name.startswith((".tmp-", ".latest-")))


def fill_rural_income_2022(raw_dir: Path, value: str) -> None:
    """Replace the made-up fixture's missing 2022 rural income (—) by a value, and rehash its sidecar."""
    table = raw_dir / "fixture_income_wide.csv"
    text = table.read_text(encoding="utf-8")
    assert "12000,—" in text
    table.write_text(text.replace("12000,—", f"12000,{value}"), encoding="utf-8")
    rehash_sidecar(raw_dir / "fixture_income_wide.meta.yaml")


def assert_all_releases_verify(warehouse_dir: Path) -> None:
    """`verify` finds no mismatch in any release or in `latest`."""
    results = verify_releases(warehouse_dir / "releases")
    assert results and all(problems == [] for problems in results.values()), results


def test_killed_runs_leave_warehouse_and_latest_untouched_and_the_next_run_succeeds(tmp_path):
    raw_dir = tmp_path / "raw"
    shutil.copytree(FIXTURE_RAW, raw_dir)
    first_lane = tmp_path / "first_lane"
    first_lane.mkdir()
    assert run_pipeline(raw_dir, first_lane / "warehouse").success  # in-process: saves a subprocess's imports
    before = published_state(first_lane / "warehouse")
    assert before["latest"] == warehouse_release(first_lane / "warehouse")
    second_lane = tmp_path / "second_lane"
    shutil.copytree(first_lane / "warehouse", second_lane / "warehouse", symlinks=True)
    assert published_state(second_lane / "warehouse") == before
    fill_rural_income_2022(raw_dir, "12600")  # every later run has new content to publish

    # Two independent warehouse folders, each killed at its own points, run side by side to save wall time. Each
    # killed run is also "the next run" of the kill before it: it cleans up the dead run's files and gets further.
    # The second lane ends with a run that publishes. (A kill between the publication steps — after the release
    # rename, after `latest` — is tested in tests/unit/publish/test_release.py on the on-disk state it leaves.)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [
            pool.submit(kill_then_publish, first_lane, raw_dir, before, ("staging", "audits", "release"), False),
            pool.submit(kill_then_publish, second_lane, raw_dir, before, ("swap",), True),
        ]
        for lane in lanes:
            lane.result()


def kill_then_publish(
    lane: Path, raw_dir: Path, before: dict[str, object], points: tuple[str, ...], publish_at_end: bool
) -> None:
    """SIGKILL a run at each point: nothing published changes and verify passes; then, maybe, a run publishes."""
    environment = pipeline_environment(lane, raw_dir)
    warehouse_dir = lane / "warehouse"
    for point in points:
        marker = lane / f"paused-at-{point}"
        process = start_run(environment, point, marker)
        wait_for_marker(process, marker)
        if point == "staging":
            second = run_to_completion(environment)  # one writer at a time: a second run exits, clearly
            assert second.returncode == 75, second.stderr
            lock = warehouse_dir.resolve() / ".pipeline.lock"
            assert f"another pipeline run holds {lock} (pid {process.pid}" in second.stderr
        kill(process)
        assert published_state(warehouse_dir) == before, f"killed at {point}: published state changed"
        assert_all_releases_verify(warehouse_dir)
        assert leftovers(warehouse_dir), f"killed at {point}: expected the dead run's staging or temporary files"
    if not publish_at_end:
        return

    last = run_to_completion(environment)
    assert last.returncode == 0, last.stderr
    assert "release: new release" in last.stdout and "(replaced)" in last.stdout  # the run's closing summary
    new_version = release_versions(warehouse_dir / "releases")[-1]
    assert release_versions(warehouse_dir / "releases") == [before["latest"], new_version]
    assert os.readlink(warehouse_dir / "releases" / LATEST) == new_version
    assert warehouse_release(warehouse_dir) == new_version
    assert leftovers(warehouse_dir) == []
    assert_all_releases_verify(warehouse_dir)
    changes = (warehouse_dir / "releases" / new_version / "CHANGES.md").read_text(encoding="utf-8")
    assert f"Compared with release {before['latest']}." in changes
    assert "| observations | 14 | 14 | 0 | 0 | 1 |" in changes
