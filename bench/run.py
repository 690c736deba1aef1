"""`make bench`: generate the synthetic panel in a temporary folder, time `python -m pipeline run` and both references."""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import psutil

from bench import pipeline_cli
from bench.generate import Panel, generate_panel

RESULTS_DIR = Path(__file__).parent / "results"
COMMAND_LINE = "pipeline"
# Script name → module and extra arguments. The headline, `job`, is the product itself: `python -m pipeline run`
# (the command `make run` runs: same entry point, executor and I/O manager) on the synthetic folders
# (bench/pipeline_cli.py); `job_dask` the same command on Dagster's Dask executor with a local cluster of two
# worker processes. The rest are diagnostics: `pipeline` calls the stage functions in asset order, the raw tables
# staged one after another (`pipeline_parallel_read`: in a process per core; `pipeline_io_only` without indicators
# and dispersion: read, validate, warehouse, release); `job_memory` and `job_fs` run the job in the benchmark's own
# process with outputs kept in memory or pickled between steps (bench/pipeline_job.py).
SCRIPTS = {
    "job": (COMMAND_LINE, []),
    "job_dask": (COMMAND_LINE, ["--executor", "dask", "--workers", "2"]),
    "pipeline": ("bench.pipeline_stages", []),
    "pipeline_io_only": ("bench.pipeline_stages", ["--io-only"]),
    "pipeline_parallel_read": ("bench.pipeline_stages", ["--parallel-read"]),
    "job_memory": ("bench.pipeline_job", ["memory"]),
    "job_fs": ("bench.pipeline_job", ["fs"]),
    "pandas": ("bench.pandas_reference", []),
    "duckdb": ("bench.duckdb_floor", []),
}
DEFAULT_SCRIPTS = ["job", "pandas", "duckdb"]
# The memory guard: a script whose process tree's resident memory goes above the limit is killed (and so is one
# running while the machine's available memory falls below the floor, whoever uses it), and its result says so.
DEFAULT_MEMORY_LIMIT_GB = 20.0
AVAILABLE_MEMORY_FLOOR_GB = 1.0
POLL_SECONDS = 0.2  # also the resolution of the per-step peaks (step_peak_rss_mb)
# Stage order of the scripts that print `stage <name> <seconds>s` to stderr as each stage finishes.
STAGE_ORDER = {
    "bench.pipeline_stages": [
        "read_and_stage",
        "validate",
        "indicators",
        "dispersion",
        "content_hash",
        "warehouse_and_release",
    ],
}
PANEL_FILE = "panel.json"


