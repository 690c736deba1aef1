"""A SIGKILLed run is marked failed (by the runner, or by the daemon's run monitoring), so the next run starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from pipeline.defs.run_monitoring import MonitoredRunLauncher, fail_dead_runs, worker_health
from tests.support.paths import REPO_ROOT
from tests.support.sleepy_job import MARKER_VARIABLE, REQUEST_VARIABLE

pytestmark = pytest.mark.integration

WAIT_SECONDS = 120
IN_PROCESS_RUN = """
import socket
import dagster as dg
from pipeline.defs.run_monitoring import HOST_TAG
from tests.support.sleepy_job import sleepy
sleepy.execute_in_process(instance=dg.DagsterInstance.get(), tags={HOST_TAG: socket.gethostname()})
"""


def dagster_home(tmp_path: Path, poll_interval_seconds: int | None = None) -> Path:
    """A Dagster home with the project's dagster.yaml (optionally polling faster, so the test is short)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = (REPO_ROOT / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8")
    if poll_interval_seconds is not None:
        config, replaced = re.subn(
            r"poll_interval_seconds: \d+", f"poll_interval_seconds: {poll_interval_seconds}", config
        )
        assert replaced == 1
    (home / "dagster.yaml").write_text(config, encoding="utf-8")
    return home


def environment(home: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of the processes under test."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),
        MARKER_VARIABLE: str(tmp_path / "sleeping.pid"),
        REQUEST_VARIABLE: str(tmp_path / "request.txt"),
    }


def wait_for(condition, what: str, process: subprocess.Popen | None = None):
    """Poll until condition() is truthy; fail naming `what` (and the process's output if it died)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process ended with {process.returncode}:\n{process.communicate()[0]}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {WAIT_SECONDS} s waiting for {what}")


def sleeping_pid(tmp_path: Path) -> int | None:
    """The pid the sleeping op wrote, once it has."""
    marker = tmp_path / "sleeping.pid"
    text = marker.read_text(encoding="utf-8").strip() if marker.exists() else ""
    return int(text) if text else None


def runs_by_status(instance: dg.DagsterInstance) -> list[tuple[str, dg.DagsterRunStatus]]:
    """Every run's id and status, oldest first."""
    return [(run.run_id, run.status) for run in reversed(instance.get_runs())]


def test_a_killed_in_process_run_is_marked_failed_by_the_next_runner(tmp_path):
    home = dagster_home(tmp_path)
    process = start_in_process_run(home, tmp_path)
    try:
        wait_for(lambda: sleeping_pid(tmp_path), "the run to start sleeping", process)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_launcher, MonitoredRunLauncher)  # the committed dagster.yaml's launcher
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.STARTED
            assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
            assert fail_dead_runs(instance) == []  # a live run is left alone
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED  # what a kill leaves: the run looks alive
        assert worker_health(instance, run).status == WorkerStatus.FAILED
        (message,) = fail_dead_runs(instance)
        assert run.run_id in message and "gone" in message
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def start_in_process_run(home: Path, tmp_path: Path) -> subprocess.Popen:
    """A run executed in its own process on the instance, as `make run` and `make nightly` do; it sleeps."""
    return subprocess.Popen(
        [sys.executable, "-c", IN_PROCESS_RUN],
        env=environment(home, tmp_path),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_run_killed_while_the_daemon_runs_is_failed_by_run_monitoring_and_the_queued_run_starts(tmp_path):
    # Dagster's code server fails a run whose worker it launched and saw die; nobody fails a run whose process was
    # not the code server's child (a killed `make run` / `make nightly`, or the daemon killed with its runs): with
    # one run at a time it blocks the queue. The project's launcher lets run monitoring fail it.
    home = dagster_home(tmp_path, poll_interval_seconds=1)
    killed = start_in_process_run(home, tmp_path)
    wait_for(lambda: sleeping_pid(tmp_path), "the in-process run to start sleeping", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ((first_run_id, status),) = runs_by_status(instance)
        assert status == dg.DagsterRunStatus.STARTED  # what the kill leaves behind
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: tests.support.sleepy_job\n"
        f"      working_directory: {REPO_ROOT}\n",
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
        env=environment(home, tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        (tmp_path / "request.txt").write_text("second\n", encoding="utf-8")  # the sensor queues a run
        with dg.DagsterInstance.from_config(str(home)) as instance:

            def second_run_succeeded() -> bool:
                return any(
                    run.status == dg.DagsterRunStatus.SUCCESS and run.tags.get("dagster/run_key") == "second"
                    for run in instance.get_runs()
                )

            wait_for(second_run_succeeded, "the queued run to start and succeed", daemon)
            assert instance.get_run_by_id(first_run_id).status == dg.DagsterRunStatus.FAILURE
            messages = [entry.message or "" for entry in instance.all_logs(first_run_id)]
            assert any("is gone (killed or crashed)" in message for message in messages), messages
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)  # the daemon, its code server and any run worker it started
        daemon.communicate(timeout=30)
