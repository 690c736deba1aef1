"""Benchmark: wall time and rebuilt assets of `make nightly` for a first run, no change, and a one-table change.

Runs on a temporary copy of raw/ with a temporary DAGSTER_HOME and warehouse, so nothing in the repository changes.
The one-table changes are made to the copy only: a comment added to one sidecar, and a trailing blank line added to one
data file (its sidecar rehashed) — the figures stay as published. Usage: `make bench-nightly` (`.venv/bin/python -m bench.nightly_incremental`).

`--panel-dir FOLDER --scale S` runs it on a synthetic panel instead (bench/run.py's kept panel: made-up figures, a copy
of its raw/ and of pipeline/metadata with its regions, as the benchmark's `job`); `--unchanged-only` runs the first
run and two unchanged ones only (an unchanged night is the figure the issue asks for).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TABLE = "gd_yearbook_2024_t10_22"


def main(arguments: list[str] | None = None) -> int:
    """Run the scenarios and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--panel-dir", type=Path, help="a synthetic panel kept by bench.run (raw/, regions.parquet)")
    parser.add_argument("--scale", type=float, help="the panel's scale (checked against its panel.json)")
    parser.add_argument("--unchanged-only", action="store_true", help="first run and two unchanged runs only")
    options = parser.parse_args(arguments)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = options.panel_dir / "raw" if options.panel_dir else REPO / "raw"
        shutil.copytree(source, work / "raw")
        (work / "home").mkdir()
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", work / "home" / "dagster.yaml")
        environment = {
            **os.environ,
            "DAGSTER_HOME": str(work / "home"),
            "PIPELINE_RAW_DIR": str(work / "raw"),
            "PIPELINE_WAREHOUSE_DIR": str(work / "warehouse"),
            "PYTHONPATH": str(REPO),
            "PYTHONWARNINGS": "ignore",
        }
        table = TABLE
        if options.panel_dir:
            environment["PIPELINE_METADATA_DIR"] = panel_metadata(options.panel_dir, options.scale, work)
            table = sorted(work.joinpath("raw").glob("*.meta.yaml"))[0].name.removesuffix(".meta.yaml")
        for name, change in scenarios(table, options.unchanged_only):
            if change:
                change(work / "raw", table)
            print(nightly_line(name, environment, work), flush=True)
    return 0


def scenarios(table: str, unchanged_only: bool) -> list[tuple[str, object]]:
    """The runs in order: (name, the change made to the raw copy before it, or None)."""
    if unchanged_only:
        return [("first run (empty instance)", None), ("no change", None), ("no change again", None)]
    return [
        ("first run (empty instance)", None),
        ("no change", None),
        (f"one sidecar changed ({table}, comment)", add_sidecar_comment),
        (f"one table changed ({table}, data file)", add_trailing_line),
        ("no change again", None),
    ]


def panel_metadata(panel_dir: Path, scale: float | None, work: Path) -> str:
    """A copy of pipeline/metadata listing the panel's synthetic regions too (as bench.run's job); its folder."""
    import json

    import pandas as pd

    from bench.pipeline_cli import command_environment

    described = json.loads((panel_dir / "panel.json").read_text())
    if scale is not None and described["scale"] != scale:
        raise SystemExit(f"{panel_dir} holds a panel at scale {described['scale']}, not {scale}")
    folders = command_environment(work / "raw", pd.read_parquet(panel_dir / "regions.parquet"), work / "panel")
    return folders["PIPELINE_METADATA_DIR"]


def nightly_line(name: str, environment: dict[str, str], work: Path) -> str:
    """One nightly run (`python -m pipeline.automation`): exit code, wall, plan + run, what it materialised."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline.automation"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    summary = re.search(r"run \S+: (\d+) asset\(s\) materialised in ([\d.]+) s: (.*)", completed.stdout)
    if summary is None:
        return (
            f"{name}: exit {completed.returncode}, process {seconds:.1f} s, no run summary: {completed.stderr[-800:]}"
        )
    releases = sorted(entry.name for entry in (work / "warehouse" / "releases").iterdir() if not entry.is_symlink())
    return (
        f"{name}: exit {completed.returncode}, process {seconds:.1f} s, plan+run {summary.group(2)} s, "
        f"{summary.group(1)} materialised [{summary.group(3)}], releases {releases}"
    )


def add_sidecar_comment(raw_dir: Path, table: str = TABLE) -> None:
    """A YAML comment at the end of one sidecar."""
    sidecar = raw_dir / f"{table}.meta.yaml"
    sidecar.write_text(sidecar.read_text(encoding="utf-8") + "# benchmark: reviewed\n", encoding="utf-8")


def add_trailing_line(raw_dir: Path, table: str = TABLE) -> None:
    """A trailing blank line in one data file, and its sidecar rehashed."""
    from pipeline.ingest.sidecar import rehash_sidecar

    data_file = next(path for path in raw_dir.glob(f"{table}.*") if not path.name.endswith(".meta.yaml"))
    data_file.write_bytes(data_file.read_bytes() + b"\n")
    rehash_sidecar(raw_dir / f"{table}.meta.yaml")


if __name__ == "__main__":
    sys.exit(main())
