"""Benchmark: wall time and rebuilt assets of `make nightly` for a first run, no change, and a one-table change.

Runs on a temporary copy of raw/ with a temporary DAGSTER_HOME and warehouse, so nothing in the repository changes.
The one-table changes are made to the copy only: a comment added to one sidecar, and a trailing blank line added to one
data file (its sidecar rehashed) — the figures stay as published. Usage: `make bench-nightly` (`.venv/bin/python -m bench.nightly_incremental`).
"""

from __future__ import annotations

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


def main() -> int:
    """Run the five scenarios and print one line each."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copytree(REPO / "raw", work / "raw")
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
        scenarios = [
            ("first run (empty instance)", None),
            ("no change", None),
            (f"one sidecar changed ({TABLE}, comment)", add_sidecar_comment),
            (f"one table changed ({TABLE}, data file)", add_trailing_line),
            ("no change again", None),
        ]
        for name, change in scenarios:
            if change:
                change(work / "raw")
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
            releases = sorted(
                entry.name for entry in (work / "warehouse" / "releases").iterdir() if not entry.is_symlink()
            )
            print(
                f"{name}: exit {completed.returncode}, process {seconds:.1f} s, plan+run {summary.group(2)} s, "
                f"{summary.group(1)} materialised [{summary.group(3)}], releases {releases}"
            )
    return 0


def add_sidecar_comment(raw_dir: Path) -> None:
    """A YAML comment at the end of one sidecar."""
    sidecar = raw_dir / f"{TABLE}.meta.yaml"
    sidecar.write_text(sidecar.read_text(encoding="utf-8") + "# benchmark: reviewed\n", encoding="utf-8")


def add_trailing_line(raw_dir: Path) -> None:
    """A trailing blank line in one data file, and its sidecar rehashed."""
    from pipeline.ingest.sidecar import rehash_sidecar

    data_file = raw_dir / f"{TABLE}.csv"
    data_file.write_bytes(data_file.read_bytes() + b"\n")
    rehash_sidecar(raw_dir / f"{TABLE}.meta.yaml")


if __name__ == "__main__":
    sys.exit(main())