def benchmark(
    scale: float,
    results_dir: Path = RESULTS_DIR,
    only: list[str] | None = None,
    memory_limit_gb: float = DEFAULT_MEMORY_LIMIT_GB,
    panel_dir: Path | None = None,
) -> dict:
    """One benchmark run at a scale: panel generated (or reused from panel_dir), each script in its own process
    under the memory guard, results written and returned."""
    commit = git_commit()  # before the scripts start: the code they import
    with tempfile.TemporaryDirectory(prefix="bench-panel-") as folder:
        panel, generate_seconds, reused = prepared_panel(Path(panel_dir or folder), scale)
        regions_file = panel.raw_dir.parent / "regions.parquet"
        raw_bytes = sum(path.stat().st_size for path in panel.raw_dir.iterdir())
        runs = {
            name: timed_process(*SCRIPTS[name], panel.raw_dir, regions_file, memory_limit_gb, Path(folder))
            for name in only or DEFAULT_SCRIPTS
        }
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
            "reused": reused,
        },
        "memory_limit_gb": memory_limit_gb,
        "what_ran": "job: `python -m pipeline run` as a subprocess (what `make run` runs) with PIPELINE_RAW_DIR = the synthetic panel, PIPELINE_METADATA_DIR = a copy of pipeline/metadata with the synthetic regions, a scratch warehouse and DAGSTER_HOME, peak RSS of its whole process tree; job_dask: the same command with --executor dask --workers 2; pipeline: the stage functions called in asset order (bench/pipeline_stages.py, a diagnostic); job_memory / job_fs: the job in the benchmark's process with mem_io_manager / pickles (bench/pipeline_job.py); pandas and duckdb: bench/pandas_reference.py and bench/duckdb_floor.py on the same files",
        "job_wall_s": runs.get("job", {}).get("wall_s"),
        "job_peak_rss_mb": runs.get("job", {}).get("peak_rss_mb"),
        "job_success": runs.get("job", {}).get("success"),
        "baseline_wall_s": runs.get("pandas", {}).get("wall_s"),
        "baseline_peak_rss_mb": runs.get("pandas", {}).get("peak_rss_mb"),
        "floor_wall_s": runs.get("duckdb", {}).get("wall_s"),
        "floor_peak_rss_mb": runs.get("duckdb", {}).get("peak_rss_mb"),
        "stage_script_wall_s": runs.get("pipeline", {}).get("wall_s"),
        "stage_script_peak_rss_mb": runs.get("pipeline", {}).get("peak_rss_mb"),
        **{
            f"{name}_{key}": runs[name].get(key)
            for name in ("job_dask", "job_memory", "job_fs")
            if name in runs
            for key in ("wall_s", "peak_rss_mb", "success")
        },
        "stages": {name: run.get("stages") for name, run in runs.items()},
        "runs": runs,
        "machine": machine(),
        "git_commit": commit,
    }
    if result["job_wall_s"]:
        result["observations_per_s"] = round(panel.observations / result["job_wall_s"])
        for key, reference in (("job_over_pandas", "baseline_wall_s"), ("job_over_floor", "floor_wall_s")):
            if result[reference]:
                result[key] = round(result["job_wall_s"] / result[reference], 2)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / f"bench_{stamp}_scale_{scale:g}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def prepared_panel(folder: Path, scale: float) -> tuple[Panel, float, bool]:
    """The panel in folder (raw/, regions.parquet, panel.json): reused when panel.json says this scale, else generated."""
    description_file = folder / PANEL_FILE
    if description_file.is_file():
        description = json.loads(description_file.read_text())
        if description["scale"] != scale:
            raise ValueError(f"{description_file} holds a panel at scale {description['scale']}, not {scale}")
        regions = pd.read_parquet(folder / "regions.parquet")
        panel = Panel(
            folder / "raw",
            regions,
            description["indicator_codes"],
            description["observations"],
            description["tables"],
        )
        return panel, description["generate_s"], True
    if (folder / "raw").is_dir() and any((folder / "raw").iterdir()):
        raise ValueError(f"{folder / 'raw'} holds tables but no {PANEL_FILE} (an interrupted generation?): remove it")
    started = time.perf_counter()
    panel = generate_panel(folder / "raw", scale)
    generate_seconds = time.perf_counter() - started
    panel.regions.to_parquet(folder / "regions.parquet", index=False)
    description = {
        "scale": scale,
        "observations": panel.observations,
        "tables": panel.tables,
        "indicator_codes": panel.indicator_codes,
        "generate_s": round(generate_seconds, 3),
    }
    description_file.write_text(json.dumps(description, indent=2) + "\n")
    return panel, generate_seconds, False


