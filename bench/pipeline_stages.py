"""The pipeline's own stage functions on a synthetic raw folder, timed stage by stage (read → … → release).

This calls the same functions the assets call, in the same order, with the synthetic region table passed where
the assets pass the real one: the stages' own cost, without Dagster's. bench/pipeline_job.py runs the real job.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline import validate
from pipeline.dispersion import dispersion_table, unit_sets
from pipeline.indicators import indicator_values
from pipeline.indicators import indicators as indicators_asset
from pipeline.ingest import source_records
from pipeline.metadata import load_indicator_catalog, load_units
from pipeline.reader import STAGED_COLUMNS, read_source_table
from pipeline.release import content_hash, prepare_release
from pipeline.schemas import DispersionSchema, IndicatorSchema, StagedObservationSchema, observation_schema
from pipeline.sidecar import load_sidecar, sidecar_paths
from pipeline.warehouse import stage_warehouse


def run_stages(raw_dir: Path, regions: pd.DataFrame, output_dir: Path, derived: bool = True) -> dict:
    """Run every stage on raw_dir; return wall seconds per stage, row counts and check outcomes.

    derived=False skips the indicators and dispersion stages (their tables are published empty): the I/O and
    memory path alone (read, validate, warehouse, release), for sizes where the derived stages do not fit.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}
    counts: dict[str, int] = {}
    checks: dict[str, bool] = {}
    catalog = load_indicator_catalog()
    units = load_units()
    lookup = dict(zip(regions["name_zh"], regions["region_code"], strict=True))

    started = time.perf_counter()
    paths = sidecar_paths(raw_dir)
    sidecars = [load_sidecar(path, raw_dir) for path in paths]
    sources = source_records(paths, raw_dir)
    frames = [
        read_source_table(sidecar, raw_dir, lookup, units, dt.date(2026, 11, 28), indicator_catalog=catalog)[
            STAGED_COLUMNS
        ]
        for sidecar in sidecars
    ]
    staged = pd.concat(frames, ignore_index=True)
    del frames
    stages["read_and_stage"] = time.perf_counter() - started
    print(f"stage read_and_stage {stages['read_and_stage']:.1f}s", file=sys.stderr, flush=True)
    counts["staged_observations"] = len(staged)

    started = time.perf_counter()
    checks["staged_observations_schema"] = validate.schema_check_result(
        StagedObservationSchema, staged, "staged_observations"
    ).passed
    observations = validate.ordered_observations(staged)  # the asset's body, without Dagster's direct-call context
    del staged
    checks["observations_schema"] = validate.schema_check_result(
        observation_schema(list(regions["region_code"]), catalog), observations, "observations"
    ).passed
    excesses = validate.parts_exceeding_totals(observations, regions, validate.additive_indicator_codes())
    checks["observations_parts_within_totals"] = not excesses
    stages["validate"] = time.perf_counter() - started
    print(f"stage validate {stages['validate']:.1f}s", file=sys.stderr, flush=True)

    if derived:
        started = time.perf_counter()
        indicators = indicators_asset(observations, sources, catalog, regions)
        stages["indicators"] = time.perf_counter() - started
        print(f"stage indicators {stages['indicators']:.1f}s", file=sys.stderr, flush=True)
        counts["indicators"] = len(indicators)

        started = time.perf_counter()
        values = indicator_values(observations, sources, indicators)
        dispersion = dispersion_table(values, unit_sets(regions), catalog)
        del values
        stages["dispersion"] = time.perf_counter() - started
        print(f"stage dispersion {stages['dispersion']:.1f}s", file=sys.stderr, flush=True)
        counts["dispersion"] = len(dispersion)
    else:
        indicators = pd.DataFrame(columns=list(IndicatorSchema.to_schema().columns))
        dispersion = pd.DataFrame(columns=list(DispersionSchema.to_schema().columns))

    started = time.perf_counter()
    tables = {
        "regions": regions,
        "sources": sources,
        "observations": observations,
        "indicators": indicators,
        "dispersion": dispersion,
    }
    version = "2026.11.28"
    digest = content_hash(tables, {})
    stage_warehouse(
        tables,
        output_dir / "indicators.duckdb",
        {"release_version": version, "content_hash": digest, "built_at": "bench"},
    )
    stages["warehouse"] = time.perf_counter() - started
    print(f"stage warehouse {stages['warehouse']:.1f}s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    releases = output_dir / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    prepare_release(tables, {}, releases, version, digest, {}, {}, None)
    stages["release"] = time.perf_counter() - started
    print(f"stage release {stages['release']:.1f}s", file=sys.stderr, flush=True)
    gc.collect()
    return {"stages": stages, "counts": counts, "checks": checks}


def main(raw_dir: str, regions_file: str, *options: str) -> None:
    """Entry point for a subprocess (option --io-only: no indicators, no dispersion): stage timings and peak RSS as JSON."""
    regions = pd.read_parquet(regions_file)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as output:
        result = run_stages(Path(raw_dir), regions, Path(output), derived="--io-only" not in options)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
