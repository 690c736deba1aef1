"""Shared test fixtures: a copy of the made-up raw tables in tmp_path, and a factory for one-off tables.

The plain helpers and constants the tests import live in tests/support; this file only defines fixtures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.paths import FIXTURE_RAW
from tests.support.tables import DISTRICT_SIDECAR, MADE_UP_DISTRICT_TABLE, write_table

# Every test under these folders is marked `integration` (a module-level pytestmark in a conftest would not apply).
INTEGRATION_FOLDERS = [Path(__file__).resolve().parent / name for name in ("integration", "bundle")]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the items of tests/integration and tests/bundle before `-m` selects."""
    for item in items:
        if any(item.path.resolve().is_relative_to(folder) for folder in INTEGRATION_FOLDERS):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def fixture_raw_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/raw (made-up tables) in tmp_path."""
    target = tmp_path / "raw"
    shutil.copytree(FIXTURE_RAW, target)
    return target


@pytest.fixture
def table_writer():
    """The write_table helper, as a fixture."""
    return write_table


@pytest.fixture(scope="session")
def district_fixture_warehouse(tmp_path_factory) -> Path:
    """One warehouse folder (and its releases) built by the real job from the fixture tables plus the made-up
    district table; shared read-only by the documentation and report tests, so the job runs once for both."""
    from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages

    root = tmp_path_factory.mktemp("district_fixture_build")
    raw_dir = root / "raw"
    shutil.copytree(FIXTURE_RAW, raw_dir)
    write_table(raw_dir, "fixture_district_urbanisation", MADE_UP_DISTRICT_TABLE, **DISTRICT_SIDECAR)
    result = run_pipeline(raw_dir, root / "warehouse")
    assert result.success, step_failure_messages(result) or failed_checks(result)
    return root / "warehouse"
