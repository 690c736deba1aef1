"""Incremental runs: nothing changed → nothing recomputed and no release; one table changed → only what depends on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.definitions import build_definitions
from pipeline.defs.automation import UpdatePlan, plan_update
from pipeline.defs.code_versions import versioned
from pipeline.defs.ingest import FRESHNESS_CHECK, staged_table_key
from pipeline.defs.resources import ProjectPaths
from pipeline.ingest.sidecar import rehash_sidecar
from pipeline.operate.runs import execute_job

pytestmark = pytest.mark.integration

CHANGED_TABLE = "fixture_ratio_long"
UNCHANGED_TABLE = "fixture_income_wide"
# Everything computed from the indicators (derived tables, the dataset card, warehouse, release).
DOWNSTREAM_OF_INDICATORS = {
    "preferred_values",
    "group_aggregates",
    "paired_city_ratios",
    "dispersion",
    "convergence",
    "urban_rural_theil",
    "sigma_convergence",
    "theil_decomposition",
    "target_progress",
    "dataset_card",
    "income_ratio_chart",
    "district_urbanisation_chart",
    "paired_city_chart",
    "city_dispersion_chart",
    "report",
    "warehouse",
    "release",
}
DOWNSTREAM_OF_A_TABLE = {
    f"staged_table/{CHANGED_TABLE}",
    "sources",
    "staged_observations",
    "observations",
    "coverage",
    "district_economy_chart",
    "indicators",
    *DOWNSTREAM_OF_INDICATORS,
}


class Pipeline:
    """The real definitions on fixture folders in tmp_path, run the way `make nightly` runs them."""

    def __init__(
        self,
        raw_dir: Path,
        warehouse_dir: Path,
        instance: dg.DagsterInstance,
        metadata_dir: Path = PACKAGE_METADATA_DIR,
    ):
        self.raw_dir = raw_dir
        self.warehouse_dir = warehouse_dir
        self.metadata_dir = metadata_dir
        self.instance = instance
        self.reload()

    def reload(self, definitions: dg.Definitions | None = None) -> None:
        """Load the definitions again, as a restarted daemon or a new `make nightly` process does."""
        paths = ProjectPaths(
            raw_dir=str(self.raw_dir), warehouse_dir=str(self.warehouse_dir), metadata_dir=str(self.metadata_dir)
        )
        self.definitions = definitions or build_definitions(paths)

    def plan(self) -> UpdatePlan:
        """What the nightly run would rebuild now."""
        return plan_update(self.instance, self.definitions.resolve_asset_graph(), self.raw_dir, self.metadata_dir)

    def run(self) -> tuple[UpdatePlan, dg.ExecuteInProcessResult]:
        """One nightly run: plan, then execute the plan's selection."""
        plan = self.plan()
        result = execute_job(
            self.definitions,
            self.instance,
            "WARNING",
            asset_selection=plan.asset_selection,
            asset_check_keys=plan.checks,
        )
        return plan, result

    def releases(self) -> list[str]:
        """The release versions written so far."""
        folder = self.warehouse_dir / "releases"
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.is_symlink())

    def data_versions(self, keys) -> dict[str, str]:
        """The latest recorded data version of each asset."""
        versions = {}
        for key in keys:
            record = self.instance.get_latest_data_version_record(key, is_source=False)
            versions[key.to_user_string()] = record.asset_materialization.tags["dagster/data_version"]
        return versions


@pytest.fixture
def pipeline(fixture_raw_dir, tmp_path) -> Pipeline:
    """The pipeline on a copy of the made-up fixture tables, with an ephemeral instance."""
    return Pipeline(fixture_raw_dir, tmp_path / "warehouse", dg.DagsterInstance.ephemeral())


def materialised(result: dg.ExecuteInProcessResult) -> set[str]:
    """The assets a run materialised, from its event log."""
    return {
        event.asset_key.to_user_string()
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }


def observed(result: dg.ExecuteInProcessResult) -> set[str]:
    """The assets a run observed, from its event log."""
    return {
        event.asset_key.to_user_string() for event in result.all_events if event.event_type_value == "ASSET_OBSERVATION"
    }


def test_unchanged_second_run_recomputes_nothing_and_cuts_no_release(pipeline):
    first_plan, first = pipeline.run()
    assert first.success
    graph = pipeline.definitions.resolve_asset_graph()
    computing = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert materialised(first) == computing
    assert set(first_plan.out_of_date.values()) == {"never materialised"}
    versions_before = pipeline.data_versions(graph.materializable_asset_keys)
    releases_before = pipeline.releases()
    assert len(releases_before) == 1

    pipeline.reload()
    second_plan, second = pipeline.run()
    assert second.success
    assert second_plan.out_of_date == {}
    assert materialised(second) == set()
    # Nothing changed, so nothing is observed again; every raw table's freshness is still checked.
    assert second_plan.observe == [] and observed(second) == set()
    freshness = {key for key in graph.asset_check_keys if key.name == FRESHNESS_CHECK}
    assert freshness and checked(second) == {key.asset_key.to_user_string() for key in freshness}
    assert pipeline.data_versions(graph.materializable_asset_keys) == versions_before
    assert pipeline.releases() == releases_before