def timed_process(
    module: str,
    arguments: list[str],
    raw_dir: Path,
    regions_file: Path,
    memory_limit_gb: float = DEFAULT_MEMORY_LIMIT_GB,
    work_dir: Path | None = None,
) -> dict:
    """Run one script in a fresh Python process under the memory guard; its wall time and its own report.

    The process runs in work_dir (where DuckDB spills), in a session of its own so that a kill reaches its children.
    The command line (module `pipeline`) gets its folders from the environment and is reported from its events.
    """
    if module == COMMAND_LINE:
        return timed_command(arguments, raw_dir, regions_file, memory_limit_gb, work_dir)
    watched = watched_process(
        [sys.executable, "-m", module, str(raw_dir), str(regions_file), *arguments], {}, memory_limit_gb, work_dir
    )
    if watched["kill_reason"]:
        order = [
            stage
            for stage in STAGE_ORDER.get(module, [])
            if stage not in ("indicators", "dispersion") or "--io-only" not in arguments
        ]
        return kill_record(watched, order)
    if watched["returncode"] != 0:
        return {"wall_s": None, "error": watched["stderr"][-4000:], "watched_peak_rss_mb": watched["peak_mb"]}
    report = json.loads(watched["stdout"].strip().splitlines()[-1])
    report["wall_s"] = watched["wall_s"]
    report["stages"] = {name: round(seconds, 3) for name, seconds in report["stages"].items()}
    report["peak_rss_mb"] = round(report["peak_rss_mb"], 1)
    report["watched_peak_rss_mb"] = watched["peak_mb"]
    return report


def timed_command(
    arguments: list[str],
    raw_dir: Path,
    regions_file: Path,
    memory_limit_gb: float = DEFAULT_MEMORY_LIMIT_GB,
    work_dir: Path | None = None,
) -> dict:
    """`python -m pipeline run …` on the synthetic panel with scratch folders; peak RSS of its whole process tree.

    The folders go to work_dir/<a fresh folder>; the steps' times come from the run's events (bench/pipeline_cli.py).
    """
    scratch = Path(tempfile.mkdtemp(prefix="bench-cli-", dir=work_dir))
    try:
        environment = pipeline_cli.command_environment(raw_dir, pd.read_parquet(regions_file), scratch)
        watched = watched_process(
            [sys.executable, "-m", COMMAND_LINE, "run", *arguments], environment, memory_limit_gb, scratch
        )
        if watched["kill_reason"]:
            return kill_record(watched, [])
        report = pipeline_cli.run_report(watched["stdout"], Path(environment["DAGSTER_HOME"]), watched["rss_samples"])
        report["command"] = " ".join(["python -m pipeline run", *arguments])
        report["returncode"] = watched["returncode"]
        report["peak_rss_mb"] = report["watched_peak_rss_mb"] = watched["peak_mb"]
        if watched["returncode"] != 0 or not report["success"]:
            report["wall_s"] = None
            report["error"] = watched["stderr"][-4000:]
            return report
        report["wall_s"] = watched["wall_s"]
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def watched_process(command: list[str], environment: dict[str, str], memory_limit_gb: float, work_dir) -> dict:
    """Run a command under the memory guard (its own session, in work_dir); output, exit code, wall s and peak MB."""
    root = str(Path(__file__).parent.parent)
    environment = {
        **os.environ,
        **environment,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work_dir or root,
        env=environment,
        start_new_session=True,
    )
    stdout: list[str] = []
    stderr: collections.deque[str] = collections.deque(maxlen=400)
    finished_stages: dict[str, float] = {}
    readers = [
        threading.Thread(target=collect_lines, args=(process.stdout, stdout.append), daemon=True),
        threading.Thread(
            target=collect_lines, args=(process.stderr, stderr_collector(stderr, finished_stages)), daemon=True
        ),
    ]
    for reader in readers:
        reader.start()
    rss_samples: list[tuple[float, int]] = []
    peak_bytes, kill_reason = guard_memory(process, memory_limit_gb, rss_samples)
    for reader in readers:
        reader.join()
    return {
        "stdout": "".join(stdout),
        "stderr": "".join(stderr),
        "returncode": process.returncode,
        "wall_s": round(time.perf_counter() - started, 3),
        "peak_mb": round(peak_bytes / 2**20, 1),
        "kill_reason": kill_reason,
        "finished_stages": finished_stages,
        "rss_samples": rss_samples,
    }


