"""A made-up one-op job for the run-monitoring tests: its first run sleeps until killed, later runs finish at once.

The daemon test loads it as a code location (`python_module: tests.support.sleepy_job`); a sensor requests one
run for each new content of the file SLEEPY_REQUEST names, so the test starts runs by writing that file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg

MARKER_VARIABLE = "SLEEPY_MARKER"  # the first run writes its pid here, then sleeps
REQUEST_VARIABLE = "SLEEPY_REQUEST"  # each new content of this file requests one run
SLEEP_SECONDS = 600


@dg.op
def sleep_once() -> None:
    """The first time: write this process's pid to the marker and sleep (the test kills it); then return."""
    marker = Path(os.environ[MARKER_VARIABLE])
    if marker.exists():
        return
    marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
    time.sleep(SLEEP_SECONDS)


@dg.job(executor_def=dg.in_process_executor)  # as the project's job: the op runs in the run worker
def sleepy() -> None:
    """One op that sleeps on its first run."""
    sleep_once()


@dg.sensor(job=sleepy, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def sleepy_requests():
    """One run per new content of the request file."""
    request = Path(os.environ[REQUEST_VARIABLE])
    if not request.exists():
        return dg.SkipReason("no request yet")
    return dg.RunRequest(run_key=request.read_text(encoding="utf-8").strip())


defs = dg.Definitions(jobs=[sleepy], sensors=[sleepy_requests])
