"""A SYNTHETIC Guangdong-scale panel (cities, counties, towns, villages × years × indicators) as raw tables with sidecars.

Every figure written here is made up by a seeded random generator: it is benchmark load, not data. The tables go
to a folder the caller names (a temporary directory), never to raw/. Region codes start with 99, which is no
province in GB/T 2260, and every name says 合成 (synthetic).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import REGION_COLUMNS, load_indicator_catalog, load_series_breaks
from pipeline.ingest.sidecar import with_sidecar_checksum

# Full scale (SCALE=1.0): Guangdong's 21 cities, 122 county-level units, ~1,600 towns, ~26,000 villages.
CITIES = 21
COUNTIES = 122
TOWNS = 1_600
VILLAGES = 26_000
YEARS = list(range(2005, 2025))
INDICATOR_COUNT = 30
PROVINCE_CODE = "990000"
# Above SCALE=1 the synthetic province gets more cities, as many as its two-digit city segment allows (9901…9999).
MAX_CITIES = 99
# Rows per raw table: well under the reader's MAX_ROWS (100,000) and its 20 MiB file limit.
ROWS_PER_TABLE = 40_000
# Printed unit and a value range per canonical unit (made-up but inside the catalogue's plausible ranges).
PRINTED_UNITS = {"yuan": "元", "percent": "%", "persons": "人", "count": "个", "index_previous_year_100": "上年=100"}
VALUE_RANGES = {
    "yuan": (3_000.0, 90_000.0, 0),
    "percent": (5.0, 95.0, 1),
    "persons": (300.0, 9_000.0, 0),
    "count": (1.0, 50.0, 0),
    "index_previous_year_100": (95.0, 112.0, 1),
}
SYNTHETIC_CAVEAT = (
    "SYNTHETIC benchmark table made up by bench/generate.py (seeded random figures): not data, never publish."
)


@dataclass(frozen=True)
class Panel:
    """What was generated: the raw folder, the synthetic regions, the indicators and the observation count."""

    raw_dir: Path
    regions: pd.DataFrame
    indicator_codes: list[str]
    observations: int
    tables: int


def generate_panel(raw_dir: Path, scale: float, seed: int = 9) -> Panel:
    """Write the synthetic panel's village tables and sidecars into raw_dir; return its regions and size."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    regions = synthetic_regions(scale)
    catalog = benchmark_indicators()
    villages = regions[regions["level"] == "village"]
    rng = np.random.default_rng(seed)
    tables = 0
    for city_code, city_villages in villages.groupby(villages["region_code"].str[:4], sort=True):
        rows = village_rows(city_villages, catalog, rng)
        for part, start in enumerate(range(0, len(rows), ROWS_PER_TABLE), start=1):
            source_id = f"synthetic_villages_{city_code}_{part:02d}"
            write_table(raw_dir, source_id, rows[start : start + ROWS_PER_TABLE], catalog)
            tables += 1
    # every printed figure (the blank years before a series exists are not transcribed, so not observations)
    observations = len(villages) * sum(
        sum(year >= first_year for year in YEARS) for first_year in indicator_first_years(catalog)
    )
    return Panel(raw_dir, regions, list(catalog["indicator_code"]), observations, tables)


def synthetic_regions(scale: float) -> pd.DataFrame:
    """A region tree like Guangdong's at this scale: one province, cities, counties, towns and villages (codes 99…)."""
    counties = max(1, round(COUNTIES * scale))
    towns = max(counties, round(TOWNS * scale))
    villages = max(5 * towns, round(VILLAGES * scale))
    # Up to SCALE=1 Guangdong's 21 cities; above it more synthetic cities (at most 99 fit in 99XX00), so that every
    # code segment keeps its width: ≤ 99 counties per city, ≤ 999 towns per county, ≤ 999 villages per town.
    cities = min(CITIES, counties) if scale <= 1 else min(MAX_CITIES, max(CITIES, round(CITIES * scale)))
    check_code_widths(cities, counties, towns, villages)
    records = [region_record(PROVINCE_CODE, "合成省", "province", None)]
    city_codes = [f"99{number:02d}00" for number in range(1, cities + 1)]
    records += [region_record(code, f"合成市{code}", "prefecture_city", PROVINCE_CODE) for code in city_codes]
    county_codes = []
    for number in range(counties):
        city = city_codes[number % cities]
        code = f"{city[:4]}{number // cities + 1:02d}"
        county_codes.append(code)
        records.append(region_record(code, f"合成县{code}", "county", city))
    town_codes = []
    for number in range(towns):
        county = county_codes[number % counties]
        code = f"{county}{number // counties + 1:03d}"
        town_codes.append(code)
        records.append(region_record(code, f"合成镇{code}", "town", county))
    for number in range(villages):
        town = town_codes[number % towns]
        code = f"{town}{number // towns + 1:03d}"
        records.append(region_record(code, f"合成村{code}", "village", town))
    return pd.DataFrame.from_records(records, columns=REGION_COLUMNS)


def check_code_widths(cities: int, counties: int, towns: int, villages: int) -> None:
    """Refuse a scale whose counts per parent overflow a code segment (the codes would no longer be GB/T-shaped)."""
    widths = (("counties per city", counties, cities, 99), ("towns per county", towns, counties, 999))
    widths += (("villages per town", villages, towns, 999),)
    for what, children, parents, limit in widths:
        if math.ceil(children / parents) > limit:
            raise ValueError(f"scale too large for synthetic region codes: {what} would exceed {limit}")


def region_record(code: str, name: str, level: str, parent: str | None) -> dict:
    """One row of the synthetic region dimension."""
    return {
        "region_code": code,
        "name_zh": name,
        "name_en": f"Synthetic {level} {code}",
        "level": level,
        "parent_code": parent,
        "district_group": None,
        "typical_county": False,
        "paired_city": False,
    }


