"""Before publishing, the live warehouse and `latest` are checked against their recorded hashes (made-up tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import frictionless
import pytest

from pipeline.operate.cli import warehouse_failures
from pipeline.publish.publication import PublishedStateError
from pipeline.publish.release.verify import verify_release, verify_releases
from pipeline.publish.release.versions import CHECKSUMS, DATAPACKAGE, LATEST, release_versions
from pipeline.publish.warehouse import read_write_holder, record_path_for, warehouse_problems
from tests.unit.publish.test_release import FIRST, flip_last_byte, publish, releases, things

CHANGED = things(("440100", "income", 150.0), ("440103", "income", 80.0))


def live_file(tmp_path: Path) -> Path:
    """The live warehouse of a test's folders."""
    return tmp_path / "warehouse" / "indicators.duckdb"


def published_state(tmp_path: Path) -> dict[str, object]:
    """Everything published: the warehouse bytes, its record, `latest` and every release file's bytes."""
    live = live_file(tmp_path)
    folder = releases(tmp_path)
    return {
        "warehouse": live.read_bytes() if live.exists() else None,
        "record": record_path_for(live).read_bytes() if record_path_for(live).exists() else None,
        "latest": os.readlink(folder / LATEST) if (folder / LATEST).is_symlink() else None,
        "releases": {
            f"{version}/{path.name}": path.read_bytes()
            for version in release_versions(folder)
            for path in sorted((folder / version).iterdir())
        },
    }


def writable(path: Path) -> Path:
    """Make a release file writable again (releases are read-only), to tamper with it."""
    path.chmod(0o644)
    return path


def edit_content_hash(release: Path, content_hash: str) -> None:
    """Edit content_hash in a release's datapackage.json, as a careless or hostile hand would."""
    descriptor = writable(release / DATAPACKAGE)
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["content_hash"] = content_hash
    descriptor.write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def test_a_fresh_release_passes_plain_frictionless_and_records_the_warehouse_hash(tmp_path):
    outcome = publish(tmp_path, FIRST)
    report = frictionless.validate(str(outcome.release_path / DATAPACKAGE))  # no skip_errors
    assert report.valid, report.flatten(["type", "note"])
    record = json.loads(record_path_for(live_file(tmp_path)).read_text(encoding="utf-8"))
    assert record["current"]["bytes"] == live_file(tmp_path).stat().st_size and record["pending"] is None
    assert warehouse_problems(live_file(tmp_path)) == []


@pytest.mark.parametrize("same_content", [True, False])
def test_a_flipped_byte_in_latest_stops_the_next_run_and_nothing_changes(tmp_path, same_content):
    outcome = publish(tmp_path, FIRST)
    flip_last_byte(writable(outcome.release_path / "things.parquet"))
    before = published_state(tmp_path)

    with pytest.raises(PublishedStateError, match=r"2026\.11\.28\.1/things\.parquet: sha256 mismatch"):
        publish(tmp_path, FIRST if same_content else CHANGED)

    assert published_state(tmp_path) == before  # no release diffed against the tampered one, no swap


@pytest.mark.parametrize("same_content", [True, False])
def test_an_edited_content_hash_is_caught_and_cuts_no_duplicate_release(tmp_path, same_content):
    outcome = publish(tmp_path, FIRST)
    edit_content_hash(outcome.release_path, "0" * 64)
    before = published_state(tmp_path)

    with pytest.raises(PublishedStateError, match=f"2026.11.28.1/{DATAPACKAGE}: sha256 mismatch"):
        publish(tmp_path, FIRST if same_content else CHANGED)

    assert published_state(tmp_path) == before
    assert release_versions(releases(tmp_path)) == [outcome.version]
    assert any(f"{DATAPACKAGE}: sha256 mismatch" in problem for problem in verify_release(outcome.release_path))