def checked(result: dg.ExecuteInProcessResult) -> set[str]:
    """The assets whose checks a run evaluated, from its event log."""
    return {
        event.event_specific_data.asset_key.to_user_string()
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def add_trailing_line_to_data_file(raw_dir: Path) -> None:
    """Same figures, one more blank line: the data file's sha256 changes (and the sidecar is rehashed)."""
    data_file = raw_dir / f"{CHANGED_TABLE}.csv"
    data_file.write_text(data_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    rehash_sidecar(raw_dir / f"{CHANGED_TABLE}.meta.yaml")


def add_comment_to_sidecar(raw_dir: Path) -> None:
    """A YAML comment in the sidecar: the sidecar's sha256 changes, nothing it declares does."""
    sidecar = raw_dir / f"{CHANGED_TABLE}.meta.yaml"
    sidecar.write_text(sidecar.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "changed_inputs", "releases"),
    [
        # The published sources table carries the file's sha256, so a new release is cut.
        (add_trailing_line_to_data_file, f"raw_sidecar/{CHANGED_TABLE}, raw_table/{CHANGED_TABLE}", 2),
        # Everything published is unchanged: dependents are recomputed, but no release is cut.
        (add_comment_to_sidecar, f"raw_sidecar/{CHANGED_TABLE}", 1),
    ],
)
def test_a_changed_table_recomputes_only_what_depends_on_it(pipeline, change, changed_inputs, releases):
    assert pipeline.run()[1].success
    change(pipeline.raw_dir)

    plan, result = pipeline.run()
    assert result.success
    assert {key.to_user_string() for key in plan.out_of_date} == DOWNSTREAM_OF_A_TABLE
    assert plan.out_of_date[staged_table_key(CHANGED_TABLE)] == f"input {changed_inputs} changed"
    assert materialised(result) == DOWNSTREAM_OF_A_TABLE
    assert f"staged_table/{UNCHANGED_TABLE}" not in materialised(result)
    # Only the changed files are observed again, before what depends on them is rebuilt.
    assert observed(result) == set(changed_inputs.split(", "))
    assert len(pipeline.releases()) == releases


def test_a_new_code_version_recomputes_that_asset_and_its_dependents(pipeline):
    assert pipeline.run()[1].success
    changed = [
        versioned(assets_def, "changed")
        if isinstance(assets_def, dg.AssetsDefinition) and dg.AssetKey("indicators") in assets_def.keys
        else assets_def
        for assets_def in pipeline.definitions.assets
    ]
    pipeline.reload(
        dg.Definitions(
            assets=changed,
            asset_checks=pipeline.definitions.asset_checks,
            jobs=pipeline.definitions.jobs,
            resources=pipeline.definitions.resources,
        )
    )
    plan, result = pipeline.run()
    assert result.success
    assert plan.out_of_date[dg.AssetKey("indicators")].startswith("code version changed")
    assert materialised(result) == {"indicators", *DOWNSTREAM_OF_INDICATORS}


def test_an_asset_whose_blocking_check_failed_is_rebuilt_next_time(pipeline):
    assert pipeline.run()[1].success
    check_key = dg.AssetCheckKey(dg.AssetKey("observations"), "observations_schema")
    pipeline.instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=check_key.asset_key, check_name=check_key.name, passed=False)
    )
    plan = pipeline.plan()
    assert "observations_schema" in plan.out_of_date[dg.AssetKey("observations")]
    assert dg.AssetKey("indicators") in plan.out_of_date
    assert dg.AssetKey("staged_observations") not in plan.out_of_date


def test_deleted_outputs_are_rebuilt_even_when_nothing_else_changed(pipeline):
    assert pipeline.run()[1].success
    (pipeline.warehouse_dir / "indicators.duckdb").unlink()
    (Path(pipeline.instance.storage_directory()) / "observations").unlink()
    plan = pipeline.plan()
    assert plan.out_of_date[dg.AssetKey("warehouse")].startswith("its output")
    assert "indicators.duckdb" in plan.out_of_date[dg.AssetKey("warehouse")]
    assert plan.out_of_date[dg.AssetKey("observations")].startswith("its output")
    assert dg.AssetKey("staged_observations") not in plan.out_of_date
    _, result = pipeline.run()
    assert result.success
    assert (pipeline.warehouse_dir / "indicators.duckdb").is_file()


def live_comment_and_definitions(warehouse_file: Path) -> tuple[str, str, str]:
    """The live warehouse's comment on publication.built_at, its definitions_hash and its release version."""
    with duckdb.connect(str(warehouse_file), read_only=True) as connection:
        (comment,) = connection.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = ? AND column_name = ?", ["publication", "built_at"]
        ).fetchone()
        definitions, version = connection.execute(
            "SELECT definitions_hash, release_version FROM publication"
        ).fetchone()
    return comment, definitions, version


def test_an_edited_column_description_rebuilds_the_warehouse_without_cutting_a_release(fixture_raw_dir, tmp_path):
    metadata_dir = tmp_path / "metadata"
    shutil.copytree(PACKAGE_METADATA_DIR, metadata_dir)
    pipeline = Pipeline(fixture_raw_dir, tmp_path / "warehouse", dg.DagsterInstance.ephemeral(), metadata_dir)
    assert pipeline.run()[1].success
    warehouse_file = pipeline.warehouse_dir / "indicators.duckdb"
    comment_before, definitions_before, version_before = live_comment_and_definitions(warehouse_file)

    descriptions = metadata_dir / "column_descriptions.csv"
    old = "when the warehouse was built (UTC ISO 8601)"
    assert old in comment_before
    descriptions.write_text(
        descriptions.read_text(encoding="utf-8").replace(old, "build time in UTC"), encoding="utf-8"
    )
    pipeline.reload()
    _, result = pipeline.run()

    assert result.success
    comment_after, definitions_after, version_after = live_comment_and_definitions(warehouse_file)
    assert "build time in UTC" in comment_after and old not in comment_after
    assert definitions_after != definitions_before
    assert version_after == version_before and len(pipeline.releases()) == 1
