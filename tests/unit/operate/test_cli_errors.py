"""`python -m pipeline run | verify | nightly`: a full disk, a read-only folder or any error is one line, no traceback."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from pipeline.operate import cli
from tests.support.paths import REPO_ROOT
from tests.unit.publish.test_published_state import published_state
from tests.unit.publish.test_release import FIRST, flip_last_byte, publish

DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A made-up published warehouse and release in tmp_path, with the CLI's environment pointing at it."""
    publish(tmp_path, FIRST)
    monkeypatch.setenv("PIPELINE_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("PIPELINE_RAW_DIR", str(REPO_ROOT / "tests" / "fixtures" / "raw"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path


def one_error_line(stderr: str) -> str:
    """The single `error:` line of a command's stderr, asserting there is no traceback."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def refuse_writes(reason: int, folder: Path):
    """A Path.write_bytes that fails with `reason` (EROFS, ENOSPC) inside `folder`, as that file system would."""
    original = Path.write_bytes

    def write_bytes(self, data):
        if folder in self.parents:
            raise OSError(reason, os.strerror(reason), str(self))
        return original(self, data)

    return write_bytes


@pytest.mark.parametrize(
    ("reason", "expected"), [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "no space left")]
)
def test_a_read_only_or_full_warehouse_folder_stops_the_run_in_one_line(
    published, monkeypatch, capsys, reason, expected
):
    before = published_state(published)
    monkeypatch.setattr(Path, "write_bytes", refuse_writes(reason, published / "warehouse"))

    assert cli.main(["run"]) == 1

    line = one_error_line(capsys.readouterr().err)
    assert expected in line and "warehouse folder" in line and "nothing was changed" in line
    assert published_state(published) == before


def test_too_little_free_space_at_start_stops_the_run_in_one_line(published, monkeypatch, capsys):
    before = published_state(published)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10 << 30, (10 << 30) - (5 << 20), 5 << 20))

    assert cli.main(["run"]) == 1

    line = one_error_line(capsys.readouterr().err)
    assert "not enough free disk space" in line and "5.0 MiB free" in line
    assert published_state(published) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder; the EROFS case above covers it")
def test_a_chmod_read_only_warehouse_folder_stops_the_run_in_one_line(published, capsys):
    warehouse = published / "warehouse"
    before = published_state(published)
    warehouse.chmod(0o555)
    try:
        assert cli.main(["run"]) == 1
    finally:
        warehouse.chmod(0o755)
    assert "is not writable" in one_error_line(capsys.readouterr().err)
    assert published_state(published) == before


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    def explode() -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/somewhere/storage/runs.db")

    assert cli.without_traceback(explode) == 1
    assert one_error_line(capsys.readouterr().err) == (
        "error: no space left on the device (disk full) on /somewhere/storage/runs.db; nothing was changed"
    )
    monkeypatch.setenv(cli.DEBUG_ENVIRONMENT_VARIABLE, "1")
    with pytest.raises(OSError):
        cli.without_traceback(explode)


def test_verify_covers_the_warehouse_and_names_a_changed_file(published, capsys):
    assert cli.main(["verify"]) == 0
    assert f"{published / 'warehouse' / 'indicators.duckdb'}: ok" in capsys.readouterr().out
    flip_last_byte(published / "warehouse" / "indicators.duckdb")

    assert cli.main(["verify"]) == 1

    err = capsys.readouterr().err
    assert "MISMATCH" in err and "indicators.duckdb: sha256" in err and "changed after it was published" in err


@pytest.mark.integration  # starts `python -m pipeline` processes
@pytest.mark.parametrize("command", [["-m", "pipeline", "run"], ["-m", "pipeline.automation"]])
def test_the_commands_print_no_traceback_when_the_warehouse_folder_cannot_exist(tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "raw").mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    environment = {
        **os.environ,
        "PIPELINE_WAREHOUSE_DIR": str(blocker / "warehouse"),
        "PIPELINE_RAW_DIR": str(tmp_path / "raw"),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),
    }
    environment.pop(cli.DEBUG_ENVIRONMENT_VARIABLE, None)
    result = subprocess.run(
        [sys.executable, *command], env=environment, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    line = one_error_line(result.stderr)
    assert "a-file" in line, result.stderr
