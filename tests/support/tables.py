"""Writing MADE-UP source tables (a CSV and its sidecar) for the tests, the made-up district table, and corrupting
one figure of a copied table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import load_units, region_name_lookup
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import load_sidecar, with_sidecar_checksum

# MADE-UP urbanisation rates (%) of six Guangzhou districts, so the district views and the dispersion have rows.
MADE_UP_DISTRICT_TABLE = """地区,指标,单位,2018,2019
荔湾区,常住人口城镇人口比重,%,90.0,92.0
越秀区,常住人口城镇人口比重,%,100.0,100.0
海珠区,常住人口城镇人口比重,%,95.0,96.0
天河区,常住人口城镇人口比重,%,98.0,98.5
白云区,常住人口城镇人口比重,%,80.0,84.0
番禺区,常住人口城镇人口比重,%,85.0,88.0
"""
# The long layout (one row per region, year and indicator) of the made-up tables, with and without a unit column.
LONG_LAYOUT = {
    "kind": "long",
    "region_column": "地区",
    "year_column": "年份",
    "label_column": "指标",
    "value_column": "数值",
}
LONG_LAYOUT_WITH_UNIT = {**LONG_LAYOUT, "unit_column": "单位"}
DISTRICT_SIDECAR = {
    "unit": "%",
    "layout": {"kind": "wide", "region_column": "地区", "label_column": "指标", "unit_column": "单位"},
    "labels": {"常住人口城镇人口比重": "urbanisation_rate"},
}


def made_up_sidecar_fields(source_id: str, data_path: Path) -> dict:
    """The provenance fields every made-up test table shares, with the data file's sha256."""
    return {
        "source_id": source_id,
        "title": "MADE-UP test table",
        "publication": "Test fixtures",
        "publisher": "Test suite",
        "table_number": "T",
        "edition": "2026",
        "url": f"https://example.invalid/{source_id}",
        "url_kind": "official",
        "authority": "official",
        "accessed": "2026-11-28",
        "licence": "Made up for tests",
        "file": data_path.name,
        "sha256": sha256_of(data_path),
        "unit": "元",
        "multiplier": 1,
        "labels": {"农村居民人均可支配收入": "rural_disposable_income_per_capita"},
        "caveats": ["MADE UP for tests."],
    }


def write_table(raw_dir: Path, source_id: str, content: str | bytes, **sidecar_fields) -> Path:
    """Write a made-up CSV and a sidecar with its correct sha256; sidecar fields override the defaults. Returns the sidecar path."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    data_path = raw_dir / f"{source_id}.csv"
    if isinstance(content, str):
        data_path.write_text(content, encoding=sidecar_fields.get("encoding", "utf-8"))
    else:
        data_path.write_bytes(content)
    fields = made_up_sidecar_fields(source_id, data_path)
    fields["encoding"] = "utf-8"
    fields["layout"] = dict(LONG_LAYOUT)
    fields.update(sidecar_fields)
    sidecar_path = raw_dir / f"{source_id}.meta.yaml"
    write_sidecar_fields(sidecar_path, fields)
    return sidecar_path


def write_sidecar_fields(path: Path, fields: dict) -> Path:
    """Write a made-up sidecar's fields as YAML with their sidecar_sha256 (as `rehash` would)."""
    fields = {key: value for key, value in fields.items() if key != "sidecar_sha256"}
    path.write_text(
        yaml.safe_dump(with_sidecar_checksum(fields), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path


def corrupt_one_figure(sidecar_path: Path) -> tuple[int, str]:
    """Replace the last figure the reader takes from a real CSV with text; return its (line, column name)."""
    raw_dir = sidecar_path.parent
    staged = read_source_table(load_sidecar(sidecar_path, raw_dir), raw_dir, region_name_lookup(), load_units())
    target = staged[staged["value"].notna()].sort_values(["source_row", "source_column"]).iloc[-1]
    data_path = raw_dir / staged["source_file"].iloc[0]
    lines = data_path.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(lines))
    header = next(row for row in rows if target["source_column"] in row)
    cells = rows[target["source_row"] - 1]
    cells[header.index(target["source_column"])] = "12abc"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    lines[target["source_row"] - 1] = buffer.getvalue()
    data_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return int(target["source_row"]), str(target["source_column"])
