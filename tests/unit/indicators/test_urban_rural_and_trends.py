"""Urban–rural Theil, σ-convergence trends and the Theil decomposition against hand computations and statsmodels.

Every figure here is MADE UP (invented for the test), not a statistic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipeline.core.metadata import load_economic_regions, load_indicator_catalog, load_regions
from pipeline.indicators.decomposition import decomposition_table, group_memberships, theil_decomposition
from pipeline.indicators.derive import derive_indicators
from pipeline.indicators.dispersion import theil_index, weighted_theil_index
from pipeline.indicators.status import merge_source_ids, merge_status
from pipeline.indicators.trends import same_units_run, same_units_runs, sigma_convergence_table, year_trend
from pipeline.indicators.urban_rural import basis_codes, merged_texts, urban_rural_theil, urban_rural_theil_table
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, observation_frame, region_frame, value_frame


def test_urban_rural_theil_by_hand():
    # Urban income 3, rural 1 per head; 60 % urban. Income: 1.8 and 0.4 → shares 9/11 and 2/11.
    expected = 9 / 11 * math.log((9 / 11) / 0.6) + 2 / 11 * math.log((2 / 11) / 0.4)
    assert urban_rural_theil(3.0, 1.0, 0.6) == pytest.approx(expected)
    assert urban_rural_theil(2.0, 2.0, 0.3) == pytest.approx(0.0)  # equal per-capita incomes
    # It is the population-weighted Theil of the two groups.
    assert urban_rural_theil(3.0, 1.0, 0.6) == pytest.approx(
        weighted_theil_index(np.array([3.0, 1.0]), np.array([0.6, 0.4]))
    )


def test_the_table_takes_year_end_populations_first_and_the_census_only_without_them():
    rows = [("urban_disposable_income_per_capita", PROVINCE, year, 3.0) for year in (2019, 2020, 2021, 2022)] + [
        ("rural_disposable_income_per_capita", PROVINCE, year, 1.0) for year in (2019, 2020, 2021, 2022)
    ]
    rows += [
        ("urban_resident_population", PROVINCE, 2020, 60.0),
        ("resident_population", PROVINCE, 2020, 100.0),
        ("census_urban_population", PROVINCE, 2020, 70.0),  # not used: year-end figures exist for 2020
        ("census_rural_population", PROVINCE, 2020, 30.0),
        ("urbanisation_rate", PROVINCE, 2021, 50.0),
        ("census_urban_population", PROVINCE, 2022, 80.0),
        ("census_rural_population", PROVINCE, 2022, 20.0),
    ]  # 2019 has no population at all: no row
    table = urban_rural_theil_table(value_frame(rows)).set_index("year")
    assert list(table.index) == [2020, 2021, 2022]
    assert table.loc[2020, "population_basis"] == "year_end_resident"
    assert table.loc[2020, "population_indicator_codes"] == "urban_resident_population;resident_population"
    assert table.loc[2020, "value"] == pytest.approx(urban_rural_theil(3.0, 1.0, 0.6))
    assert table.loc[2021, "urban_population_share"] == pytest.approx(0.5)
    assert table.loc[2022, "population_basis"] == "census"
    assert table.loc[2022, "urban_population_share"] == pytest.approx(0.8)
    assert table.loc[2020, "urban_income_share"] == pytest.approx(9 / 11)


def test_merged_texts_are_the_row_by_row_merges():
    """Made-up statuses and source ids (None where a basis has one input): each row merged as str of its texts."""
    texts = pd.DataFrame(
        {
            "basis": [0, 1, 0, 2, 1, 0],
            "status_urban": ["", "e", "", "b", "e", "p"],
            "status_rural": ["p", "", "p", "", "", "p"],
            "sources_urban": ["a", "b;a", "a", "c", "b;a", "a"],
            "sources_rural": ["b", "a", "b", "c", "a", "d"],
            "status_0": ["", "u", "", "b", "u", "e"],
            "status_1": ["", None, "", "", None, "b"],
            "sources_0": ["c", "d", "c", "e", "d", "c"],
            "sources_1": ["a", None, "a", "f", None, "c"],
        }
    )
    statuses, sources = merged_texts(texts)
    expected_statuses, expected_sources = [], []
    for basis, status_urban, status_rural, sources_urban, sources_rural, *inputs in texts.itertuples(index=False):
        count = len(basis_codes(basis))
        expected_statuses.append(merge_status(status_urban, status_rural, *[str(text) for text in inputs[:2][:count]]))
        expected_sources.append(
            merge_source_ids(sources_urban, sources_rural, *[str(text) for text in inputs[2:][:count]])
        )
    assert list(statuses) == expected_statuses == ["p", "eu", "p", "b", "eu", "bep"]
    assert list(sources) == expected_sources
    assert list(sources)[:2] == ["a;b;c", "a;b;d"]


def test_a_share_at_a_bound_gives_no_urban_rural_theil():
    rows = [
        ("urban_disposable_income_per_capita", CITY, 2020, 3.0),
        ("rural_disposable_income_per_capita", CITY, 2020, 1.0),
        ("urbanisation_rate", CITY, 2020, 100.0),
    ]
    assert urban_rural_theil_table(value_frame(rows)).empty


def test_year_trend_equals_statsmodels():
    years = np.array([2015, 2016, 2017, 2018, 2019, 2020])
    values = np.array([0.30, 0.29, 0.27, 0.28, 0.25, 0.24])
    result = year_trend(years, values)
    reference = sm.OLS(values, sm.add_constant(years.astype(float))).fit()
    assert result["slope"] == pytest.approx(reference.params[1])
    assert result["standard_error"] == pytest.approx(reference.bse[1])
    assert result["p_value"] == pytest.approx(reference.pvalues[1])
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(tuple(reference.conf_int(0.05)[1]))
    assert result["reading"] == ("falling" if reference.pvalues[1] < 0.05 else "no significant trend")
    flat = year_trend(years, np.array([0.3, 0.31, 0.29, 0.30, 0.31, 0.29]))
    assert flat["reading"] == "no significant trend"


def test_sigma_convergence_tests_cv_and_gini_of_unbounded_and_logit_sd_of_bounded_indicators(tmp_path):
    catalog = catalog_from(
        [
            {"indicator_code": "income", "dispersion": True},
            {"indicator_code": "share", "unit": "percent", "dispersion": True, "bounded": True},
            {"indicator_code": "urban_rural_income_theil", "dispersion": False},
        ],
        tmp_path,
    )
    years = [2015, 2016, 2017, 2018]
    dispersion = pd.DataFrame(
        [
            ("income", CITY, "county_level", year, measure, value, 6)
            for year, value in zip(years, [0.4, 0.35, 0.33, 0.30], strict=True)
            for measure in ("cv", "gini", "max_min_ratio")
        ]
        + [
            ("share", CITY, "county_level", year, measure, 0.1 * index + 0.5, 6)
            for index, year in enumerate(years)
            for measure in ("cv", "logit_sd")
        ]
        + [("income", PROVINCE, "prefecture_city", year, "cv", 0.2, 7) for year in years[:2]],  # 2 years: no test
        columns=["indicator_code", "parent_region_code", "unit_level", "year", "measure", "value", "n_units"],
    )
    theil = pd.DataFrame({"region_code": [PROVINCE] * 3, "year": [2020, 2021, 2022], "value": [0.06, 0.055, 0.05]})
    table = sigma_convergence_table(dispersion, theil, catalog)
    tested = set(zip(table["indicator_code"], table["parent_region_code"], table["measure"], strict=True))
    assert tested == {
        ("income", CITY, "cv"),
        ("income", CITY, "gini"),
        ("share", CITY, "logit_sd"),
        ("urban_rural_income_theil", PROVINCE, "urban_rural_theil"),
    }
    cv = table[(table["indicator_code"] == "income") & (table["measure"] == "cv")].iloc[0]
    reference = sm.OLS(np.array([0.4, 0.35, 0.33, 0.30]), sm.add_constant(np.array(years, dtype=float))).fit()
    assert cv["slope"] == pytest.approx(reference.params[1])
    assert cv["p_value"] == pytest.approx(reference.pvalues[1])
    assert (cv["n_years"], cv["start_year"], cv["end_year"]) == (4, 2015, 2018)


def test_theil_decomposition_adds_up_and_matches_the_direct_formulas():
    levels = np.array([10.0, 12.0, 20.0, 25.0, 40.0, 44.0])
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    parts = theil_decomposition(levels, groups)
    assert parts["total"] == pytest.approx(theil_index(levels))
    # Unweighted between part: the Theil of the group means, each group weighted by its share of units (1/3 each).
    means = np.array([11.0, 22.5, 42.0])
    assert parts["between"] == pytest.approx(weighted_theil_index(means, np.array([2.0, 2.0, 2.0])))
    within = sum(levels[groups == g].sum() / levels.sum() * theil_index(levels[groups == g]) for g in ("a", "b", "c"))
    assert parts["within"] == pytest.approx(within)
    weights = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 1.0])
    weighted = theil_decomposition(levels, groups, weights)
    assert weighted["total"] == pytest.approx(weighted_theil_index(levels, weights))
    assert weighted["between"] + weighted["within"] == pytest.approx(weighted["total"])


def test_decomposition_table_by_district_group_needs_every_group(tmp_path):
    units = [f"4401{index:02d}" for index in range(1, 7)]
    regions = region_frame(
        [(PROVINCE, "province", "CN"), (CITY, "prefecture_city", PROVINCE)]
        + [(code, "district", CITY, group) for code, group in zip(units, ["a", "a", "b", "b", "c", "c"], strict=True)]
    )
    catalog = catalog_from(
        [
            {"indicator_code": "population", "aggregation": "sum"},
            {"indicator_code": "income", "dispersion": True, "weights": ["population"]},
        ],
        tmp_path,
    )
    levels = [10.0, 12.0, 20.0, 25.0, 40.0, 44.0]
    rows = [("income", code, 2020, value) for code, value in zip(units, levels, strict=True)]
    rows += [("population", code, 2020, 1.0 + index) for index, code in enumerate(units)]
    rows += [
        ("income", code, 2021, value) for code, value in zip(units[:4], levels[:4], strict=True)
    ]  # group c missing
    memberships = group_memberships(regions, pd.DataFrame(columns=["region_code", "economic_region"]))
    table = decomposition_table(value_frame(rows), memberships, catalog).set_index("weighting")
    assert set(table["year"]) == {2020}
    assert table.loc["unweighted", "total"] == pytest.approx(theil_index(np.array(levels)))
    assert table.loc["population", "weight_indicator_code"] == "population"
    assert (table.loc["population", "n_units"], table.loc["population", "n_groups"]) == (6, 3)


def test_guangdong_regions_cover_the_21_cities_in_four_regions():
    economic = load_economic_regions()
    cities = load_regions().query("level == 'prefecture_city' and parent_code == '440000'")
    assert sorted(economic["region_code"]) == sorted(cities["region_code"])
    counts = economic["economic_region"].value_counts().to_dict()
    assert counts == {"pearl_river_delta": 9, "north": 5, "east": 4, "west": 3}
    assert set(economic.loc[economic["economic_region"] == "west", "name_zh"]) == {"湛江市", "茂名市", "阳江市"}
    assert (economic["source"].str.len() > 0).all()


def test_the_derivation_puts_the_same_theil_in_indicators(tmp_path):
    rows = [
        ("urban_disposable_income_per_capita", PROVINCE, 2020, 3.0),
        ("rural_disposable_income_per_capita", PROVINCE, 2020, 1.0),
        ("census_urban_population", PROVINCE, 2020, 60.0),
        ("census_rural_population", PROVINCE, 2020, 40.0),
    ]
    catalog = load_indicator_catalog()
    entries = catalog[catalog["indicator_code"] == "urban_rural_income_theil"]
    derived = derive_indicators(observation_frame(rows), entries, load_regions())
    assert list(derived["indicator_code"]) == ["urban_rural_income_theil"]
    assert derived["value"].iloc[0] == pytest.approx(urban_rural_theil(3.0, 1.0, 0.6))


def test_a_sigma_trend_runs_over_one_set_of_units_only(tmp_path):
    assert same_units_run(np.array([9, 9, 8, 8, 8, 7, 7, 7])) == (5, 8)  # equally long runs: the latest
    assert same_units_run(np.array([5, 5, 5, 5])) == (0, 4)
    catalog = catalog_from([{"indicator_code": "income", "dispersion": True}], tmp_path)
    # MADE UP: the CV falls only because units leave (7 → 5); over the run of 5 units it is flat.
    dispersion = pd.DataFrame(
        [
            ("income", CITY, "county_level", year, "cv", value, units)
            for year, value, units in [
                (2010, 0.50, 7),
                (2011, 0.45, 7),
                (2012, 0.30, 5),
                (2013, 0.30, 5),
                (2014, 0.31, 5),
                (2015, 0.29, 5),
            ]
        ],
        columns=["indicator_code", "parent_region_code", "unit_level", "year", "measure", "value", "n_units"],
    )
    row = sigma_convergence_table(dispersion, pd.DataFrame(columns=["region_code", "year", "value"]), catalog).iloc[0]
    assert (row["start_year"], row["end_year"], row["n_units"], row["n_years"]) == (2012, 2015, 5, 4)
    assert (row["series_start_year"], row["series_end_year"]) == (2010, 2015)
    assert row["reading"] == "no significant trend"


def test_the_runs_of_many_series_at_once_are_each_series_own_run():
    # MADE UP unit counts of 300 series of 1–12 years, with many equally long runs.
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 13, size=300)
    units = rng.integers(5, 8, size=int(lengths.sum()))
    series = np.repeat(np.arange(len(lengths)), lengths)
    begin, end = same_units_runs(series, units)
    starts = np.cumsum(lengths) - lengths
    expected = [same_units_run(units[start : start + length]) for start, length in zip(starts, lengths, strict=True)]
    assert list(zip((begin - starts).tolist(), (end - starts).tolist(), strict=True)) == expected


def test_sigma_series_come_out_in_key_order_each_fitted_alone(tmp_path):
    catalog = catalog_from([{"indicator_code": "income", "dispersion": True}], tmp_path)
    # MADE UP: three series, their rows shuffled; the table sorts them by code, parent, level, measure and year.
    rows = [
        ("income", parent, "county_level", year, measure, value + 0.01 * (year - 2010) ** 2, 6)
        for parent, measure, value in [(PROVINCE, "gini", 0.4), (CITY, "cv", 0.5), (CITY, "theil", 0.1)]
        for year in range(2010, 2016)
    ]
    rows = [rows[position] for position in np.random.default_rng(4).permutation(len(rows))]
    columns = ["indicator_code", "parent_region_code", "unit_level", "year", "measure", "value", "n_units"]
    table = sigma_convergence_table(
        pd.DataFrame(rows, columns=columns), pd.DataFrame(columns=["region_code", "year", "value"]), catalog
    )
    keys = sorted({(parent, measure) for _, parent, _, _, measure, _, _ in rows})
    assert list(zip(table["parent_region_code"], table["measure"], strict=True)) == keys
    for (parent, measure), row in zip(keys, table.itertuples(index=False), strict=True):
        years = np.arange(2010, 2016)
        values = np.array(sorted(value for _, p, _, _, m, value, _ in rows if (p, m) == (parent, measure)))
        trend = year_trend(years, values)
        assert (row.slope, row.standard_error, row.p_value, row.reading) == (
            trend["slope"],
            trend["standard_error"],
            trend["p_value"],
            trend["reading"],
        )
        assert (row.start_year, row.end_year, row.n_years, row.n_units) == (2010, 2015, 6, 6)


def test_no_series_gives_an_empty_sigma_table(tmp_path):
    catalog = catalog_from([{"indicator_code": "income", "dispersion": True}], tmp_path)
    columns = ["indicator_code", "parent_region_code", "unit_level", "year", "measure", "value", "n_units"]
    empty = sigma_convergence_table(
        pd.DataFrame(columns=columns), pd.DataFrame(columns=["region_code", "year", "value"]), catalog
    )
    assert empty.empty
    assert "p_value" in empty.columns
