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


def test_every_observation_is_graded_by_the_rule(real_warehouse):
    """Independent re-statement of the grade rule (README "Grades by rule") checked against every real observation."""
    from pipeline.ingest.sidecar import load_sidecar, sidecar_paths

    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select o.source_id, o.value, o.status, o.reliability, o.corroborated_by, s.url_kind, s.authority "
            "from observations o join sources s using (source_id)"
        ).fetchall()
    declares_u = {
        sidecar.source_id
        for sidecar in (load_sidecar(p, REPO_ROOT / "raw") for p in sidecar_paths(REPO_ROOT / "raw"))
        if any("u" in str(rule.get("status", "")) for rule in (sidecar.fields.get("status") or []))
    }
    assert rows
    for source_id, value, status, reliability, corroborated_by, url_kind, authority in rows:
        unofficial = url_kind in ("news", "self_media") or authority in ("news_report", "low_confidence")
        if unofficial and value is not None:
            expected = "corroborated" if corroborated_by else "unofficial"
            assert reliability == expected, (source_id, reliability)
            assert ("u" in status) == (expected == "unofficial"), (source_id, status)
        elif not unofficial:
            assert reliability in ("official", "official_copy", "compilation"), (source_id, reliability)
            assert "u" not in status or source_id in declares_u, (source_id, status)


def test_views_agree_with_preferred_values(real_warehouse):
    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        disagreeing_ratio = connection.execute(
            "select count(*) from income_ratio_trend t join preferred_values p using (region_code, year) "
            "where p.indicator_code = 'urban_rural_income_ratio' and t.income_ratio is distinct from p.value"
        ).fetchone()[0]
        ratio_rows = connection.execute("select count(*) from income_ratio_trend").fetchone()[0]
        preferred_ratio_rows = connection.execute(
            "select count(*) from preferred_values where indicator_code = 'urban_rural_income_ratio'"
        ).fetchone()[0]
        disagreeing_gdp = connection.execute(
            "select count(*) from district_profile d join preferred_values p using (region_code, year) "
            "where p.indicator_code = 'gdp' and d.gdp is distinct from p.value"
        ).fetchone()[0]
    assert ratio_rows == preferred_ratio_rows > 0
    assert disagreeing_ratio == 0 and disagreeing_gdp == 0
