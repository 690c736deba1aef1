"""`make bench`: generate the synthetic panel in a temporary folder, time the pipeline and both references, write JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from bench.generate import generate_panel

RESULTS_DIR = Path(__file__).parent / "results"
# Script name → module and extra arguments. `pipeline` calls the stage functions in asset order, the raw tables
# staged in a process per core (`pipeline_serial_read`: one after another; `pipeline_io_only` without indicators
# and dispersion: read, validate, warehouse, release); `job_memory` and
# `job_fs` run the real Dagster job (build_everything) with outputs kept in memory or pickled to disk between steps.
SCRIPTS = {
    "pipeline": ("bench.pipeline_stages", []),
    "pipeline_io_only": ("bench.pipeline_stages", ["--io-only"]),
    "pipeline_serial_read": ("bench.pipeline_stages", ["--serial-read"]),
    "job_memory": ("bench.pipeline_job", ["memory"]),
    "job_fs": ("bench.pipeline_job", ["fs"]),
    "pandas": ("bench.pandas_reference", []),
    "duckdb": ("bench.duckdb_floor", []),
}
DEFAULT_SCRIPTS = ["pipeline", "job_memory", "pandas", "duckdb"]


def benchmark(scale: float, results_dir: Path = RESULTS_DIR, only: list[str] | None = None) -> dict:
    """One benchmark run at a scale: panel generated, each script in its own process, results written and returned."""
    commit = git_commit()  # before the scripts start: the code they import
    with tempfile.TemporaryDirectory(prefix="bench-panel-") as folder:
        raw_dir = Path(folder) / "raw"
        started = time.perf_counter()
        panel = generate_panel(raw_dir, scale)
        generate_seconds = time.perf_counter() - started
        regions_file = Path(folder) / "regions.parquet"
        panel.regions.to_parquet(regions_file, index=False)
        raw_bytes = sum(path.stat().st_size for path in raw_dir.iterdir())
        runs = {name: timed_process(*SCRIPTS[name], raw_dir, regions_file) for name in only or DEFAULT_SCRIPTS}
    result = {
        "scale": scale,
        "observations": panel.observations,
        "synthetic": "made-up figures from bench/generate.py; not data",
        "panel": {
            "regions_by_level": panel.regions["level"].value_counts().to_dict(),
            "indicators": len(panel.indicator_codes),
            "years": 20,
            "raw_tables": panel.tables,
            "raw_bytes": raw_bytes,
            "generate_s": round(generate_seconds, 3),
        },
        "what_ran": "pipeline: the pipeline's own stage functions called in asset order (bench/pipeline_stages.py); job_memory / job_fs: the Dagster job build_everything with ProjectPaths.metadata_dir pointing at the synthetic regions, outputs kept in memory / pickled by the fs I/O manager (bench/pipeline_job.py); pandas and duckdb: bench/pandas_reference.py and bench/duckdb_floor.py on the same files",
        "wall_s": runs.get("pipeline", {}).get("wall_s"),
        "peak_rss_mb": runs.get("pipeline", {}).get("peak_rss_mb"),
        "baseline_wall_s": runs.get("pandas", {}).get("wall_s"),
        "baseline_peak_rss_mb": runs.get("pandas", {}).get("peak_rss_mb"),
        "floor_wall_s": runs.get("duckdb", {}).get("wall_s"),
        "floor_peak_rss_mb": runs.get("duckdb", {}).get("peak_rss_mb"),
        **{
            f"{name}_{key}": runs[name].get(key)
            for name in ("job_memory", "job_fs")
            if name in runs
            for key in ("wall_s", "peak_rss_mb", "success")
        },
        "stages": {name: run.get("stages") for name, run in runs.items()},
        "runs": runs,
        "machine": machine(),
        "git_commit": commit,
    }
    if result["wall_s"]:
        result["observations_per_s"] = round(panel.observations / result["wall_s"])
        for key, reference in (("pipeline_over_pandas", "baseline_wall_s"), ("pipeline_over_floor", "floor_wall_s")):
            if result[reference]:
                result[key] = round(result["wall_s"] / result[reference], 2)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / f"bench_{stamp}_scale_{scale:g}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def timed_process(module: str, arguments: list[str], raw_dir: Path, regions_file: Path) -> dict:
    """Run one script in a fresh Python process; its wall time (process start to exit) and its own report."""
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", module, str(raw_dir), str(regions_file), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        return {"wall_s": None, "error": finished.stderr[-4000:]}
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    report["wall_s"] = round(wall, 3)
    report["stages"] = {name: round(seconds, 3) for name, seconds in report["stages"].items()}
    report["peak_rss_mb"] = round(report["peak_rss_mb"], 1)
    return report


def git_commit() -> str:
    """The commit the benchmarked code is at (with `+changes` when the worktree differs from it)."""
    root = Path(__file__).parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "pipeline", "bench", ":!bench/results"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def machine() -> dict:
    """The machine the numbers belong to."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu_lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("model name")), "")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "duckdb": duckdb.__version__,
    }


def main() -> None:
    """Command line: --scale (default from SCALE, 1.0) and --only to run some of the three scripts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE", "1.0")))
    parser.add_argument("--only", nargs="*", choices=list(SCRIPTS))
    arguments = parser.parse_args()
    result = benchmark(arguments.scale, only=arguments.only)
    summary = {
        key: result.get(key)
        for key in (
            "scale",
            "observations",
            "wall_s",
            "peak_rss_mb",
            "baseline_wall_s",
            "floor_wall_s",
            "job_memory_wall_s",
            "job_fs_wall_s",
            "observations_per_s",
            "pipeline_over_pandas",
            "pipeline_over_floor",
        )
    }
    print(json.dumps(summary, indent=2))
    print(json.dumps(result["stages"], indent=2))


if __name__ == "__main__":
    main()
