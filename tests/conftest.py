"""Shared test fixtures: a copy of the made-up raw tables in tmp_path, and a factory for one-off tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.sidecar import sha256_of

FIXTURE_RAW = Path(__file__).parent / "fixtures" / "raw"
REPO_ROOT = Path(__file__).parent.parent


@pytest.fixture
def fixture_raw_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/raw (made-up tables) in tmp_path."""
    target = tmp_path / "raw"
    shutil.copytree(FIXTURE_RAW, target)
    return target


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
    fields["layout"] = {
        "kind": "long",
        "region_column": "地区",
        "year_column": "年份",
        "label_column": "指标",
        "value_column": "数值",
    }
    fields.update(sidecar_fields)
    sidecar_path = raw_dir / f"{source_id}.meta.yaml"
    sidecar_path.write_text(yaml.safe_dump(fields, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return sidecar_path


@pytest.fixture
def table_writer():
    """The write_table helper, as a fixture."""
    return write_table
