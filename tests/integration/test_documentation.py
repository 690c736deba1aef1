"""Documentation: warehouse views and comments, the data dictionary, the dataset card and the analyst notebook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import frictionless
import pandas as pd
import pytest

from pipeline.publish.documents.comments import (
    DESCRIPTION_COLUMNS,
    column_descriptions,
    missing_descriptions,
    view_names,
)
from pipeline.publish.documents.dictionary import data_dictionary
from pipeline.publish.registry import RELEASE_MODELS, RELEASE_PRIMARY_KEYS
from pipeline.publish.release.verify import verify_release
from pipeline.publish.release.write import RELEASE_DATE_PLACEHOLDER, RELEASE_VERSION_PLACEHOLDER
from pipeline.publish.warehouse import PUBLICATION_COLUMNS, PUBLICATION_TABLE, audit_comments, audit_views
from tests.support.notebooks import executed_notebook_images
from tests.support.paths import FIXTURE_RAW, REPO_ROOT
from tests.support.pipeline_runs import run_pipeline, step_failure_messages
from tests.support.tables import DISTRICT_SIDECAR, MADE_UP_DISTRICT_TABLE, write_table

NOTEBOOK = REPO_ROOT / "notebooks" / "analyst_quickstart.ipynb"


@pytest.fixture(scope="module")
def built(district_fixture_warehouse) -> Path:
    """A warehouse folder built by the real job from the fixture tables plus a made-up district table."""
    return district_fixture_warehouse


# --- the descriptions file and the dictionary, without a warehouse ---


def test_every_release_table_and_column_is_described_in_chinese_and_english():
    descriptions = column_descriptions(RELEASE_MODELS)
    columns = {name: list(model.to_schema().columns) for name, model in RELEASE_MODELS.items()}
    assert missing_descriptions(descriptions, columns) == []


def test_a_missing_or_empty_description_is_named():
    descriptions = column_descriptions(RELEASE_MODELS)
    without_value = descriptions[~((descriptions["table"] == "indicators") & (descriptions["column"] == "value"))]
    empty_zh = without_value.copy()
    empty_zh.loc[(empty_zh["table"] == "regions") & (empty_zh["column"] == "name_zh"), "description_zh"] = " "
    stray = pd.concat(
        [empty_zh, pd.DataFrame([["regions", "no_such_column", "多余", "stray", ""]], columns=DESCRIPTION_COLUMNS)]
    )
    columns = {name: list(model.to_schema().columns) for name, model in RELEASE_MODELS.items()}
    problems = missing_descriptions(stray, columns)
    assert problems == [
        "regions.name_zh: empty description_zh",
        "indicators.value: not in column_descriptions.csv",
        "regions.no_such_column: described in column_descriptions.csv but no such column",
    ]


def test_the_dictionary_has_one_complete_row_per_column_of_every_release_table():
    dictionary = data_dictionary(RELEASE_MODELS, RELEASE_PRIMARY_KEYS)
    expected = [(name, column) for name, model in RELEASE_MODELS.items() for column in model.to_schema().columns]
    assert list(zip(dictionary["table"], dictionary["column"], strict=True)) == expected
    for field in ("type", "description_zh", "description_en"):
        assert (dictionary[field].str.strip() != "").all(), dictionary[dictionary[field].str.strip() == ""]
    assert set(dictionary["type"]) <= {"string", "integer", "number", "boolean"}
    keys = dictionary[dictionary["primary_key"]].groupby("table", sort=False)["column"].apply(sorted).to_dict()
    assert keys == {name: sorted(key) for name, key in RELEASE_PRIMARY_KEYS.items() if key}


# --- the audits of views and comments ---


def test_the_audits_name_an_unreadable_view_and_every_missing_comment(tmp_path):
    path = tmp_path / "made_up.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE things (code VARCHAR, amount DOUBLE)")
        connection.execute("CREATE VIEW thing_amounts AS SELECT code, amount FROM things")
        connection.execute("COMMENT ON TABLE things IS '东西 / things'")
        connection.execute("COMMENT ON COLUMN things.code IS '代码 / code'")
        connection.execute("ALTER TABLE things RENAME COLUMN amount TO quantity")
    with duckdb.connect(str(path), read_only=True) as connection:
        views = audit_views(connection)
        comments = audit_comments(connection)
    assert len(views) == 1 and views[0].startswith("thing_amounts: view cannot be read")
    assert comments == [
        "thing_amounts: no comment",
        "thing_amounts.amount: no comment",
        "thing_amounts.code: no comment",
        "things.quantity: no comment",
    ]


# --- end to end: the warehouse and the release built from fixtures ---


@pytest.mark.integration
def test_every_table_view_and_column_of_the_warehouse_has_a_bilingual_comment(built):
    with duckdb.connect(str(built / "indicators.duckdb"), read_only=True) as connection:
        assert audit_comments(connection) == []
        assert audit_views(connection) == []
        views = [
            row[0] for row in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        ]
        comment = connection.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
            ["income_ratio_trend", "income_ratio"],
        ).fetchone()[0]
        view_columns = {name: [row[0] for row in connection.execute(f'DESCRIBE "{name}"').fetchall()] for name in views}
    assert sorted(views) == sorted(view_names())
    assert (
        comment.startswith("城乡居民人均可支配收入比") and " / urban ÷ rural" in comment and comment.endswith("[ratio]")
    )
    descriptions = column_descriptions(RELEASE_MODELS)
    assert missing_descriptions(descriptions, view_columns) == []
    assert missing_descriptions(descriptions, {PUBLICATION_TABLE: PUBLICATION_COLUMNS}) == []


@pytest.mark.integration
def test_the_views_answer_the_common_questions(built):
    with duckdb.connect(str(built / "indicators.duckdb"), read_only=True) as connection:
        ratio = connection.execute(
            "SELECT region_code, year, income_ratio, method, published_value, derived_value FROM income_ratio_trend "
            "ORDER BY region_code, year"
        ).fetchall()
        profile = connection.execute(
            "SELECT name_zh, district_group, year, urbanisation_rate FROM district_profile "
            "WHERE region_code = ? ORDER BY year",
            ["440111"],
        ).fetchall()
        districts = connection.execute("SELECT count(DISTINCT region_code) FROM district_profile").fetchone()[0]
        cv = connection.execute(
            "SELECT year, cv, n_units FROM dispersion_trend WHERE indicator_code = ? AND parent_region_code = ? "
            "AND unit_level = ? ORDER BY year",
            ["urbanisation_rate", "440100", "county_level"],
        ).fetchall()
    # Made-up fixture figures: published ratios 3.0 (2020) and 2.75 (2021), equal to 30000/10000 and 33000/12000;
    # the view shows preferred_values' choice (derived where the inputs exist) beside the published figure.
    assert ratio == [
        ("440000", 2020, pytest.approx(3.0), "derived", 3.0, pytest.approx(3.0)),
        ("440000", 2021, pytest.approx(2.75), "derived", 2.75, pytest.approx(2.75)),
    ]
    assert profile == [
        ("白云区", "urban_rural_integration", 2018, 80.0),
        ("白云区", "urban_rural_integration", 2019, 84.0),
    ]
    assert districts == 6
    rates_2018 = pd.Series([90.0, 100.0, 95.0, 98.0, 80.0, 85.0])
    rates_2019 = pd.Series([92.0, 100.0, 96.0, 98.5, 84.0, 88.0])
    assert cv == [
        (2018, pytest.approx(rates_2018.std(ddof=0) / rates_2018.mean()), 6),
        (2019, pytest.approx(rates_2019.std(ddof=0) / rates_2019.mean()), 6),
    ]


@pytest.mark.integration
def test_the_release_holds_a_card_and_a_dictionary_that_match_its_tables(built):
    release = (built / "releases" / "latest").resolve()
    assert verify_release(release) == []
    report = frictionless.validate(str(release / "datapackage.json"))  # plain, no flag (issue 19)
    assert report.valid, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "note"])
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    resources = {resource["path"]: resource for resource in package["resources"]}
    assert {"README.md", "dictionary.csv", "dictionary.md"} <= set(resources)

    card = (release / "README.md").read_text(encoding="utf-8")
    assert RELEASE_VERSION_PLACEHOLDER not in card
    version, date = package["version"], package["version"].rsplit(".", 1)[0].replace(".", "-")
    assert f"*, release {version}, {date}." in card and f"| version | `{version}` |" in card
    assert RELEASE_DATE_PLACEHOLDER not in card
    for heading in ("## Coverage", "## Sources and licences", "## How to cite", "## Caveats", "## Changes"):
        assert heading in card
    # The licence table, from the sources table: the two fixture sidecars and the made-up district table.
    assert "| Made up for tests; no licence needed. | 2 | Test suite |" in card
    assert "| Made up for tests | 1 | Test suite |" in card

    dictionary = pd.read_csv(release / "dictionary.csv", dtype=str, keep_default_na=False)
    for path, resource in resources.items():
        if resource.get("format") != "parquet":
            continue
        table = path.removesuffix(".parquet")
        rows = dictionary[dictionary["table"] == table]
        frame = pd.read_parquet(release / path)
        declared = {field["name"]: field["type"] for field in resource["schema"]["fields"]}
        assert list(rows["column"]) == list(declared), table
        for column, kind in zip(rows["column"], rows["type"], strict=True):
            # An all-null column is written as Arrow's null type, which datapackage.json declares as `any`.
            all_null = frame[column].isna().all() and declared[column] == "any"
            assert declared[column] == ("any" if all_null else kind), (table, column)
    assert len(dictionary) == sum(len(model.to_schema().columns) for model in RELEASE_MODELS.values())
    markdown = (release / "dictionary.md").read_text(encoding="utf-8")
    assert all(f"## `{table}`" in markdown for table in RELEASE_MODELS)


@pytest.mark.integration
def test_an_unchanged_rebuild_cuts_no_new_release_although_the_card_names_the_version(built, tmp_path):
    raw_dir = tmp_path / "raw"
    shutil.copytree(FIXTURE_RAW, raw_dir)
    write_table(raw_dir, "fixture_district_urbanisation", MADE_UP_DISTRICT_TABLE, **DISTRICT_SIDECAR)
    warehouse = tmp_path / "warehouse"
    shutil.copytree(built, warehouse, symlinks=True)
    before = sorted(path.name for path in (warehouse / "releases").iterdir())
    result = run_pipeline(raw_dir, warehouse)
    assert result.success, step_failure_messages(result)
    assert sorted(path.name for path in (warehouse / "releases").iterdir()) == before


# --- the notebook ---


def notebook_cells(kind: str) -> list[dict]:
    """The notebook's cells of one kind."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == kind]


@pytest.mark.integration
def test_the_notebook_runs_against_a_warehouse_built_from_fixtures(built, tmp_path, monkeypatch):
    images = executed_notebook_images(built / "indicators.duckdb", tmp_path, monkeypatch)
    assert len(images) == 3, "the income ratio, district economy and dispersion charts are drawn"


@pytest.mark.integration
def test_the_notebook_queries_run_without_a_kernel(built, tmp_path, monkeypatch):
    """Until nbclient is in the lock: every code cell but the chart, executed in order in one namespace."""
    monkeypatch.setenv("INDICATORS_WAREHOUSE", str(built / "indicators.duckdb"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    cells = [cell for cell in notebook_cells("code") if "chart" not in cell["metadata"].get("tags", [])]
    assert len(cells) >= 8
    for cell in cells:
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}:{cell['id']}", "exec"), namespace)  # noqa: S102
    assert list(namespace["ratio_table"].columns) == ["Guangdong"]
    assert namespace["latest_year"] == 2019
    assert list(namespace["dispersion"]["n_units"]) == [6, 6]
