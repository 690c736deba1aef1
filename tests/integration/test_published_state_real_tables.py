"""On a copy of the real tables: markup in a sidecar stays inert in the card; a tampered `latest` stops the next run."""

from __future__ import annotations

import json
import shutil

import frictionless
import pytest

from pipeline.ingest.sidecar import rehash_sidecar
from pipeline.publish.release.verify import verify_release
from pipeline.publish.release.versions import DATAPACKAGE, release_versions
from pipeline.publish.warehouse import warehouse_problems
from tests.integration.test_bad_input_end_to_end import published_bytes
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import run_pipeline, step_failure_messages

pytestmark = pytest.mark.integration
EDITED = "gd_yearbook_2024_t10_22"
MARKUP = '<script>alert("x")</script> [click](javascript:alert(1)) **bold** a|b'


def test_markup_is_escaped_plain_frictionless_passes_and_an_edited_content_hash_stops_the_run(tmp_path):
    raw_dir = tmp_path / "raw"
    warehouse_dir = tmp_path / "warehouse"
    shutil.copytree(REPO_ROOT / "raw", raw_dir)
    sidecar = raw_dir / f"{EDITED}.meta.yaml"
    lines = sidecar.read_text(encoding="utf-8").splitlines()
    (position,) = [number for number, line in enumerate(lines) if line.startswith("licence: ")]
    lines[position] = f"licence: {json.dumps(MARKUP + ' ' + lines[position].removeprefix('licence: '))}"
    sidecar.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rehash_sidecar(sidecar)

    result = run_pipeline(raw_dir, warehouse_dir)
    assert result.success, step_failure_messages(result)
    latest = (warehouse_dir / "releases" / "latest").resolve()
    card = (latest / "README.md").read_text(encoding="utf-8")
    assert "<script>" not in card and "](javascript:" not in card and "**bold**" not in card
    assert r"\<script\>alert" in card and r"\[click\]\(javascript:alert\(1\)\)" in card and r"a\|b" in card
    report = frictionless.validate(str(latest / DATAPACKAGE))  # plain, no flag
    assert report.valid, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "note"])
    assert verify_release(latest) == [] and warehouse_problems(warehouse_dir / "indicators.duckdb") == []

    descriptor = latest / DATAPACKAGE
    descriptor.chmod(0o644)
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["content_hash"] = "0" * 64
    descriptor.write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    before = published_bytes(warehouse_dir)

    result = run_pipeline(raw_dir, warehouse_dir)

    assert not result.success
    messages = step_failure_messages(result)
    assert f"{latest.name}/{DATAPACKAGE}: sha256 mismatch" in messages, messages
    assert published_bytes(warehouse_dir) == before
    assert release_versions(warehouse_dir / "releases") == [latest.name]  # no duplicate release