def kill_record(watched: dict, order: list[str]) -> dict:
    """The result of a script the memory guard killed: why, when, its peak and the stages it had finished."""
    finished_stages = watched["finished_stages"]
    return {
        "wall_s": None,
        "error": watched["kill_reason"],
        "killed_after_s": watched["wall_s"],
        "peak_rss_mb": watched["peak_mb"],
        "watched_peak_rss_mb": watched["peak_mb"],
        "stages_finished": {name: round(seconds, 3) for name, seconds in finished_stages.items()},
        "last_stage_finished": next(reversed(finished_stages), None),
        "killed_during": next((stage for stage in order if stage not in finished_stages), None),
        "load_average_at_kill": [round(value, 2) for value in os.getloadavg()],
    }


def guard_memory(
    process: subprocess.Popen, memory_limit_gb: float, samples: list[tuple[float, int]] | None = None
) -> tuple[int, str | None]:
    """Poll the process tree's RSS until it exits; kill its session above the limit. Return peak bytes and why killed.

    Each poll's (epoch seconds, bytes) is appended to samples: the run's events attribute them to steps.
    """
    peak = 0
    limit = memory_limit_gb * 2**30
    while process.poll() is None:
        used = tree_rss(process.pid)
        peak = max(peak, used)
        if samples is not None:
            samples.append((time.time(), used))
        available = psutil.virtual_memory().available
        reason = None
        if used > limit:
            reason = f"killed: RSS above {memory_limit_gb:g} GB"
        elif available < AVAILABLE_MEMORY_FLOOR_GB * 2**30:
            reason = (
                f"killed: machine's available memory below {AVAILABLE_MEMORY_FLOOR_GB:g} GB"
                f" (script at {used / 2**30:.1f} GB RSS)"
            )
        if reason:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return peak, reason
        time.sleep(POLL_SECONDS)
    return peak, None


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 for any that exited meanwhile)."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def collect_lines(stream, sink) -> None:
    """Feed every line of a child's output stream to sink (a reader thread's body, so that pipes never fill)."""
    for line in stream:
        sink(line)
    stream.close()


def stderr_collector(tail: collections.deque, finished_stages: dict[str, float]):
    """A sink for stderr lines: keeps the tail and notes each `stage <name> <seconds>s` progress line."""

    def collect(line: str) -> None:
        """Remember the line; record a finished stage."""
        tail.append(line)
        words = line.split()
        if len(words) == 3 and words[0] == "stage" and words[2].endswith("s"):
            with contextlib.suppress(ValueError):
                finished_stages[words[1]] = float(words[2][:-1])

    return collect


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
    """Command line: --scale (default from SCALE, 1.0), --only some scripts, --memory-limit-gb, --panel-dir."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE", "1.0")))
    parser.add_argument("--only", nargs="*", choices=list(SCRIPTS))
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=DEFAULT_MEMORY_LIMIT_GB,
        help="kill a script whose process tree's RSS goes above this (its result records the error)",
    )
    parser.add_argument(
        "--panel-dir",
        type=Path,
        help="keep the generated panel in this folder and reuse it when it already holds one at this scale",
    )
    arguments = parser.parse_args()
    result = benchmark(
        arguments.scale, only=arguments.only, memory_limit_gb=arguments.memory_limit_gb, panel_dir=arguments.panel_dir
    )
    summary = {
        key: result.get(key)
        for key in (
            "scale",
            "observations",
            "job_wall_s",
            "job_peak_rss_mb",
            "baseline_wall_s",
            "floor_wall_s",
            "floor_peak_rss_mb",
            "job_over_pandas",
            "job_over_floor",
            "stage_script_wall_s",
            "job_dask_wall_s",
            "job_dask_peak_rss_mb",
        )
    }
    print(json.dumps(summary, indent=2))
    print(json.dumps(result["stages"], indent=2))


if __name__ == "__main__":
    main()
