"""The real-data bundle in raw/: provenance of every table, its figures and flags, and the region dimension."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import (
    load_indicator_catalog,
    load_region_aliases,
    load_regions,
    load_units,
    region_name_lookup,
)
from pipeline.defs.ingest import freshness_result, raw_table_key
from pipeline.indicators.reconcile import reconcile_ratio
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import load_sidecar, sidecar_paths
from pipeline.ingest.sources import source_records
from pipeline.validate.grades import graded_observations
from pipeline.validate.schemas import RegionSchema, observation_schema
from tests.support.paths import REPO_ROOT

RAW_DIR = REPO_ROOT / "raw"
SIDECARS = sidecar_paths(RAW_DIR)
GUANGZHOU = "440100"
GUANGDONG = "440000"


@pytest.fixture(scope="module")
def real_observations() -> pd.DataFrame:
    """Every real raw table read through the generic reader."""
    lookup = region_name_lookup()
    units = load_units()
    frames = [read_source_table(load_sidecar(path, RAW_DIR), RAW_DIR, lookup, units) for path in SIDECARS]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def real_sources() -> pd.DataFrame:
    """The provenance records of every real raw table."""
    return source_records(SIDECARS, RAW_DIR)


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    """The region dimension as the pipeline loads it."""
    return load_regions()


def figure(observations: pd.DataFrame, source_id: str, region_code: str, year: int, indicator_code: str) -> pd.Series:
    """The one observation of a source for a region, year and indicator."""
    rows = observations[
        (observations["source_id"] == source_id)
        & (observations["region_code"] == region_code)
        & (observations["year"] == year)
        & (observations["indicator_code"] == indicator_code)
    ]
    assert len(rows) == 1, f"expected one {indicator_code} {region_code} {year} in {source_id}, found {len(rows)}"
    return rows.iloc[0]


@pytest.mark.parametrize("path", SIDECARS, ids=[path.name for path in SIDECARS])
def test_every_sidecar_is_valid_and_cites_a_url_or_says_why_not(path):
    sidecar = load_sidecar(path, RAW_DIR)  # raises on a missing field or a sha256 mismatch
    url = sidecar.fields["url"]
    assert (url and str(url).startswith(("http://", "https://"))) or sidecar.fields.get("url_note")
    assert sha256_of(sidecar.data_path) == sidecar.fields["sha256"]
    assert sidecar.fields["licence"].strip()


def test_the_2022_guangzhou_yearbook_is_flagged_as_superseded_by_its_next_edition():
    source_id = "gz_yearbook_2022_t8_08"
    result = freshness_result(RAW_DIR / f"{source_id}.meta.yaml", dt.date.today(), raw_table_key(source_id))
    assert not result.passed and "next edition was due by 2023-12-31" in result.description
    dated = [path for path in SIDECARS if "next_edition_due" in load_sidecar(path, RAW_DIR).fields]
    assert len(dated) >= 15  # yearbooks, the NBS and Guangdong survey releases, the bulletin


@pytest.mark.parametrize("path", SIDECARS, ids=[path.name for path in SIDECARS])
def test_sidecars_cite_the_original_publication_not_an_unshipped_folder(path):
    text = path.read_text(encoding="utf-8")
    for unshipped in ("shared/reference", "reference collection", "facts.csv", "SOURCES.md"):
        assert unshipped not in text, f"{path.name} refers to {unshipped!r}, which is not shipped with the project"


def test_the_bundle_holds_at_least_1000_real_figures_from_at_least_8_tables(real_observations):
    present = real_observations[real_observations["value"].notna()]
    assert len(present) >= 1000
    assert present["source_id"].nunique() >= 8


def test_real_observations_pass_the_observation_schema(real_observations, real_sources, regions):
    schema = observation_schema(list(regions["region_code"]), load_indicator_catalog())
    graded = graded_observations(real_observations, real_sources)  # as the observations asset grades them
    schema.validate(graded.sort_values(["indicator_code", "region_code", "year"]), lazy=True)


@pytest.mark.parametrize(
    ("source_id", "region_code", "year", "indicator_code", "flag"),
    [
        ("gz_yearbook_2022_t8_08", GUANGZHOU, 2014, "rural_disposable_income_per_capita", "b"),
        ("gz_yearbook_2022_t8_08", GUANGZHOU, 2014, "rural_disposable_income_real_index", "b"),
        ("gz_yearbook_2022_t8_08", GUANGZHOU, 2002, "rural_net_income_per_capita", "b"),
        ("gz_district_gdp_2023_qa_site", "440103", 2023, "gdp", "u"),
        ("gz_district_gdp_2023_qa_site", "440117", 2023, "gdp", "u"),
        ("gd_bulletin_2023_copy", GUANGDONG, 2023, "gdp", "p"),
        ("gz_census_2020_bulletin_6", GUANGZHOU, 2020, "census_urban_population", "p"),
        ("gz_income_2022_blog", GUANGZHOU, 2022, "urban_disposable_income_per_capita", "u"),
        ("gz_yearbook_2016_t1_19", GUANGZHOU, 2015, "household_consumption_level_all", "b"),
        ("gd_village_urban_rural_class_2016", "440306", 2016, "village_level_units", "b"),
        ("gd_yearbook_2024_t10_21", "440300", 2020, "rural_consumption_expenditure_per_capita", ":"),
    ],
)
def test_figures_flagged_in_the_reference_notes_carry_their_status(
    real_observations, source_id, region_code, year, indicator_code, flag
):
    assert flag in figure(real_observations, source_id, region_code, year, indicator_code)["status"]


@pytest.mark.parametrize(
    ("source_id", "region_code", "year", "indicator_code"),
    [
        ("gz_yearbook_2022_t8_08", GUANGZHOU, 2015, "rural_disposable_income_per_capita"),
        ("gz_yearbook_2022_t8_08", GUANGZHOU, 2013, "rural_net_income_per_capita"),
        ("gz_yearbook_2016_t1_19", GUANGZHOU, 2014, "household_consumption_level_all"),
        ("gz_district_gdp_2023_self_media", "440106", 2023, "gdp"),
    ],
)
def test_figures_away_from_a_break_carry_no_flag(real_observations, source_id, region_code, year, indicator_code):
    assert figure(real_observations, source_id, region_code, year, indicator_code)["status"] == ""


def test_shenzhen_blank_rural_consumption_stays_missing_not_zero(real_observations):
    shenzhen = real_observations[
        (real_observations["source_id"] == "gd_yearbook_2024_t10_21") & (real_observations["region_code"] == "440300")
    ]
    assert len(shenzhen) == 6
    assert shenzhen["value"].isna().all()


def test_net_income_and_disposable_income_are_separate_indicators(real_observations):
    table = real_observations[real_observations["source_id"] == "gz_yearbook_2022_t8_08"]
    disposable = table[table["indicator_code"] == "rural_disposable_income_per_capita"]
    net = table[
        table["indicator_code"].isin(["rural_net_income_per_capita", "rural_net_income_per_capita_old_caliber"])
    ]
    assert disposable["year"].min() == 2014
    assert net["year"].max() == 2013
    # 2002 is printed on both calibers, as two indicators.
    both = table[table["year"] == 2002].set_index("indicator_code")["value"]
    assert both["rural_net_income_per_capita_old_caliber"] == pytest.approx(6856.62)
    assert both["rural_net_income_per_capita"] == pytest.approx(5831.34)


def test_published_consumption_level_ratio_reconciles_with_its_parts(real_observations, real_sources):
    compared = reconcile_ratio(
        real_observations,
        real_sources,
        "household_consumption_level_urban_rural_ratio",
        "household_consumption_level_urban",
        "household_consumption_level_rural",
    )
    assert sorted(compared["year"]) == [2014, 2015, 2019, 2020]
    assert compared["reconciles"].all(), compared


def test_census_urban_and_rural_add_up_to_the_total_and_counties_to_their_city(real_observations):
    census = real_observations[real_observations["source_id"] == "gd_census_2020_county"]
    wide = census.pivot(index="region_code", columns="indicator_code", values="value")
    assert len(wide) == 144
    assert (wide["census_urban_population"] + wide["census_rural_population"] == wide["census_population"]).all()
    counties = wide[~wide.index.str.endswith("00")]
    by_city = counties.groupby(counties.index.str[:4] + "00")["census_population"].sum()
    assert (by_city == wide.loc[by_city.index, "census_population"]).all()


def test_guangzhou_census_matches_the_bulletin(real_observations):
    for indicator_code in ("census_urban_population", "census_rural_population"):
        yearbook = figure(real_observations, "gd_census_2020_county", GUANGZHOU, 2020, indicator_code)["value"]
        bulletin = figure(real_observations, "gz_census_2020_bulletin_6", GUANGZHOU, 2020, indicator_code)["value"]
        assert yearbook == bulletin


def test_village_class_counts_add_up_and_match_the_reference_notes(real_observations):
    villages = real_observations[real_observations["source_id"] == "gd_village_urban_rural_class_2016"]
    wide = villages.pivot(index="region_code", columns="indicator_code", values="value")
    classes = [column for column in wide.columns if column.startswith("village_level_units_class_")]
    assert len(classes) == 7
    assert (wide[classes].sum(axis=1) == wide["village_level_units"]).all()
    # Counted independently in SOURCES.md A1 of the reference collection.
    guangzhou = wide.loc[GUANGZHOU]
    assert guangzhou["village_level_units"] == 2692
    assert guangzhou["village_level_units_class_111"] == 1361
    assert guangzhou["village_level_units_class_220"] == 748
    assert wide.loc["440117", "village_level_units_class_220"] == 206
    assert GUANGDONG not in wide.index  # Dongguan and Zhongshan are missing from the source, so no province total


def test_regions_pass_the_region_schema(regions):
    RegionSchema.validate(regions, lazy=True)


def test_regions_hold_the_21_cities_and_all_122_county_level_units(regions):
    cities = regions[regions["level"] == "prefecture_city"]
    assert len(cities) == 21
    assert set(cities["parent_code"]) == {GUANGDONG}
    county_level = regions[regions["level"].isin(["district", "county", "county_city"])]
    assert len(county_level) == 122
    assert county_level["level"].value_counts().to_dict() == {"district": 65, "county": 37, "county_city": 20}
    assert set(county_level["parent_code"]) <= set(cities["region_code"])
    assert (county_level["region_code"].str[:4] == county_level["parent_code"].str[:4]).all()


def test_guangzhou_has_11_districts_in_their_programme_groups(regions):
    districts = regions[(regions["parent_code"] == GUANGZHOU) & (regions["level"] == "district")]
    assert len(districts) == 11
    groups = districts.groupby("district_group")["name_zh"].apply(set).to_dict()
    assert groups == {
        "old_city_new_vitality": {"越秀区", "海珠区", "荔湾区", "天河区"},
        "industry_city_integration": {"黄埔区", "番禺区", "南沙区"},
        "urban_rural_integration": {"白云区", "花都区", "从化区", "增城区"},
    }
    assert set(regions.loc[regions["typical_county"], "name_zh"]) == {"从化区", "增城区"}
    assert set(regions.loc[regions["paired_city"], "name_zh"]) == {"梅州市", "湛江市", "清远市", "肇庆市"}
    assert regions["district_group"].notna().sum() == 11


def test_guangzhou_towns_have_nine_digit_codes_under_their_district(regions):
    towns = regions[regions["level"] == "town"]
    assert len(towns) == 178
    assert towns["region_code"].str.fullmatch(r"\d{9}").all()
    assert (towns["region_code"].str[:6] == towns["parent_code"]).all()
    district_codes = set(regions.loc[(regions["parent_code"] == GUANGZHOU), "region_code"])
    assert set(towns["parent_code"]) == district_codes


def test_every_printed_name_maps_to_exactly_one_region(regions):
    assert not regions["name_zh"].duplicated().any()
    aliases = load_region_aliases()
    official = dict(zip(regions["name_zh"], regions["region_code"], strict=True))
    clashing = [
        alias
        for alias, code in zip(aliases["alias"], aliases["region_code"], strict=True)
        if official.get(alias, code) != code
    ]
    assert clashing == []
    assert set(aliases["region_code"]) <= set(regions["region_code"])
    assert "萝岗区" in set(aliases["alias"])


def test_coverage_of_the_real_bundle_names_its_gaps(real_observations, regions):
    from pipeline.publish.documents.coverage import coverage_table

    table = coverage_table(real_observations, regions).set_index(["indicator_code", "level", "year"])
    cities_2018 = table.loc[("rural_consumption_expenditure_per_capita", "prefecture_city", 2018)]
    assert (cities_2018["regions_with_value"], cities_2018["regions_at_level"]) == (20, 21)
    assert cities_2018["missing_regions"] == "深圳市 (440300)"
    counties_2020 = table.loc[("census_population", "county", 2020)]
    assert counties_2020["missing_count"] == 0
    districts_2016 = table.loc[("village_level_units", "district", 2016)]
    # Shenzhen's districts created after the 2016 code vintage have no 2016 rows.
    assert districts_2016["missing_regions"] == "龙华区 (440309); 坪山区 (440310); 光明区 (440311)"
