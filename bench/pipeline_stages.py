"""The pipeline's own stage functions on a synthetic raw folder, timed stage by stage (read → … → release).

This calls the same functions the assets call, in the same order, with the synthetic region table passed where
the assets pass the real one: the stages' own cost, without Dagster's. Raw tables are staged one after another, as
`make run`'s in-process executor stages them (`--parallel-read`: a process per core, as Dagster's multiprocess
executor would); the warehouse and the release are written at the same time, as publish_tables writes them.
bench/pipeline_job.py runs the real job.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from pipeline.core.metadata import load_indicator_catalog, load_units
from pipeline.defs.validate import schema_check_result
from pipeline.indicators.derive import indicator_table
from pipeline.indicators.dispersion import dispersion_table
from pipeline.indicators.preferred import indicator_values
from pipeline.indicators.units import unit_sets
from pipeline.ingest.reader import combined_staged_tables, read_source_table
from pipeline.ingest.sidecar import load_sidecar, sidecar_paths
from pipeline.ingest.sources import source_records
from pipeline.publish.publication import alongside, remove_folder
from pipeline.publish.release.write import content_hash, prepare_release
from pipeline.publish.warehouse import stage_warehouse
from pipeline.validate.grades import graded_observations
from pipeline.validate.observations import additive_indicator_codes, ordered_observations, parts_exceeding_totals
from pipeline.validate.pairs import ratio_pair_violations
from pipeline.validate.schemas import DispersionSchema, IndicatorSchema, StagedObservationSchema, observation_schema


def run_stages(
    raw_dir: Path, regions: pd.DataFrame, output_dir: Path, derived: bool = True, parallel_read: bool = False
) -> dict:
    """Run every stage on raw_dir; return wall seconds per stage, row counts and check outcomes.

    derived=False skips the indicators and dispersion stages (their tables are published empty): the I/O and
    memory path alone (read, validate, warehouse, release), for sizes where the derived stages do not fit.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}
    counts: dict[str, int] = {}
    checks: dict[str, bool] = {}
    peaks: dict[str, float] = {}  # the process's peak RSS so far, after each stage: where the peak was reached
    cpu: dict[
        str, float
    ] = {}  # CPU seconds (user + system, all threads) per stage: less noisy than wall on a shared machine
    catalog = load_indicator_catalog()
    units = load_units()
    lookup = dict(zip(regions["name_zh"], regions["region_code"], strict=True))

    started, cpu_started = time.perf_counter(), cpu_seconds()
    paths = sidecar_paths(raw_dir)
    # Each raw table is its own staged_table asset: make run's in-process executor stages them one after another
    # (the default here); Dagster's multiprocess executor would stage them in parallel processes, which
    # parallel_read imitates with a pool of one process per core, the frames sent back to this process.
    workers = min(len(paths), os.cpu_count() or 1) if parallel_read else 1
    tasks = [(path, raw_dir, lookup, units, catalog) for path in paths]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            staging = pool.map(staged_table, tasks)
            sources = source_records(paths, raw_dir)  # meanwhile, here
            frames = list(staging)
    else:
        sources = source_records(paths, raw_dir)
        frames = [staged_table(task) for task in tasks]
    staged = combined_staged_tables(frames)
    del frames
    finish_stage("read_and_stage", started, cpu_started, stages, peaks, cpu)
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers > 1 else 0.0
    counts["staged_observations"] = len(staged)

    started, cpu_started = time.perf_counter(), cpu_seconds()
    checks["staged_observations_schema"] = schema_check_result(
        StagedObservationSchema, staged, "staged_observations"
    ).passed
    # The asset's body, without Dagster's direct-call context.
    observations = graded_observations(ordered_observations(staged), sources)
    del staged
    checks["observations_schema"] = schema_check_result(
        observation_schema(list(regions["region_code"]), catalog), observations, "observations"
    ).passed
    excesses = parts_exceeding_totals(observations, regions, additive_indicator_codes())
    checks["observations_parts_within_totals"] = not excesses
    # The third blocking check on observations (observations_ratio_inputs_in_range's body).
    checks["observations_ratio_inputs_in_range"] = not ratio_pair_violations(observations, catalog)
    finish_stage("validate", started, cpu_started, stages, peaks, cpu)

    if derived:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        indicators = indicator_table(observations, sources, catalog, regions)
        finish_stage("indicators", started, cpu_started, stages, peaks, cpu)
        counts["indicators"] = len(indicators)

        started, cpu_started = time.perf_counter(), cpu_seconds()
        values = indicator_values(observations, sources, indicators)
        dispersion = dispersion_table(values, unit_sets(regions), catalog)
        del values
        finish_stage("dispersion", started, cpu_started, stages, peaks, cpu)
        counts["dispersion"] = len(dispersion)
    else:
        indicators = pd.DataFrame(columns=list(IndicatorSchema.to_schema().columns))
        dispersion = pd.DataFrame(columns=list(DispersionSchema.to_schema().columns))

    started, cpu_started = time.perf_counter(), cpu_seconds()
    tables = {
        "regions": regions,
        "sources": sources,
        "observations": observations,
        "indicators": indicators,
        "dispersion": dispersion,
    }
    version = "2026.11.28"
    digest = content_hash(tables, {})
    finish_stage("content_hash", started, cpu_started, stages, peaks, cpu)

    # As publish_tables does: the release's Parquet files are written while DuckDB writes the warehouse.
    started, cpu_started = time.perf_counter(), cpu_seconds()
    releases = output_dir / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    alongside(
        lambda: stage_warehouse(
            tables,
            output_dir / "indicators.duckdb",
            {"release_version": version, "content_hash": digest, "definitions_hash": "bench", "built_at": "bench"},
        ),
        lambda: prepare_release(tables, {}, releases, version, digest, {}, {}, None),
        discard=remove_folder,
    )
    finish_stage("warehouse_and_release", started, cpu_started, stages, peaks, cpu)
    return {
        "stages": stages,
        "counts": counts,
        "checks": checks,
        "peak_rss_mb_after_stage": peaks,
        "cpu_s": cpu,
        "read_workers": workers,
        "read_worker_peak_rss_mb": round(worker_peak, 1),
        # An upper bound of the memory the run held at once: this process's peak, or its peak by the end of the
        # read plus every read worker at the largest worker's peak, whichever is larger.
        "peak_rss_mb_with_workers": round(max(peak_rss_mb(), peaks["read_and_stage"] + workers * worker_peak), 1),
    }


