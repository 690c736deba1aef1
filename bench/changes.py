"""Benchmark: CHANGES.md of a release against a previous one, on a stored run's large tables (issue 17).

The current tables are a stored run's outputs (a DAGSTER_HOME's storage/<asset> Parquet files, read only, as the
publication reads them); the "previous release" is made from them with a known, seeded set of edits and written as
a release writes its tables: rows removed (they count as added), made-up rows added (counted as removed: copies of
rows moved 100 years back), numbers changed (by a few percent, by float noise of 1e-12, to missing, filled) and a
text column changed. The figures stay synthetic, as the stored run's are. Each table's comparison is timed
`--repeat` times, then the whole CHANGES.md once; the CHANGES.md is written to `--output` and its sha256 printed,
so that two versions of the code can be compared byte for byte. Usage (the stored SCALE=0.3 run of the session):
`python -m bench.changes --storage /tmp/lead/prof03main/dagster_home/storage --output /tmp/CHANGES.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.core.tables import ParquetSource
from pipeline.defs.storage import parquet_frame
from pipeline.publish.registry import PRIMARY_KEYS, TABLE_MODELS
from pipeline.publish.release.changes import ReleasedTable, changes_markdown, compare_table
from pipeline.publish.release.versions import Release
from pipeline.publish.release.write import write_table_file

TABLES = ["observations", "preferred_values", "indicators"]
REMOVED, ADDED, CHANGED, NOISE, NOW_MISSING, FILLED, TEXT = 2000, 1500, 5000, 100, 200, 200, 300
PREVIOUS_VERSION = "2026.12.03.1"


def main(arguments: list[str] | None = None) -> int:
    """Make the previous release, time the comparisons, write CHANGES.md and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", type=Path, required=True, help="a DAGSTER_HOME's storage folder (read only)")
    parser.add_argument("--tables", nargs="+", default=TABLES, help="the tables compared")
    parser.add_argument("--repeat", type=int, default=3, help="timed comparisons of each table (the median is kept)")
    parser.add_argument("--output", type=Path, help="write the CHANGES.md here")
    parser.add_argument("--previous-dir", type=Path, help="keep the previous release here (reused when it exists)")
    options = parser.parse_args(arguments)
    with tempfile.TemporaryDirectory() as folder:
        previous_dir = options.previous_dir or Path(folder) / PREVIOUS_VERSION
        previous = previous_release(options.storage, options.tables, previous_dir)
        sources = {name: stored_source(options.storage / name) for name in options.tables}
        result: dict[str, object] = {"tables": {}}
        for name in options.tables:
            times = []
            for _ in range(options.repeat):
                started = time.perf_counter()
                comparison = compare_table(
                    ReleasedTable(previous_dir / f"{name}.parquet"), sources[name], PRIMARY_KEYS[name]
                )
                times.append(time.perf_counter() - started)
            assert comparison is not None
            added, removed, changed, _ = comparison
            result["tables"][name] = {
                "rows": sources[name].num_rows,
                "added": added,
                "removed": removed,
                "changed": changed,
                "seconds": [round(seconds, 3) for seconds in times],
                "median_s": round(statistics.median(times), 3),
            }
            print(f"{name}: median {statistics.median(times):.2f} s of {times}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        markdown = changes_markdown(sources, PRIMARY_KEYS, "2026.12.04.1", previous)
        result["changes_md_s"] = round(time.perf_counter() - started, 3)
    data = markdown.encode("utf-8")
    if options.output:
        options.output.write_bytes(data)
    result["changes_md_sha256"] = hashlib.sha256(data).hexdigest()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


def stored_source(path: Path) -> ParquetSource:
    """A stored table as the publication gets it from the I/O manager."""
    return ParquetSource(open_file=lambda: path.open("rb"), to_frame=parquet_frame)


def previous_release(storage: Path, tables: list[str], folder: Path) -> Release:
    """The previous release: each table edited (edited_table) and written as a release writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    resources = []
    for name in tables:
        path = folder / f"{name}.parquet"
        if not path.exists():
            edited = edited_table(parquet_frame(pq.read_table(storage / name)), PRIMARY_KEYS[name])
            write_table_file(edited, TABLE_MODELS[name], path)
        resources.append({"name": name, "path": path.name, "format": "parquet"})
    return Release(PREVIOUS_VERSION, folder, {"version": PREVIOUS_VERSION, "resources": resources})


def edited_table(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The table with the known edits, seeded: rows removed, rows added, numbers and one text column changed."""
    random = np.random.default_rng(17)
    frame = frame.copy()
    rows = random.permutation(len(frame))
    counts = iter(min(count, len(frame) // 20) for count in (REMOVED, ADDED, CHANGED, NOISE, NOW_MISSING, TEXT))
    parts, start = [], 0
    for count in counts:  # each at most a twentieth of the rows (a small table)
        parts.append(rows[start : start + count])
        start += count
    removed, added, changed, noise, now_missing, text = parts
    value = frame.columns.get_loc("value")
    frame.iloc[changed, value] = frame.iloc[changed, value] * (1 + random.uniform(-0.2, 0.2, len(changed)))
    frame.iloc[noise, value] = frame.iloc[noise, value] * (1 + 1e-12)
    frame.iloc[now_missing, value] = np.nan  # missing before: filled now
    missing_now = np.flatnonzero(frame["value"].isna().to_numpy() & ~np.isin(np.arange(len(frame)), now_missing))
    frame.iloc[missing_now[: min(FILLED, len(frame) // 20)], value] = 1.0  # a value before, missing now
    status = frame["status"].astype(object)
    status.iloc[text] = "edited"
    frame["status"] = status
    extra = frame.iloc[added].copy()
    extra["year"] = extra["year"] - 100  # keys no current row has
    edited = pd.concat([frame.drop(frame.index[removed]), extra], ignore_index=True)
    assert not edited.duplicated(key).any()
    return edited


if __name__ == "__main__":
    sys.exit(main())
