"""Releases: calendar versions, write-once folders, content hash, CHANGES.md, extra files and verification."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import frictionless
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from pipeline.core.locks import pipeline_lock
from pipeline.defs.resources import ProjectPaths
from pipeline.publish.publication import publish_tables
from pipeline.publish.registry import PublishedTable
from pipeline.publish.release.verify import verify_releases
from pipeline.publish.release.versions import (
    CHECKSUMS,
    DATAPACKAGE,
    LATEST,
    commit_release,
    next_version,
    point_latest_at,
    release_versions,
    remove_stale_temporaries,
)
from pipeline.publish.release.write import file_bytes
from pipeline.publish.warehouse import record_path_for
from tests.support.paths import REPO_ROOT

TODAY = dt.date(2026, 11, 28)


class ThingSchema(pa.DataFrameModel):
    """A made-up table for release tests."""

    region_code: Series[str] = pa.Field(description="region code")
    indicator_code: Series[str] = pa.Field(description="indicator code")
    value: Series[float] = pa.Field(nullable=True, description="a made-up value")

    class Config:
        strict = True
        coerce = True


SPECS = {"things": PublishedTable(ThingSchema, ("region_code", "indicator_code"))}


def things(*rows: tuple[str, str, float | None]) -> dict[str, pd.DataFrame]:
    """The one-table release content of these rows."""
    frame = pd.DataFrame(rows, columns=["region_code", "indicator_code", "value"]).astype({"value": "float64"})
    return {"things": frame}


def publish(tmp_path: Path, tables: dict[str, pd.DataFrame], extra_files=None, today: dt.date = TODAY):
    """Publish into tmp_path/warehouse with the one-table registry."""
    paths = ProjectPaths(raw_dir=str(tmp_path / "raw"), warehouse_dir=str(tmp_path / "warehouse"))
    return publish_tables(tables, extra_files or {}, paths, today, specs=SPECS)


def releases(tmp_path: Path) -> Path:
    """The releases folder under tmp_path."""
    return tmp_path / "warehouse" / "releases"


FIRST = things(("440100", "income", 100.0), ("440100", "ratio", 2.0), ("440103", "income", None))


@pytest.mark.parametrize(
    ("existing", "today", "expected"),
    [
        ([], dt.date(2026, 11, 28), "2026.11.28.1"),
        (["2026.11.28.1", "2026.11.28.2"], dt.date(2026, 11, 28), "2026.11.28.3"),
        (["2026.11.27.4"], dt.date(2026, 11, 28), "2026.11.28.1"),
        (["2026.11.29.1"], dt.date(2026, 11, 28), "2026.11.29.2"),  # the clock went back: still sorts last
        (["2026.11.28.9", "2026.11.28.10"], dt.date(2026, 11, 28), "2026.11.28.11"),
    ],
)
def test_next_version_is_calendar_plus_sequence_and_sorts_last(tmp_path, existing, today, expected):
    for name in existing:
        (tmp_path / name).mkdir()
    (tmp_path / ".tmp-123").mkdir()  # a half-written release is not a version
    assert next_version(tmp_path, today) == expected


def test_first_release_is_complete_read_only_and_latest_points_at_it(tmp_path):
    outcome = publish(tmp_path, FIRST)

    assert (outcome.version, outcome.changed, outcome.warehouse_swapped) == ("2026.11.28.1", True, True)
    folder = releases(tmp_path) / "2026.11.28.1"
    assert os.readlink(releases(tmp_path) / LATEST) == "2026.11.28.1"
    assert sorted(path.name for path in folder.iterdir()) == ["CHANGES.md", CHECKSUMS, DATAPACKAGE, "things.parquet"]
    assert all(path.stat().st_mode & 0o222 == 0 for path in folder.iterdir())
    package = json.loads((folder / DATAPACKAGE).read_text(encoding="utf-8"))
    things_resource = package["resources"][0]
    assert things_resource["rows"] == 3 and things_resource["schema"]["primaryKey"] == ["region_code", "indicator_code"]
    assert "hash" not in things_resource and "bytes" not in things_resource  # in checksums.csv, read by verify
    checksums = pd.read_csv(folder / CHECKSUMS)
    assert list(checksums["file"]) == ["CHANGES.md", DATAPACKAGE, "things.parquet"]
    assert (checksums["bytes"] > 0).all() and checksums["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    assert package["version"] == "2026.11.28.1" and package["content_hash"] == outcome.content_hash
    assert "First release" in (folder / "CHANGES.md").read_text(encoding="utf-8")
    assert verify_releases(releases(tmp_path)) == {"2026.11.28.1": [], LATEST: []}
    with duckdb.connect(str(tmp_path / "warehouse" / "indicators.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM things").fetchone()[0] == 3
        assert connection.execute("SELECT release_version, content_hash FROM publication").fetchall() == [
            ("2026.11.28.1", outcome.content_hash)
        ]


def test_unchanged_content_records_no_change_and_touches_nothing(tmp_path):
    first = publish(tmp_path, FIRST)
    live = tmp_path / "warehouse" / "indicators.duckdb"
    before = (live.stat().st_ino, live.read_bytes())

    again = publish(tmp_path, things(*FIRST["things"].itertuples(index=False, name=None)), today=TODAY.replace(day=29))

    assert (again.changed, again.version, again.warehouse_swapped) == (False, first.version, False)
    assert again.content_hash == first.content_hash
    assert release_versions(releases(tmp_path)) == ["2026.11.28.1"]
    assert (live.stat().st_ino, live.read_bytes()) == before


def test_changed_content_cuts_a_new_release_with_changes_against_the_previous(tmp_path):
    publish(tmp_path, FIRST)
    second = things(
        ("440100", "income", 150.0),  # changed: +50%
        ("440100", "ratio", 2.1),  # changed: +5%
        ("440103", "income", 80.0),  # gap filled
        ("440105", "coverage", 1.0),  # added: new region and indicator code
    )
    outcome = publish(tmp_path, second)

    assert (outcome.version, outcome.changed, outcome.previous_version) == ("2026.11.28.2", True, "2026.11.28.1")
    assert os.readlink(releases(tmp_path) / LATEST) == "2026.11.28.2"
    changes = (releases(tmp_path) / "2026.11.28.2" / "CHANGES.md").read_text(encoding="utf-8")
    assert "Compared with release 2026.11.28.1." in changes
    assert "| things | 3 | 4 | 1 | 0 | 3 |" in changes
    lines = changes.splitlines()
    value_rows = [line for line in lines if line.startswith("| region_code=")]
    assert value_rows[0] == "| region_code=440103, indicator_code=income | value | – | 80 | – | filled |"
    assert value_rows[1] == "| region_code=440100, indicator_code=income | value | 100 | 150 | +50 | +50% |"
    assert value_rows[2].startswith("| region_code=440100, indicator_code=ratio | value | 2 | 2.1 |")
    assert "- New region codes: (1) 440105" in lines
    assert "- New indicator codes: (1) coverage" in lines
    assert "- Retired region codes: none" in lines

    third = publish(tmp_path, things(("440100", "income", 150.0)))
    changes = (releases(tmp_path) / third.version / "CHANGES.md").read_text(encoding="utf-8")
    assert "| things | 4 | 1 | 0 | 3 | 0 |" in changes
    assert "- Retired region codes: (2) 440103, 440105" in changes.splitlines()
    assert "- Retired indicator codes: (2) coverage, ratio" in changes.splitlines()
    assert release_versions(releases(tmp_path)) == ["2026.11.28.1", "2026.11.28.2", "2026.11.28.3"]
    assert all(problems == [] for problems in verify_releases(releases(tmp_path)).values())


def test_extra_files_are_shipped_listed_verified_and_count_in_the_content_hash(tmp_path):
    coverage = pd.DataFrame({"region_code": ["440100", "440103"], "years": [3, 0]})
    extra = {"coverage.csv": file_bytes(coverage), "NOTES.md": file_bytes("# Notes\n\nmade up\n")}
    first = publish(tmp_path, FIRST, extra)
    package = json.loads((first.release_path / DATAPACKAGE).read_text(encoding="utf-8"))
    by_path = {resource["path"]: resource for resource in package["resources"]}
    assert set(by_path) == {"things.parquet", "coverage.csv", "NOTES.md", "CHANGES.md", CHECKSUMS}
    assert by_path["coverage.csv"]["rows"] == 2 and by_path["coverage.csv"]["type"] == "table"
    assert by_path["NOTES.md"]["type"] == "file" and by_path["NOTES.md"]["mediatype"] == "text/markdown"
    assert (first.release_path / "coverage.csv").read_text(
        encoding="utf-8"
    ) == "region_code,years\n440100,3\n440103,0\n"
    assert verify_releases(releases(tmp_path))[first.version] == []

    same = publish(tmp_path, FIRST, dict(extra))
    changed = publish(tmp_path, FIRST, {**extra, "NOTES.md": file_bytes("# Notes\n\nrevised\n")})
    assert (same.changed, changed.changed) == (False, True)


def test_frictionless_accepts_the_descriptor_and_catches_a_wrong_row_count(tmp_path):
    extra = {"coverage.csv": file_bytes(pd.DataFrame({"region_code": ["440100"], "years": [3]}))}
    outcome = publish(tmp_path, FIRST, extra)
    descriptor = outcome.release_path / DATAPACKAGE

    report = frictionless.validate(str(descriptor))  # no flag: nothing frictionless misreads is declared
    assert report.valid, report.flatten(["type", "note"])
    assert {task.name for task in report.tasks} == {"things", "coverage.csv", "changes.md", "checksums"}

    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["resources"][0]["rows"] = 99
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in outcome.release_path.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / DATAPACKAGE).write_text(json.dumps(package), encoding="utf-8")
    report = frictionless.validate(str(broken / DATAPACKAGE))
    assert not report.valid
    assert [error.type for task in report.tasks for error in task.errors] == ["row-count"]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda folder: flip_last_byte(folder / "things.parquet"), "things.parquet: sha256 mismatch"),
        (lambda folder: append(folder / "CHANGES.md", b"\nedited\n"), "CHANGES.md: bytes mismatch"),
        (lambda folder: edit_descriptor(folder, content_hash="0" * 64), f"{DATAPACKAGE}: sha256 mismatch"),
        (lambda folder: (folder / CHECKSUMS).unlink(), f"{CHECKSUMS}: file missing"),
        (lambda folder: append(folder / CHECKSUMS, b"stray.md,1,00\n"), "stray.md: file missing"),
        (lambda folder: (folder / "things.parquet").unlink(), "things.parquet: file missing"),
        (lambda folder: (folder / "stray.csv").write_text("a\n"), "stray.csv: file not listed in datapackage.json"),
        (lambda folder: edit_descriptor(folder, rows=7), "things.parquet: rows mismatch: declared 7, file has 3"),
        (lambda folder: edit_descriptor(folder, version="2026.01.01.1"), "declares version '2026.01.01.1'"),
    ],
)
def test_verify_names_every_kind_of_mismatch(tmp_path, tamper, expected):
    outcome = publish(tmp_path, FIRST)
    for path in outcome.release_path.iterdir():
        path.chmod(0o644)
    tamper(outcome.release_path)

    problems = verify_releases(releases(tmp_path))[outcome.version]

    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(f"{outcome.version}/") for problem in problems)


@pytest.mark.integration  # starts a second process
def test_verify_command_exits_non_zero_naming_the_mismatch(tmp_path):
    outcome = publish(tmp_path, FIRST)
    command = [sys.executable, "-m", "pipeline", "verify", "--releases-dir", str(releases(tmp_path))]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    good = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "2026.11.28.1: ok" in good.stdout

    parquet = outcome.release_path / "things.parquet"
    parquet.chmod(0o644)
    flip_last_byte(parquet)
    bad = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert bad.returncode == 1
    assert "MISMATCH 2026.11.28.1/things.parquet: sha256 mismatch" in bad.stderr


def test_releases_are_write_once(tmp_path):
    outcome = publish(tmp_path, FIRST)
    warehouse_dir = tmp_path / "warehouse"
    temporary = releases(tmp_path) / ".tmp-1"
    temporary.mkdir()
    (temporary / "x.parquet").write_bytes(b"x")
    with pipeline_lock(warehouse_dir), pytest.raises(FileExistsError, match="write-once"):
        commit_release(temporary, releases(tmp_path), outcome.version)
    with pytest.raises(RuntimeError, match="pipeline lock"):
        commit_release(temporary, releases(tmp_path), "2026.11.28.2")
    assert verify_releases(releases(tmp_path))[outcome.version] == []


def test_half_written_releases_of_dead_runs_are_removed_under_the_lock(tmp_path):
    publish(tmp_path, FIRST)
    half_written = releases(tmp_path) / ".tmp-999999"
    half_written.mkdir()
    (half_written / "things.parquet").write_bytes(b"half")
    stale_link = releases(tmp_path) / ".latest-999999"
    stale_link.symlink_to("2026.11.28.1")
    with pytest.raises(RuntimeError, match="pipeline lock"):
        remove_stale_temporaries(releases(tmp_path))
    assert half_written.exists()

    publish(tmp_path, things(("440100", "income", 1.0)))

    assert not half_written.exists() and not stale_link.is_symlink()
    assert release_versions(releases(tmp_path)) == ["2026.11.28.1", "2026.11.28.2"]


def flip_last_byte(path: Path) -> None:
    """Corrupt a file without changing its size."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def append(path: Path, extra: bytes) -> None:
    """Append bytes to a file."""
    path.write_bytes(path.read_bytes() + extra)


