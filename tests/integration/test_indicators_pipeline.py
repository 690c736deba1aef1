"""Layer 3: the convergence tables end to end on MADE-UP district tables, into the warehouse and the release."""

from __future__ import annotations

import json
import shutil
import statistics

import duckdb
import pytest

from pipeline.core.metadata import load_indicator_catalog
from tests.support.paths import FIXTURE_RAW
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages
from tests.support.tables import LONG_LAYOUT_WITH_UNIT, write_table

# MADE-UP urbanisation rates (%) of seven Guangzhou districts; 花都区 has a series break flagged in 2013.
URBANISATION = {
    "荔湾区": (80.0, 84.0),
    "越秀区": (90.0, 92.0),
    "海珠区": (85.0, 88.0),
    "天河区": (95.0, 96.0),
    "白云区": (60.0, 70.0),
    "黄埔区": (70.0, 78.0),
    "花都区": (50.0, 65.0),
}
# MADE-UP 2023 GDP (亿元) and year-end resident population (万人) of the four old-city districts.
GDP_AND_POPULATION = {"荔湾区": (100, 100), "越秀区": (300, 100), "海珠区": (200, 200), "天河区": (400, 100)}
TABLES = ["group_aggregates", "paired_city_ratios", "dispersion", "convergence", "target_progress"]


@pytest.fixture(scope="module")
def pipeline_outputs(tmp_path_factory):
    """Run the whole job once on the fixture tables plus three made-up district and city tables."""
    root = tmp_path_factory.mktemp("convergence")
    raw_dir = root / "raw"
    shutil.copytree(FIXTURE_RAW, raw_dir)
    urbanisation_lines = ["地区,年份,指标,数值,单位"]
    for district, (first, last) in URBANISATION.items():
        urbanisation_lines += [
            f"{district},2010,常住人口城镇化率,{first},%",
            f"{district},2015,常住人口城镇化率,{last},%",
        ]
    urbanisation_lines.append("花都区,2013,常住人口城镇化率,55.0,%")
    write_table(
        raw_dir,
        "fixture_district_urbanisation",
        "\n".join(urbanisation_lines) + "\n",
        unit="%",
        layout=LONG_LAYOUT_WITH_UNIT,
        labels={"常住人口城镇化率": "urbanisation_rate"},
        status=[{"indicators": ["urbanisation_rate"], "regions": ["440114"], "years": [2013], "status": "b"}],
    )
    gdp_lines = ["地区,年份,指标,数值,单位"]
    for district, (gdp, population) in GDP_AND_POPULATION.items():
        gdp_lines += [f"{district},2023,地区生产总值,{gdp},亿元", f"{district},2023,年末常住人口,{population},万人"]
    write_table(
        raw_dir,
        "fixture_district_gdp",
        "\n".join(gdp_lines) + "\n",
        unit="亿元",
        multiplier=100000000,
        layout=LONG_LAYOUT_WITH_UNIT,
        labels={"地区生产总值": "gdp", "年末常住人口": "resident_population"},
        label_units={"年末常住人口": "万人"},  # its rows print 万人, not the sidecar's 亿元
    )
    write_table(
        raw_dir,
        "fixture_paired_consumption",
        "地区,年份,指标,数值,单位\n广州市,2020,农村居民人均消费支出,30000,元\n梅州市,2020,农村居民人均消费支出,15000,元\n",
        layout=LONG_LAYOUT_WITH_UNIT,
        labels={"农村居民人均消费支出": "rural_consumption_expenditure_per_capita"},
    )
    warehouse_dir = root / "warehouse"
    result = run_pipeline(raw_dir, warehouse_dir)
    assert result.success, step_failure_messages(result) + str(failed_checks(result))
    connection = duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True)
    tables = {name: connection.table(name).df() for name in [*TABLES, "indicators"]}
    connection.close()
    package = json.loads((warehouse_dir / "releases" / "latest" / "datapackage.json").read_text(encoding="utf-8"))
    return tables, package


@pytest.mark.integration
def test_the_convergence_tables_are_in_the_warehouse_and_the_release(pipeline_outputs):
    tables, package = pipeline_outputs
    assert set(TABLES) <= {resource["name"] for resource in package["resources"]}
    catalogued = set(load_indicator_catalog()["indicator_code"])
    for name, table in tables.items():
        assert set(table["indicator_code"]) <= catalogued, name


@pytest.mark.integration
def test_district_urbanisation_dispersion_and_beta(pipeline_outputs):
    tables, _ = pipeline_outputs
    dispersion = tables["dispersion"].set_index(["indicator_code", "parent_region_code", "year", "measure"])
    levels_2010 = [first for first, _ in URBANISATION.values()]
    cv = dispersion.loc[("urbanisation_rate", "440100", 2010, "cv")]
    assert cv["value"] == pytest.approx(statistics.pstdev(levels_2010) / statistics.mean(levels_2010))
    assert cv["n_units"] == 7
    assert ("urbanisation_rate", "440100", 2013, "cv") not in dispersion.index  # a single district in 2013
    convergence = tables["convergence"]
    row = convergence[(convergence["indicator_code"] == "urbanisation_rate") & (convergence["start_year"] == 2010)]
    assert len(row) == 1
    assert row.iloc[0]["end_year"] == 2015
    # 花都区 drops out (its series breaks in 2013), and so does 黄埔区: its 2015 figure is its first on the boundary
    # of the 2014 merger (b on 2015, a break since 2010).
    assert row.iloc[0]["n_units"] == 5
    assert row.iloc[0]["scale"] == "logit"  # a bounded share
    assert 0 <= row.iloc[0]["p_value"] <= 1
    assert row.iloc[0]["window_kind"] == "longest;rolling_5_year"
    assert row.iloc[0]["beta"] < 0  # the less urbanised districts urbanised faster in the made-up figures


@pytest.mark.integration
def test_gdp_per_capita_group_aggregates_and_paired_ratio(pipeline_outputs):
    tables, _ = pipeline_outputs
    indicators = tables["indicators"].set_index(["indicator_code", "region_code", "year"])
    assert indicators.loc[("gdp_per_capita_yearend_population", "440103", 2023), "value"] == pytest.approx(10000.0)
    assert indicators.loc[("gdp_per_capita_yearend_population", "440106", 2023), "value"] == pytest.approx(40000.0)
    groups = tables["group_aggregates"].set_index(["indicator_code", "group_code", "year"])
    old_city = "440100:old_city_new_vitality"
    assert groups.loc[("gdp", old_city, 2023), "value"] == pytest.approx(1.0e11)
    assert groups.loc[("gdp_per_capita_yearend_population", old_city, 2023), "value"] == pytest.approx(20000.0)
    assert not (groups.index.get_level_values("group_code") == "440100:urban_rural_integration").any()
    paired = tables["paired_city_ratios"]
    assert paired[["indicator_code", "region_code", "year", "value"]].values.tolist() == [
        ["rural_consumption_expenditure_per_capita", "441400", 2020, 2.0]
    ]
    assert set(tables["target_progress"]["status"]) <= {"met", "not_yet_met", "missed", "no_data"}
