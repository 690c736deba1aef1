"""The benchmark's headline: `python -m pipeline run` itself (what `make run` runs) on a synthetic raw folder.

The command runs as a subprocess with the same entry point, executor and I/O manager as `make run`; only the
folders differ, through the environment the command line reads (pipeline/core/paths.py):
PIPELINE_RAW_DIR = the synthetic panel, PIPELINE_METADATA_DIR = a copy of pipeline/metadata whose regions.csv also
lists the synthetic regions, PIPELINE_WAREHOUSE_DIR = a scratch warehouse, DAGSTER_HOME = a scratch instance with
the project's dagster.yaml. The project's own raw/, warehouse/ and dagster_home/ are never touched. Step times
come from the run's events in that instance (STEP_START → STEP_SUCCESS / STEP_FAILURE).
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pandas as pd

from bench.pipeline_job import stage_of, step_intervals, step_peak_rss_mb, step_seconds, write_regions_csv
from pipeline.core.metadata import load_regions
from pipeline.core.paths import PACKAGE_METADATA_DIR, PROJECT_ROOT

INSTANCE_CONFIG = PROJECT_ROOT / "dagster_home" / "dagster.yaml"
RUN_LINE = re.compile(r"^run (?P<run_id>[0-9a-f-]{36}) (?P<outcome>succeeded|FAILED)", re.MULTILINE)


def command_environment(raw_dir: Path, regions: pd.DataFrame, work_dir: Path) -> dict[str, str]:
    """Scratch metadata, warehouse and Dagster instance in work_dir; the environment pointing the command at them."""
    metadata_dir = work_dir / "metadata"
    if not metadata_dir.is_dir():
        shutil.copytree(PACKAGE_METADATA_DIR, metadata_dir, ignore=shutil.ignore_patterns("__pycache__"))
        # The synthetic regions are added to the real ones, so that metadata naming real regions (targets) stays valid.
        write_regions_csv(pd.concat([load_regions(), regions], ignore_index=True), metadata_dir / "regions.csv")
    home = work_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    return {
        "PIPELINE_RAW_DIR": str(raw_dir),
        "PIPELINE_METADATA_DIR": str(metadata_dir),
        "PIPELINE_WAREHOUSE_DIR": str(work_dir / "warehouse"),
        "DAGSTER_HOME": str(home),
    }


def run_report(stdout: str, dagster_home: Path, rss_samples: list[tuple[float, int]] | None = None) -> dict:
    """What the command's run did, from its output (run id, outcome) and its events in the scratch instance.

    rss_samples (epoch seconds, process-tree bytes: bench.run's memory guard) give each step's peak RSS.
    """
    found = RUN_LINE.search(stdout)
    if found is None:
        return {"success": False, "error": "no `run … succeeded|FAILED` line in the command's output"}
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        entries = instance.all_logs(found["run_id"])
        steps = step_seconds(entries)
        intervals = step_intervals(entries)
        failed = sorted(
            {
                entry.dagster_event.step_key
                for entry in entries
                if entry.dagster_event is not None and entry.dagster_event.event_type_value == "STEP_FAILURE"
            }
        )
        timestamps = [entry.timestamp for entry in entries]
    finally:
        instance.dispose()
    stages: dict[str, float] = defaultdict(float)
    for step, seconds in steps.items():
        stages[stage_of(step)] += seconds
    run_seconds = max(timestamps) - min(timestamps) if timestamps else 0.0
    # Steps of a distributed run overlap: their sum can exceed the run's span, so the overhead is at least 0.
    stages["dagster_overhead"] = max(run_seconds - sum(steps.values()), 0.0)
    storage = dagster_home / "storage"
    return {
        "run_id": found["run_id"],
        "success": found["outcome"] == "succeeded",
        "stages": {name: round(seconds, 3) for name, seconds in stages.items()},
        "steps": {step: round(seconds, 3) for step, seconds in sorted(steps.items(), key=lambda item: -item[1])[:25]},
        # Every step, largest first: the process tree's peak while the step ran (pipeline_job.step_peak_rss_mb).
        "step_peak_rss_mb": step_peak_rss_mb(rss_samples or [], intervals),
        "step_count": len(steps),
        "job_run_s": round(run_seconds, 3),
        "failed_steps": failed,
        "io_storage_bytes": sum(path.stat().st_size for path in storage.rglob("*") if path.is_file()),
        "summary": [line for line in stdout.splitlines() if line.startswith(("warehouse:", "release:", "rows:"))],
    }
