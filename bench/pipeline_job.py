"""The real Dagster job (`build_everything`, as `make run` runs it) on a synthetic raw folder, timed step by step.

The synthetic region table goes into a copy of pipeline/metadata that ProjectPaths.metadata_dir points at; the
warehouse and release go to a temporary folder. The job runs in process (one step after another, as `make run`),
in an ephemeral Dagster instance, with the chosen I/O manager between steps: `fs` (Dagster's default, which pickles
every asset output to the instance's storage folder, as `make run` does) or `memory` (outputs stay in the process).
"""

from __future__ import annotations

import bisect
import json
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline import definitions
from pipeline.core.metadata import REGION_COLUMNS, load_regions
from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.defs.resources import ProjectPaths

IO_MANAGERS = ("fs", "memory")
# Steps grouped into the benchmark's stages (the other scripts' names), by the asset key's first part or name.
STAGE_OF_STEP = {
    "staged_table": "read_and_stage",
    "raw_files": "read_and_stage",
    "staged_observations": "read_and_stage",
    "sources": "read_and_stage",
    "observations": "validate",
    "dispersion": "dispersion",
    "convergence": "dispersion",
    "publication": "warehouse_and_release",
}


def run_job(raw_dir: Path, regions: pd.DataFrame, work_dir: Path, io_manager: str = "fs") -> dict:
    """Run build_everything on raw_dir with the synthetic regions; wall seconds per stage and per step, and the outcome."""
    metadata_dir = work_dir / "metadata"
    shutil.copytree(PACKAGE_METADATA_DIR, metadata_dir, ignore=shutil.ignore_patterns("__pycache__"))
    # The synthetic province is added to the real region table, so that metadata naming real regions (targets)
    # stays valid; the synthetic names (合成…) and codes (99…) collide with none of them.
    write_regions_csv(pd.concat([load_regions(), regions], ignore_index=True), metadata_dir / "regions.csv")
    paths = ProjectPaths(
        raw_dir=str(raw_dir), warehouse_dir=str(work_dir / "warehouse"), metadata_dir=str(metadata_dir)
    )
    started = time.perf_counter()
    job = definitions.build_definitions(paths).resolve_job_def("build_everything")
    load_seconds = time.perf_counter() - started
    resources = {"io_manager": dg.mem_io_manager} if io_manager == "memory" else {}
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    storage = work_dir / "dagster_home"
    storage.mkdir()
    with dg.instance_for_test(temp_dir=str(storage)) as instance:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet, resources=resources or None
        )
        run_seconds = time.perf_counter() - started
        steps = step_seconds(instance.all_logs(result.run_id))
    stored_bytes = sum(path.stat().st_size for path in storage.rglob("*") if path.is_file())
    stages: dict[str, float] = defaultdict(float)
    for step, seconds in steps.items():
        stages[stage_of(step)] += seconds
    stages["dagster_overhead"] = max(run_seconds - sum(steps.values()), 0.0)
    failed = [event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    failed_checks = {
        evaluation.check_name: (evaluation.description or "")[:500]
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    }
    return {
        "stages": dict(stages),
        "steps": {step: round(seconds, 3) for step, seconds in sorted(steps.items(), key=lambda item: -item[1])[:25]},
        "step_count": len(steps),
        "definitions_load_s": load_seconds,
        "job_run_s": run_seconds,
        "io_manager": io_manager,
        "io_storage_bytes": stored_bytes,
        "success": result.success,
        "failed_steps": failed,
        "failed_checks": failed_checks,
    }


def write_regions_csv(regions: pd.DataFrame, path: Path) -> None:
    """The synthetic region table in regions.csv's format (flags as true/false, empty optional codes)."""
    table = regions[REGION_COLUMNS].copy()
    for flag in ("typical_county", "paired_city"):
        table[flag] = table[flag].map({True: "true", False: "false"})
    table.to_csv(path, index=False, na_rep="")


def step_seconds(entries) -> dict[str, float]:
    """Wall seconds of every step, from its STEP_START to its STEP_SUCCESS or STEP_FAILURE event log entry."""
    return {step: end - start for step, (start, end) in step_intervals(entries).items()}


def step_intervals(entries) -> dict[str, tuple[float, float]]:
    """Start and end (epoch seconds) of every finished step, from its STEP_START and STEP_SUCCESS / STEP_FAILURE."""
    started: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            intervals[event.step_key] = (started[event.step_key], entry.timestamp)
    return intervals


def step_peak_rss_mb(samples: list[tuple[float, int]], intervals: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Peak of the sampled process-tree RSS (epoch seconds, bytes) while each step ran, in MB, largest first.

    A sample counts for every step running at its time: with the in-process executor one step runs at a time, so
    the peak is that step's (plus what earlier steps left held); with overlapping steps (Dask) each gets the tree's
    total. A step shorter than the sampling interval may hold no sample: it gets the first sample after its end,
    the memory it left behind, or none when the run ended first.
    """
    ordered = sorted(samples)
    times = [moment for moment, _ in ordered]
    peaks: dict[str, float] = {}
    for step, (start, end) in intervals.items():
        first = bisect.bisect_left(times, start)
        last = bisect.bisect_right(times, end)
        inside = [used for _, used in ordered[first:last]]
        if not inside and last < len(ordered):
            inside = [ordered[last][1]]
        if inside:
            peaks[step] = round(max(inside) / 2**20, 1)
    return dict(sorted(peaks.items(), key=lambda item: -item[1]))


def stage_of(step_key: str) -> str:
    """The benchmark stage a step belongs to (read, validate, indicators, dispersion, warehouse, other)."""
    head = step_key.split("__")[0]
    if head in STAGE_OF_STEP:
        return STAGE_OF_STEP[head]
    if "check" in step_key or "schema" in step_key:
        return "validate"
    return "indicators_and_other_assets"


def main(raw_dir: str, regions_file: str, io_manager: str = "fs") -> None:
    """Entry point for a subprocess: print stage timings, the job's outcome and this process's peak RSS as JSON."""
    regions = pd.read_parquet(regions_file)
    with tempfile.TemporaryDirectory(prefix="bench-job-") as work:
        result = run_job(Path(raw_dir), regions, Path(work), io_manager)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
