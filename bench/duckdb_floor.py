"""The floor on this machine: the same steps as the pandas reference, in DuckDB SQL only (read, reshape, check, group, Parquet)."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from pipeline.core.metadata import load_indicator_catalog, load_units

STAGE_SQL = """
CREATE TABLE observations AS
WITH wide AS (SELECT * FROM read_csv(?, all_varchar = true, header = true, filename = true)),
long AS (UNPIVOT wide ON COLUMNS('^[0-9]{4}$') INTO NAME year VALUE printed_value)
SELECT labels.indicator_code, regions.region_code, CAST(long.year AS INTEGER) AS year,
       TRY_CAST(long.printed_value AS DOUBLE) * units.multiplier AS value, units.unit, long.filename AS source_file
FROM long
LEFT JOIN labels ON labels.label = long."指标"
LEFT JOIN regions ON regions.name_zh = long."地区"
LEFT JOIN units ON units.printed_unit = long."单位"
"""
CHECK_SQL = """
SELECT count(*) FILTER (WHERE indicator_code IS NULL) AS unknown_label,
       count(*) FILTER (WHERE region_code IS NULL) AS unknown_region,
       count(*) FILTER (WHERE observations.unit IS NULL) AS unknown_unit,
       count(*) FILTER (WHERE year NOT BETWEEN 1949 AND 2026) AS year_range,
       count(*) FILTER (WHERE value IS NULL) AS missing_value,
       count(*) FILTER (WHERE value < catalog.valid_min OR value > catalog.valid_max) AS value_in_plausible_range,
       count(*) FILTER (WHERE observations.unit <> catalog.unit) AS unit_matches_catalog,
       count(*) - count(DISTINCT (observations.indicator_code, region_code, year)) AS duplicate_row
FROM observations LEFT JOIN catalog USING (indicator_code)
"""
RATIO_SQL = """
CREATE TABLE indicators AS
SELECT ratios.code AS indicator_code, numerator.region_code, numerator.year, numerator.value / denominator.value AS value
FROM ratios
JOIN observations AS numerator ON numerator.indicator_code = ratios.numerator
JOIN observations AS denominator ON denominator.indicator_code = ratios.denominator
  AND denominator.region_code = numerator.region_code AND denominator.year = numerator.year
"""
DISPERSION_SQL = """
CREATE TABLE dispersion AS
WITH candidate_values AS (
  SELECT indicator_code, region_code, year, value FROM observations
  UNION ALL SELECT indicator_code, region_code, year, value FROM indicators
),
placed AS (
  SELECT values_.indicator_code, values_.year, values_.value, town.region_code AS town, town.parent_code AS county
  FROM candidate_values AS values_
  JOIN catalog USING (indicator_code)
  JOIN regions AS village ON village.region_code = values_.region_code
  JOIN regions AS town ON town.region_code = village.parent_code
  WHERE catalog.dispersion AND values_.value IS NOT NULL
),
by_parent AS (
  SELECT indicator_code, town AS parent_region_code, year, value FROM placed
  UNION ALL SELECT indicator_code, county, year, value FROM placed
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY indicator_code, parent_region_code, year ORDER BY value) AS rank,
         count(*) OVER (PARTITION BY indicator_code, parent_region_code, year) AS n_units,
         avg(value) OVER (PARTITION BY indicator_code, parent_region_code, year) AS mean
  FROM by_parent
)
SELECT indicator_code, parent_region_code, year, n_units,
       stddev_pop(value) / any_value(mean) AS cv,
       avg(value / mean * ln(value / mean)) AS theil,
       sum((2 * rank - n_units - 1) * value) / (n_units * n_units * any_value(mean)) AS gini,
       max(value) / min(value) AS max_min_ratio
FROM ranked GROUP BY indicator_code, parent_region_code, year, n_units HAVING n_units >= 5
"""


def run(raw_dir: Path, regions: pd.DataFrame, output_dir: Path) -> dict:
    """The same steps in SQL, timed per step."""
    stages = {}
    catalog = load_indicator_catalog()[["indicator_code", "unit", "valid_min", "valid_max", "dispersion"]]
    units = pd.DataFrame(
        [(printed, unit, factor) for printed, (unit, factor) in load_units().items()],
        columns=["printed_unit", "unit", "multiplier"],
    )
    ratios = pd.DataFrame(
        [
            ("urban_rural_income_ratio", "urban_disposable_income_per_capita", "rural_disposable_income_per_capita"),
            (
                "urban_rural_consumption_ratio",
                "urban_consumption_expenditure_per_capita",
                "rural_consumption_expenditure_per_capita",
            ),
        ],
        columns=["code", "numerator", "denominator"],
    )
    connection = duckdb.connect()
    started = time.perf_counter()
    labels = {}
    files = []
    for sidecar_path in sorted(raw_dir.glob("*.meta.yaml")):
        sidecar = yaml.safe_load(sidecar_path.read_text(encoding="utf-8"))
        labels.update(sidecar["labels"])
        files.append(str(raw_dir / sidecar["file"]))
    label_frame = pd.DataFrame(list(labels.items()), columns=["label", "indicator_code"])
    for name, frame in {
        "labels": label_frame,
        "regions": regions,
        "units": units,
        "catalog": catalog,
        "ratios": ratios,
    }.items():
        connection.register(f"{name}_frame", frame)
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_frame")
    connection.execute(STAGE_SQL, [files])
    stages["read_and_stage"] = time.perf_counter() - started

    started = time.perf_counter()
    row = connection.execute(CHECK_SQL).fetchone()
    names = [column[0] for column in connection.description]
    problems = dict(zip(names, (int(value) for value in row), strict=True))
    stages["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    connection.execute(RATIO_SQL)
    stages["indicators"] = time.perf_counter() - started

    started = time.perf_counter()
    connection.execute(DISPERSION_SQL)
    stages["dispersion"] = time.perf_counter() - started

    started = time.perf_counter()
    for table in ("observations", "indicators", "dispersion"):
        connection.execute(f"COPY {table} TO '{output_dir / table}.parquet' (FORMAT parquet)")
    stages["release"] = time.perf_counter() - started
    counts = {
        table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("observations", "indicators", "dispersion")
    }
    connection.close()
    return {"stages": stages, "counts": counts, "problems": problems}


def main(raw_dir: str, regions_file: str) -> None:
    """Entry point for a subprocess: print timings and this process's peak RSS as JSON."""
    regions = pd.read_parquet(regions_file)
    with tempfile.TemporaryDirectory(prefix="bench-duckdb-") as output:
        result = run(Path(raw_dir), regions, Path(output))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
