"""Dead run workers: a run left STARTED by a killed process is marked failed, so the one-run queue moves on."""

from __future__ import annotations

import socket

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from pipeline.core.processes import process_is_running

LAUNCHED_MESSAGE = "Started process for run"  # the engine event a launched run worker records first
HOST_TAG = "pipeline/host"  # set by the in-process runner: a pid means something on this machine only


class MonitoredRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, plus the worker health check run monitoring needs to fail runs of dead workers.

    The default launcher cannot tell that a run worker died (SIGKILL, out of memory), so its run stays STARTED and,
    with one run at a time, blocks every queued run until `max_runtime_seconds`. Here the worker is the process
    that recorded the run's RUN_START event; when it is gone (or a zombie, or its pid was reused) the daemon's run
    monitoring marks the run failed within `poll_interval_seconds`.
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask whether a run's worker is alive."""
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """RUNNING while the process that started the run lives, FAILED once it is gone, UNKNOWN if none recorded."""
        return worker_health(self._instance, run)


def worker_health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    """The health of a run's worker process, from the pid and time of the run's worker events."""
    worker = run_worker(instance, run.run_id)
    if worker is None:
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no run worker process recorded yet")
    pid, recorded_at = worker
    if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker pid {pid} is on {run.tags[HOST_TAG]}")
    if process_is_running(pid, recorded_at):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is running")
    return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone (killed or crashed)")


def run_worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the process executing a run and when it last recorded an event, or None if none is recorded."""
    started = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, ascending=False, limit=1)
    engine = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    launched = [record for record in engine if str(record.event_log_entry.message or "").startswith(LAUNCHED_MESSAGE)]
    for record in [*started.records, *launched[-1:]]:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return event.pid, record.event_log_entry.timestamp
    return None


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run whose worker process is gone; the messages (one per run marked)."""
    messages = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        health = worker_health(instance, run)
        if health.status != WorkerStatus.FAILED:
            continue
        message = f"run {run.run_id} was left STARTED: {health.msg}; marked failed"
        instance.report_run_failed(run, message)
        messages.append(message)
    return messages