def finish_stage(name: str, started: float, cpu_started: float, stages: dict, peaks: dict, cpu: dict) -> None:
    """Record a stage's wall and CPU seconds and the peak RSS so far; tell stderr (bench.run's memory guard reads
    these `stage <name> <seconds>s` lines to know where a killed run was)."""
    stages[name] = time.perf_counter() - started
    peaks[name] = peak_rss_mb()
    cpu[name] = round(cpu_seconds() - cpu_started, 3)
    print(f"stage {name} {stages[name]:.1f}s", file=sys.stderr, flush=True)


def staged_table(task: tuple) -> pd.DataFrame:
    """One raw table through the reader, as the staged_table asset reads it (sha256 checked by load_sidecar)."""
    path, raw_dir, lookup, units, catalog = task
    sidecar = load_sidecar(path, raw_dir)
    return read_source_table(sidecar, raw_dir, lookup, units, dt.date(2026, 11, 28), indicator_catalog=catalog)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's threads and of its finished child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(raw_dir: str, regions_file: str, *options: str) -> None:
    """Entry point for a subprocess: stage timings and peak RSS as JSON.

    Options: --io-only (no indicators, no dispersion), --parallel-read (the raw tables staged in a process per
    core, as Dagster's multiprocess executor would, instead of one after another as `make run` does).
    """
    regions = pd.read_parquet(regions_file)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as output:
        result = run_stages(
            Path(raw_dir),
            regions,
            Path(output),
            derived="--io-only" not in options,
            parallel_read="--parallel-read" in options,
        )
    result["peak_rss_mb"] = result["peak_rss_mb_with_workers"]
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
