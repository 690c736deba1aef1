"""Builders of tiny MADE-UP frames for the indicator, dispersion and convergence tests (figures invented, not statistics)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from pipeline.core.metadata import load_indicator_catalog

CITY = "440100"
PROVINCE = "440000"


def observation_frame(rows: list[tuple]) -> pd.DataFrame:
    """(indicator_code, region_code, year, value[, status[, rounding_radius]]) → a preferred-observations frame."""
    records = []
    for row in rows:
        code, region, year, value, *rest = row
        status = rest[0] if rest else ""
        radius = rest[1] if len(rest) > 1 else 0.0
        records.append(
            {
                "source_id": "made_up",
                "region_code": region,
                "year": year,
                "indicator_code": code,
                "value": value,
                "unit": "unit",
                "status": status,
                "rounding_radius": radius,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["source_id", "region_code", "year", "indicator_code", "value", "unit", "status", "rounding_radius"],
    ).astype({"year": "int64", "value": "float64"})


def value_frame(rows: list[tuple]) -> pd.DataFrame:
    """(indicator_code, region_code, year, value[, status]) → an indicator-values frame as the convergence code reads it."""
    pool = observation_frame(rows)
    return pool.assign(source_ids=pool["source_id"])[
        ["indicator_code", "region_code", "year", "value", "unit", "status", "source_ids"]
    ]


def catalog_from(entries: list[dict], directory: Path) -> pd.DataFrame:
    """A catalogue read through the real loader from a made-up indicators.yaml written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    complete = [
        {"name_zh": "测试", "name_en": "Test", "unit": "unit", "kind": "observed", "definition": "Made up.", **entry}
        for entry in entries
    ]
    (directory / "indicators.yaml").write_text(yaml.safe_dump(complete, allow_unicode=True), encoding="utf-8")
    return load_indicator_catalog(directory)


def region_frame(rows: list[tuple]) -> pd.DataFrame:
    """(region_code, level, parent_code[, district_group[, typical_county[, paired_city]]]) → a regions frame."""
    records = []
    for row in rows:
        code, level, parent, *rest = row
        records.append(
            {
                "region_code": code,
                "name_zh": code,
                "name_en": code,
                "level": level,
                "parent_code": parent,
                "district_group": rest[0] if rest else None,
                "typical_county": rest[1] if len(rest) > 1 else False,
                "paired_city": rest[2] if len(rest) > 2 else False,
            }
        )
    return pd.DataFrame.from_records(records)


def districts(count: int, parent: str = CITY) -> list[str]:
    """Real-looking district codes under a parent (codes only; no figures attached)."""
    return [f"{parent[:4]}{index:02d}" for index in range(1, count + 1)]