def benchmark_indicators() -> pd.DataFrame:
    """Thirty observed indicators of the catalogue whose units the generator can fill (incomes first, for ratios)."""
    catalog = load_indicator_catalog()
    observed = catalog[(catalog["kind"] == "observed") & catalog["unit"].isin(list(PRINTED_UNITS))]
    return observed.head(INDICATOR_COUNT).reset_index(drop=True)


def village_rows(villages: pd.DataFrame, catalog: pd.DataFrame, rng: np.random.Generator) -> list[list[str]]:
    """One printed row per village and indicator: name, label, unit and one figure per year (all made up)."""
    figures = {}
    growth = np.cumprod(np.full(len(YEARS), 1.05))
    for entry in catalog.itertuples(index=False):
        low, high, _ = VALUE_RANGES[entry.unit]
        base = rng.uniform(low, low + (high - low) / 2.0, size=len(villages))
        values = base[:, None] * (growth if entry.unit in ("yuan", "persons") else np.ones(len(YEARS)))[None, :]
        figures[entry.indicator_code] = np.clip(values, low, high)
    # The numerator of a derived ratio is made from its denominator, so that the ratio is plausible (a share
    # below 100 %, an urban/rural ratio between 1.2 and 3): otherwise the indicators' checks rightly fail.
    for numerator, denominator, (low, high) in ratio_pairs(list(figures)):
        factor = rng.uniform(low, high, size=len(villages))[:, None]
        figures[numerator] = figures[denominator] * factor
    rows = []
    for entry, first_year in zip(catalog.itertuples(index=False), indicator_first_years(catalog), strict=True):
        decimals = VALUE_RANGES[entry.unit][2]
        for name, values in zip(villages["name_zh"], figures[entry.indicator_code], strict=True):
            cells = [
                f"{value:.{decimals}f}" if year >= first_year else "" for year, value in zip(YEARS, values, strict=True)
            ]
            rows.append([name, entry.name_zh, PRINTED_UNITS[entry.unit], *cells])
    return rows


def indicator_first_years(catalog: pd.DataFrame) -> list[int]:
    """The first year each indicator is printed: a series that only exists from a later year (rural disposable income,
    the 2013 survey reform, pipeline/metadata/series_breaks.yaml) is left blank before it, as a real table prints it."""
    first_years = {
        code: side.first_year
        for series_break in load_series_breaks()
        for side in series_break.sides
        if side.first_year is not None
        for code in side.indicators
    }
    return [first_years.get(code, YEARS[0]) for code in catalog["indicator_code"]]


def ratio_pairs(codes: list[str]) -> list[tuple[str, str, tuple[float, float]]]:
    """(numerator, denominator, factor range) of the catalogue's derived ratios whose inputs are both generated."""
    catalog = load_indicator_catalog()
    ratios = catalog[catalog["derivation"] == "ratio"]
    pairs = []
    for entry in ratios.itertuples(index=False):
        numerator, denominator = entry.inputs.split(";")
        if numerator in codes and denominator in codes and numerator != denominator:
            if entry.multiplier == 100.0:
                factors = (0.2, 0.8)  # a share in percent
            elif entry.valid_max <= 100.0:
                factors = (1.2, 3.0)  # an urban/rural ratio
            else:
                factors = (20_000.0, 150_000.0)  # a per-capita figure in yuan (GDP per person)
            pairs.append((numerator, denominator, factors))
    return pairs


def write_table(raw_dir: Path, source_id: str, rows: list[list[str]], catalog: pd.DataFrame) -> None:
    """A wide CSV (地区, 指标, 单位, one column per year) and its sidecar with the file's sha256."""
    data_path = raw_dir / f"{source_id}.csv"
    with data_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["地区", "指标", "单位", *(str(year) for year in YEARS)])
        writer.writerows(rows)
    sidecar = {
        "source_id": source_id,
        "title": f"SYNTHETIC benchmark panel {source_id} (made up, not data)",
        "publication": "bench/generate.py",
        "publisher": "Benchmark generator (synthetic)",
        "table_number": "SYNTHETIC",
        "edition": "2026",
        "url": f"https://example.invalid/synthetic/{source_id}",
        "url_kind": "official",
        "authority": "official",
        "accessed": "2026-11-28",
        "licence": "Synthetic benchmark load, no rights",
        "file": data_path.name,
        "sha256": sha256_of(data_path),
        "encoding": "utf-8",
        "unit": "元",
        "multiplier": 1,
        "layout": {"kind": "wide", "region_column": "地区", "label_column": "指标", "unit_column": "单位"},
        "labels": dict(zip(catalog["name_zh"], catalog["indicator_code"], strict=True)),
        # rows printed in another unit than 元 (percentages, persons…), as the reader requires them declared
        "label_units": {
            entry.name_zh: PRINTED_UNITS[entry.unit]
            for entry in catalog.itertuples(index=False)
            if PRINTED_UNITS[entry.unit] != "元"
        },
        "blank_cells": "not_transcribed",  # the years before a series exists (see village_rows)
        "caveats": [SYNTHETIC_CAVEAT],
    }
    sidecar_path = raw_dir / f"{source_id}.meta.yaml"
    sidecar_path.write_text(
        yaml.safe_dump(with_sidecar_checksum(sidecar), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def table_count_estimate(scale: float) -> int:
    """Roughly how many raw tables a scale produces (for logging)."""
    rows = round(VILLAGES * scale) * INDICATOR_COUNT
    return max(1, math.ceil(rows / ROWS_PER_TABLE))
