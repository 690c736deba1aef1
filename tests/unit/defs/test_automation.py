"""Automation: the nightly schedule's cron and timezone, the raw-files sensor, freshness checks, code versions, retries."""

from __future__ import annotations

import datetime as dt
import errno
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._utils.schedules import cron_string_iterator

from pipeline.core.errors import InputError, InputProblem
from pipeline.definitions import build_definitions, defs
from pipeline.defs import code_versions
from pipeline.defs.automation import TRIGGER_TAG, raw_folder_state, state_digest
from pipeline.defs.code_versions import module_code_version, pipeline_imports
from pipeline.defs.ingest import (
    FRESHNESS_CHECK,
    RAW_TABLE_PREFIX,
    freshness_result,
    raw_file_versions,
    raw_table_key,
    transient_io_retries,
)
from pipeline.defs.resources import ProjectPaths
from pipeline.ingest.sidecar import load_sidecar, rehash_sidecar, sidecar_paths
from pipeline.ingest.sources import DEFAULT_UPDATE_PERIOD, add_period, require_loaded_tables
from tests.support.paths import REPO_ROOT
from tests.support.tables import write_table


@pytest.fixture
def instance(tmp_path):
    """A Dagster instance in a temporary DAGSTER_HOME (schedule and sensor contexts need a persistent one)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as test_instance:
        yield test_instance


def fixture_definitions(raw_dir: Path, tmp_path: Path) -> dg.Definitions:
    """The pipeline's definitions for a raw folder in tmp_path."""
    return build_definitions(ProjectPaths(raw_dir=str(raw_dir), warehouse_dir=str(tmp_path / "warehouse")))


