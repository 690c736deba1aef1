"""Layer 3: the whole job materialised into tmp_path on the made-up fixture tables."""

import json

import duckdb
import pandas as pd
import pytest

from pipeline.core.hashing import sha256_of
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages
from tests.support.tables import write_table

pytestmark = pytest.mark.integration


def test_fixture_tables_build_the_warehouse_and_a_release(fixture_raw_dir, tmp_path):
    warehouse_dir = tmp_path / "warehouse"
    result = run_pipeline(fixture_raw_dir, warehouse_dir)
    assert result.success, step_failure_messages(result) or failed_checks(result)

    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        derived = connection.execute(
            "select year, value from indicators where indicator_code = ? and method = ? and region_code = ? order by year",
            ["urban_rural_income_ratio", "derived", "440000"],
        ).fetchall()
        published = connection.execute(
            "select year, value from indicators where indicator_code = ? and method = ? order by year",
            ["urban_rural_income_ratio", "published"],
        ).fetchall()
        missing = connection.execute(
            "select source_row, source_column, status from observations where value is null"
        ).fetchall()
        tables = {row[0] for row in connection.execute("select table_name from information_schema.tables").fetchall()}
    # Made-up figures: 30000/10000 and 33000/12000; 2022 rural is printed as — (missing).
    assert derived == [(2020, pytest.approx(3.0)), (2021, pytest.approx(2.75))]
    assert published == [(2020, 3.0), (2021, 2.75)]
    assert missing == [(3, "2022", ":")]
    assert {"regions", "sources", "indicator_catalog", "observations", "indicators"} <= tables

    latest = warehouse_dir / "releases" / "latest"
    package = json.loads((latest / "datapackage.json").read_text(encoding="utf-8"))
    by_name = {resource["name"]: resource for resource in package["resources"]}
    assert set(by_name) >= {"regions", "sources", "indicator_catalog", "observations", "indicators"}
    checksums = {row["file"]: row for row in pd.read_csv(latest / "checksums.csv").to_dict("records")}
    for resource in by_name.values():
        path = latest / resource["path"]
        if resource["path"] != "checksums.csv":
            assert path.stat().st_size == checksums[resource["path"]]["bytes"]
            assert checksums[resource["path"]]["sha256"] == sha256_of(path)
        if resource.get("type") == "table":  # non-table files (CHANGES.md) carry no schema
            assert resource["schema"]["fields"]
    # Two derived and two published income ratios, three derived consumption ratios (2020–2022),
    # two absolute income gaps (2020, 2021) and one rural-minus-urban income growth (2021).
    assert by_name["indicators"]["rows"] == 2 + 2 + 3 + 2 + 1
    assert_table_metadata_of_observations(result, by_name["observations"])
    assert by_name["observations"]["licenses"][0]["name"] == package["licenses"][0]["name"] == "CC-BY-4.0"


def assert_table_metadata_of_observations(result, resource: dict) -> None:
    """The materialisation of `observations` carries Dagster's table metadata: rows, column schema, table, preview."""
    [materialisation] = [
        event.step_materialization_data.materialization
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.to_user_string() == "observations"
    ]
    metadata = materialisation.metadata
    assert metadata["dagster/row_count"].value == resource["rows"]
    columns = metadata["dagster/column_schema"].value.columns
    assert [column.name for column in columns] == [field["name"] for field in resource["schema"]["fields"]]
    descriptions = {column.name: column.description for column in columns}
    assert descriptions["value"] and descriptions["value"] == next(
        field["description"] for field in resource["schema"]["fields"] if field["name"] == "value"
    )
    assert metadata["dagster/table_name"].value == "indicators.main.observations"
    header = metadata["preview"].value.splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [column.name for column in columns]


def test_a_second_run_with_unchanged_inputs_cuts_no_release(fixture_raw_dir, tmp_path):
    warehouse_dir = tmp_path / "warehouse"
    assert run_pipeline(fixture_raw_dir, warehouse_dir).success
    assert run_pipeline(fixture_raw_dir, warehouse_dir).success
    releases = [
        entry
        for entry in (warehouse_dir / "releases").iterdir()
        if not entry.name.startswith(".") and entry.name != "latest"
    ]
    assert len(releases) == 1


def test_a_mismatching_published_ratio_fails_the_run_and_publishes_nothing(fixture_raw_dir, tmp_path):
    write_table(
        fixture_raw_dir,
        "fixture_wrong_ratio",
        "地区,年份,指标,数值\n广东省,2021,城乡居民收入比,2.80\n",
        unit="比值",
        labels={"城乡居民收入比": "urban_rural_income_ratio"},
    )
    warehouse_dir = tmp_path / "warehouse"
    result = run_pipeline(fixture_raw_dir, warehouse_dir)
    assert not result.success
    description = failed_checks(result)["urban_rural_income_ratio_reconciles"]
    assert "440000 2021" in description and "2.8" in description and "fixture_wrong_ratio" in description
    assert "fixture_income_wide" in description
    assert not (warehouse_dir / "indicators.duckdb").exists()
    assert not (warehouse_dir / "releases" / "latest").exists()


def test_an_implausible_value_fails_validation_naming_file_row_and_column(fixture_raw_dir, tmp_path):
    write_table(
        fixture_raw_dir, "fixture_negative_income", "地区,年份,指标,数值\n广州市,2021,农村居民人均可支配收入,-300\n"
    )
    result = run_pipeline(fixture_raw_dir, tmp_path / "warehouse")
    assert not result.success
    description = failed_checks(result)["observations_schema"]
    assert "fixture_negative_income.csv, row 2, column '数值'" in description
    assert "value_in_plausible_range" in description