def edit_descriptor(
    folder: Path, rows: int | None = None, version: str | None = None, content_hash: str | None = None
) -> None:
    """Change the declared rows of the first resource, the declared version or the content hash."""
    descriptor = folder / DATAPACKAGE
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    if rows is not None:
        package["resources"][0]["rows"] = rows
    if version is not None:
        package["version"] = version
    if content_hash is not None:
        package["content_hash"] = content_hash
    descriptor.write_text(json.dumps(package), encoding="utf-8")


@pytest.mark.parametrize("name", ["CHANGES.md", "datapackage.json", "things.parquet", "../escape.csv", ".hidden"])
def test_extra_files_cannot_take_reserved_or_unsafe_names(tmp_path, name):
    with pytest.raises(ValueError, match="reserved or not a plain file name"):
        publish(tmp_path, FIRST, {name: b"x"})
    assert release_versions(releases(tmp_path)) == []
    assert not (tmp_path / "warehouse" / "indicators.duckdb").exists()


def test_a_run_killed_between_publication_steps_is_completed_by_the_next_without_a_second_release(tmp_path):
    live = tmp_path / "warehouse" / "indicators.duckdb"
    first = publish(tmp_path, FIRST)
    old_warehouse = live.read_bytes()
    old_record = record_path_for(live).read_bytes()  # the recorded sha256 the warehouse was published with
    changed = things(("440100", "income", 150.0))
    second = publish(tmp_path, changed)

    # The state a kill at `latest` leaves: the new release renamed into place; `latest` and the warehouse still old.
    point_latest_at(releases(tmp_path), first.version)
    put_back(live, old_warehouse, old_record)
    assert all(problems == [] for problems in verify_releases(releases(tmp_path)).values())
    repaired = publish(tmp_path, changed)
    assert (repaired.changed, repaired.version, repaired.warehouse_swapped) == (False, second.version, True)
    assert os.readlink(releases(tmp_path) / LATEST) == second.version
    assert warehouse_version(live) == second.version

    # The state a kill at `warehouse-swap` leaves: `latest` switched, the warehouse still old.
    put_back(live, old_warehouse, old_record)
    repaired = publish(tmp_path, changed)
    assert (repaired.changed, repaired.warehouse_swapped) == (False, True)
    assert warehouse_version(live) == second.version
    assert release_versions(releases(tmp_path)) == [first.version, second.version]


def put_back(live: Path, data: bytes, record: bytes) -> None:
    """Replace the live warehouse and its recorded sha256 with earlier bytes, atomically."""
    for path, content in ((live, data), (record_path_for(live), record)):
        temporary = path.with_name("restore.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, path)


def warehouse_version(live: Path) -> str:
    """The release version the warehouse's publication row names."""
    with duckdb.connect(str(live), read_only=True) as connection:
        return connection.execute("SELECT release_version FROM publication").fetchone()[0]