def test_a_value_changed_in_the_live_warehouse_stops_the_run_and_verify_names_it(tmp_path, capsys):
    publish(tmp_path, FIRST)
    live = live_file(tmp_path)
    with duckdb.connect(str(live)) as connection:
        connection.execute("UPDATE things SET value = value * 10000 WHERE region_code = '440100'")
        connection.execute("CHECKPOINT")
    before = published_state(tmp_path)

    with pytest.raises(PublishedStateError, match="indicators.duckdb: sha256 .* changed after it was published"):
        publish(tmp_path, FIRST)

    assert published_state(tmp_path) == before
    assert warehouse_failures(live) == 1
    assert "MISMATCH" in capsys.readouterr().err
    live.unlink()  # the way out the message gives: the next run rebuilds the warehouse
    assert publish(tmp_path, FIRST).warehouse_swapped


def test_an_unrecorded_warehouse_of_an_older_run_is_recorded_not_refused(tmp_path):
    publish(tmp_path, FIRST)
    record_path_for(live_file(tmp_path)).unlink()
    again = publish(tmp_path, FIRST)
    assert (again.changed, again.warehouse_swapped) == (False, False)
    assert record_path_for(live_file(tmp_path)).exists() and warehouse_problems(live_file(tmp_path)) == []


def test_a_swap_interrupted_after_its_record_is_recognised_by_the_next_run(tmp_path):
    publish(tmp_path, FIRST)
    live = live_file(tmp_path)
    record = json.loads(record_path_for(live).read_text(encoding="utf-8"))
    # A kill between recording the pending file and finalising: the live file is the pending one.
    record_path_for(live).write_text(
        json.dumps({"file": live.name, "current": {"sha256": "f" * 64, "bytes": 1}, "pending": record["current"]}),
        encoding="utf-8",
    )
    assert warehouse_problems(live) == []
    publish(tmp_path, FIRST)
    assert json.loads(record_path_for(live).read_text(encoding="utf-8"))["pending"] is None


def test_a_release_cut_before_checksums_csv_still_verifies_from_its_descriptor(tmp_path):
    outcome = publish(tmp_path, FIRST)
    folder = outcome.release_path
    checksums = (folder / CHECKSUMS).read_text(encoding="utf-8").splitlines()[1:]
    package = json.loads(writable(folder / DATAPACKAGE).read_text(encoding="utf-8"))
    recorded = {line.split(",")[0]: line.split(",") for line in checksums}
    package["resources"] = [resource for resource in package["resources"] if resource["path"] != CHECKSUMS]
    for resource in package["resources"]:
        resource.update(hash=f"sha256:{recorded[resource['path']][2]}", bytes=int(recorded[resource["path"]][1]))
    (folder / DATAPACKAGE).write_text(json.dumps(package), encoding="utf-8")
    writable(folder / CHECKSUMS).unlink()
    assert verify_releases(releases(tmp_path))[outcome.version] == []
    flip_last_byte(writable(folder / "things.parquet"))
    assert any("things.parquet: sha256 mismatch" in problem for problem in verify_release(folder))


@pytest.mark.integration  # a second process holds the connection
def test_a_read_write_connection_on_the_live_warehouse_is_reported_before_the_swap(tmp_path):
    publish(tmp_path, FIRST)
    live = live_file(tmp_path)
    ready = tmp_path / "holder-ready"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, pathlib, sys, time\n"
            "connection = duckdb.connect(sys.argv[1])\n"
            "pathlib.Path(sys.argv[2]).write_text('ready')\n"
            "time.sleep(120)\n",
            str(live),
            str(ready),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the holder did not open the warehouse"
        assert f"PID {holder.pid}" in (read_write_holder(live) or "")
        before = published_state(tmp_path)

        with pytest.raises(PublishedStateError, match=rf"open read-write in another process \(PID {holder.pid}"):
            publish(tmp_path, CHANGED)

        assert published_state(tmp_path) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert publish(tmp_path, CHANGED).warehouse_swapped  # once the holder is gone the run publishes
