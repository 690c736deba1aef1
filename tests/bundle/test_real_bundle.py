"""The real bundle in raw/: it builds, and the derived Guangdong 2021 ratio reconciles with the published 2.46."""

import duckdb
import pytest

from tests.support.notebooks import executed_notebook_images
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_warehouse(tmp_path_factory):
    """The warehouse built from the real raw/ into a temporary folder, and the run's result."""
    warehouse_dir = tmp_path_factory.mktemp("real") / "warehouse"
    result = run_pipeline(REPO_ROOT / "raw", warehouse_dir)
    assert result.success, step_failure_messages(result) or failed_checks(result)
    return warehouse_dir / "indicators.duckdb", result


def test_guangdong_2021_derived_ratio_reconciles_with_the_published_2_46(real_warehouse):
    path, result = real_warehouse
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "urban_rural_income_ratio_reconciles"
    )
    assert evaluation.passed
    comparisons = evaluation.metadata["comparisons"].value
    guangdong_2021 = next(c for c in comparisons if c["region_code"] == "440000" and c["year"] == 2021)
    assert guangdong_2021["published"] == 2.46
    assert guangdong_2021["reconciles"]
    assert guangdong_2021["derived_low"] < 2.465 and guangdong_2021["derived_high"] >= 2.455
    with duckdb.connect(str(path), read_only=True) as connection:
        derived = connection.execute(
            "select value from indicators where indicator_code = ? and method = ? and region_code = ? and year = ?",
            ["urban_rural_income_ratio", "derived", "440000", 2021],
        ).fetchone()[0]
    assert round(derived, 2) == 2.46


def test_every_region_year_with_both_components_has_a_derived_ratio(real_warehouse):
    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        expected = connection.execute(
            """
            select distinct urban.region_code, urban.year
            from observations urban join observations rural
              on urban.region_code = rural.region_code and urban.year = rural.year
            where urban.indicator_code = ? and rural.indicator_code = ?
              and urban.value is not null and rural.value is not null
            order by 1, 2
            """,
            ["urban_disposable_income_per_capita", "rural_disposable_income_per_capita"],
        ).fetchall()
        derived = connection.execute(
            "select region_code, year from indicators where indicator_code = ? and method = ? order by 1, 2",
            ["urban_rural_income_ratio", "derived"],
        ).fetchall()
    assert derived == expected
    regions = {region for region, _ in derived}
    assert {"440000", "CN"} <= regions
    assert len(derived) >= 12


def test_the_notebook_runs_on_the_real_warehouse_and_draws_its_three_charts(real_warehouse, tmp_path, monkeypatch):
    path, _ = real_warehouse
    images = executed_notebook_images(path, tmp_path, monkeypatch)
    assert len(images) == 3, "income ratio (Guangzhou, Guangdong, China), district GDP and industry, dispersion"