def evaluate_sensor(definitions: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    """One tick of the raw-files sensor, as the daemon would evaluate it."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources=definitions.resources
    )
    return definitions.resolve_sensor_def("raw_files_sensor").evaluate_tick(context)


def test_nightly_schedule_runs_at_two_in_the_morning_shanghai_time_by_default():
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "build_everything"
    sensor = defs.resolve_sensor_def("raw_files_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "build_everything"


def test_nightly_schedule_ticks_are_at_two_shanghai_which_is_six_pm_utc():
    schedule = defs.resolve_schedule_def("nightly_schedule")
    start = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC).timestamp()
    first = next(cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone))
    assert (first.hour, first.minute, str(first.tzinfo)) == (2, 0, "Asia/Shanghai")
    assert first.astimezone(dt.UTC).replace(tzinfo=None) == dt.datetime(2026, 11, 28, 18, 0)


def test_schedule_on_a_new_instance_rebuilds_everything_and_observes_every_raw_file(
    fixture_raw_dir, tmp_path, instance
):
    definitions = fixture_definitions(fixture_raw_dir, tmp_path)
    context = dg.build_schedule_context(
        instance=instance, repository_def=definitions.get_repository_def(), resources=definitions.resources
    )
    result = definitions.resolve_schedule_def("nightly_schedule").evaluate_tick(context)
    [request] = result.run_requests
    selected = {key.to_user_string() for key in request.asset_selection}
    assert {
        "raw_table/fixture_income_wide",
        "raw_sidecar/fixture_ratio_long",
        "staged_table/fixture_income_wide",
        "release",
    } <= selected
    assert request.tags[TRIGGER_TAG] == "nightly_schedule"


def test_sensor_yields_one_run_per_change_and_none_without_a_change(fixture_raw_dir, tmp_path, instance):
    definitions = fixture_definitions(fixture_raw_dir, tmp_path)
    cursor = json.dumps(raw_folder_state(fixture_raw_dir), sort_keys=True)

    unchanged = evaluate_sensor(definitions, instance, cursor)
    assert unchanged.run_requests == []
    assert "no raw table or sidecar" in unchanged.skip_message

    data_file = fixture_raw_dir / "fixture_ratio_long.csv"
    data_file.write_text(data_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    rehash_sidecar(fixture_raw_dir / "fixture_ratio_long.meta.yaml")
    changed = evaluate_sensor(definitions, instance, cursor)
    [request] = changed.run_requests
    assert request.run_key == state_digest(raw_folder_state(fixture_raw_dir))
    assert dg.AssetKey(["staged_table", "fixture_ratio_long"]) in request.asset_selection
    assert json.loads(changed.cursor) == raw_folder_state(fixture_raw_dir)

    again = evaluate_sensor(definitions, instance, changed.cursor)
    assert again.run_requests == []

    # The same change seen from the old cursor (say the cursor update was lost) gets the same run key,
    # so the daemon launches it only once.
    repeated = evaluate_sensor(definitions, instance, cursor)
    assert [request.run_key for request in repeated.run_requests] == [request.run_key]


def test_sensor_asks_for_a_reload_when_a_table_is_added_after_the_definitions_loaded(
    fixture_raw_dir, tmp_path, instance
):
    definitions = fixture_definitions(fixture_raw_dir, tmp_path)
    cursor = json.dumps(raw_folder_state(fixture_raw_dir), sort_keys=True)
    write_table(fixture_raw_dir, "fixture_added", "地区,年份,指标,数值\n广东省,2020,农村居民人均可支配收入,100\n")
    result = evaluate_sensor(definitions, instance, cursor)
    assert result.run_requests == []
    assert "fixture_added.meta.yaml" in result.skip_message and "reload" in result.skip_message
    assert result.cursor in (None, cursor), "the cursor must not move past a change that has not been run"

    reloaded = fixture_definitions(fixture_raw_dir, tmp_path)
    [request] = evaluate_sensor(reloaded, instance, cursor).run_requests
    assert dg.AssetKey(["staged_table", "fixture_added"]) in request.asset_selection


def test_sources_fails_naming_the_new_table_when_definitions_are_out_of_date(fixture_raw_dir):
    paths = sidecar_paths(fixture_raw_dir)
    with pytest.raises(InputError) as raised:
        require_loaded_tables(paths, ["fixture_income_wide"], fixture_raw_dir)
    [problem] = raised.value.problems
    assert problem.rule == "definitions_out_of_date"
    assert problem.file.endswith("fixture_ratio_long.meta.yaml")


@pytest.mark.parametrize(
    ("accessed", "update_period", "today", "passed"),
    [
        ("2026-01-10", None, dt.date(2027, 1, 10), True),  # default P1Y: due on the anniversary
        ("2026-01-10", None, dt.date(2027, 1, 11), False),
        ("2026-01-10", "P6M", dt.date(2026, 7, 11), False),
        ("2026-01-10", "P6M", dt.date(2026, 7, 10), True),
        ("2024-02-29", "P1Y", dt.date(2025, 3, 1), False),  # 29 February + 1 year = 28 February
        ("2026-01-10", "P90D", dt.date(2026, 4, 10), True),
    ],
)
def test_freshness_warns_when_a_table_is_older_than_its_update_period(tmp_path, accessed, update_period, today, passed):
    fields = {"accessed": accessed} if update_period is None else {"accessed": accessed, "update_period": update_period}
    sidecar_path = write_table(tmp_path, "fixture_fresh", "a\n1\n", **fields)
    result = freshness_result(sidecar_path, today, raw_table_key("fixture_fresh"))
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["update_period"].value == (update_period or DEFAULT_UPDATE_PERIOD)
    if not passed:
        assert "fixture_fresh.meta.yaml" in result.description and "older than its update period" in result.description


@pytest.mark.parametrize(
    ("next_edition_due", "today", "passed"),
    [
        ("2023-12-31", dt.date(2026, 11, 28), False),  # a 2022 yearbook read recently: its 2023 edition is overdue
        ("2026-12-31", dt.date(2026, 11, 28), True),
        ("2026-11-28", dt.date(2026, 11, 28), True),  # due on the day: not yet overdue
    ],
)
def test_freshness_warns_when_the_next_edition_is_overdue_however_recently_the_table_was_read(
    tmp_path, next_edition_due, today, passed
):
    sidecar_path = write_table(
        tmp_path, "fixture_fresh", "a\n1\n", accessed="2026-11-20", edition="2022", next_edition_due=next_edition_due
    )
    result = freshness_result(sidecar_path, today, raw_table_key("fixture_fresh"))
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["next_edition_due"].value == next_edition_due
    if not passed:
        assert f"next edition was due by {next_edition_due}" in result.description and "(2022)" in result.description
        assert result.metadata["edition_days_overdue"].value == (today - dt.date.fromisoformat(next_edition_due)).days


def test_a_sidecar_with_a_next_edition_due_that_is_not_a_date_is_rejected_naming_the_rule(tmp_path):
    sidecar_path = write_table(tmp_path, "fixture_fresh", "a\n1\n", next_edition_due="each autumn")
    with pytest.raises(InputError) as raised:
        load_sidecar(sidecar_path, tmp_path)
    assert [problem.rule for problem in raised.value.problems] == ["sidecar_next_edition_due"]


def test_freshness_reports_an_unreadable_update_period_as_a_warning_naming_the_sidecar(tmp_path):
    sidecar_path = write_table(tmp_path, "fixture_fresh", "a\n1\n", update_period="yearly")
    result = freshness_result(sidecar_path, dt.date(2026, 11, 28), raw_table_key("fixture_fresh"))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert str(sidecar_path) in result.description and "'yearly'" in result.description


def test_every_raw_table_has_a_non_blocking_freshness_check():
    graph = defs.resolve_asset_graph()
    raw_tables = {key for key in graph.observable_asset_keys if key.path[0] == RAW_TABLE_PREFIX}
    freshness = {key for key in graph.asset_check_keys if key.name == FRESHNESS_CHECK}
    assert raw_tables and {key.asset_key for key in freshness} == raw_tables
    assert not any(graph.get_check_spec(key).blocking for key in freshness)


def test_sidecars_update_period_when_present_is_an_iso_period():
    for path in sidecar_paths(REPO_ROOT / "raw"):
        period = yaml.safe_load(path.read_text(encoding="utf-8")).get("update_period")
        if period is not None:
            add_period(dt.date(2026, 1, 1), str(period))


def test_every_computing_asset_has_a_code_version_from_its_sources():
    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        assert graph.get(key).code_version, key
    ingest_imports = pipeline_imports("pipeline.defs.ingest")
    assert {
        "pipeline.defs.ingest",
        "pipeline.ingest.reader",
        "pipeline.ingest.reader.staging",
        "pipeline.ingest.cells",
        "pipeline.ingest.sidecar",
    } <= ingest_imports
    assert not {"pipeline.publish", "pipeline.defs.publish"} & ingest_imports
    assert graph.get(dg.AssetKey("staged_observations")).code_version == module_code_version("pipeline.defs.ingest")


def test_a_change_behind_a_package_import_changes_the_code_version(tmp_path, monkeypatch):
    """`from pipeline.ingest.reader import f` runs the package's __init__, whose imports reach its modules."""
    files = {
        "__init__.py": "",
        "defs/__init__.py": "",
        "defs/stage.py": "from pipeline.ingest.reader import read_table\n",
        "ingest/__init__.py": "",
        "ingest/reader/__init__.py": "from pipeline.ingest.reader.staging import read_table\n",
        "ingest/reader/staging.py": "def read_table():\n    return 1\n",
    }
    package = tmp_path / "pipeline"
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(code_versions, "PACKAGE_DIR", package)
    assert pipeline_imports("pipeline.defs.stage") == {
        "pipeline",
        "pipeline.defs",
        "pipeline.defs.stage",
        "pipeline.ingest",
        "pipeline.ingest.reader",
        "pipeline.ingest.reader.staging",
    }
    before = module_code_version.__wrapped__("pipeline.defs.stage")
    (package / "ingest/reader/staging.py").write_text("def read_table():\n    return 2\n", encoding="utf-8")
    assert module_code_version.__wrapped__("pipeline.defs.stage") != before


def test_observed_data_version_of_a_raw_table_is_its_sha256(fixture_raw_dir):
    key = raw_table_key("fixture_income_wide")
    declared = yaml.safe_load((fixture_raw_dir / "fixture_income_wide.meta.yaml").read_text(encoding="utf-8"))
    assert raw_file_versions(fixture_raw_dir, [key]) == {key: declared["sha256"]}


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(errno.EIO, "input/output error"), True),
        (OSError(errno.ESTALE, "stale file handle"), True),
        (FileNotFoundError(errno.ENOENT, "no such file"), False),
        (InputError([InputProblem("raw/x.csv", "csv_syntax", "not a well-formed CSV")]), False),
    ],
)
def test_only_transient_io_errors_are_retried(error, retried):
    @transient_io_retries
    def failing():
        raise error

    expected = dg.RetryRequested if retried else type(error)
    with pytest.raises(expected):
        failing()
