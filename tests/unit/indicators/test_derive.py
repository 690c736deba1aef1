"""Layer 2: every derivation kind against hand-computed values on tiny MADE-UP frames, with its edge cases."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.frames import categorical_texts, decoded_texts
from pipeline.indicators.aggregates import aggregate_groups, pair_ratios, region_groups
from pipeline.indicators.derive import derive_indicators, indicator_table
from pipeline.indicators.preferred import indicator_values
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, observation_frame, region_frame

A, B, C = "440103", "440104", "440105"
REGIONS = region_frame(
    [
        (PROVINCE, "province", "CN"),
        (CITY, "prefecture_city", PROVINCE),
        ("441400", "prefecture_city", PROVINCE),
        (A, "district", CITY, "old_city_new_vitality"),
        (B, "district", CITY, "old_city_new_vitality"),
        (C, "district", CITY, "urban_rural_integration", True),
    ]
)


def derived(entries: list[dict], rows: list[tuple], tmp_path) -> pd.DataFrame:
    """Run the catalogue-driven derivations of made-up entries on made-up observations."""
    inputs = sorted(
        {code for entry in entries for code in entry.get("inputs", [])} - {e["indicator_code"] for e in entries}
    )
    catalog = catalog_from([{"indicator_code": code} for code in inputs] + entries, tmp_path)
    result = derive_indicators(observation_frame(rows), catalog[catalog["kind"] == "derived"], REGIONS)
    return result.set_index(["indicator_code", "region_code", "year"])


def entry(code: str, derivation: str, inputs: list[str], **fields) -> dict:
    """A made-up derived catalogue entry."""
    return {
        "indicator_code": code,
        "kind": "derived",
        "derivation": derivation,
        "inputs": inputs,
        "formula": "made up",
        **fields,
    }


def test_ratio_with_multiplier_skips_zero_and_missing_denominators(tmp_path):
    rows = [
        ("part", A, 2020, 250.0),
        ("whole", A, 2020, 1000.0),
        ("part", B, 2020, 10.0),
        ("whole", B, 2020, 0.0),  # zero denominator → no value
        ("part", C, 2020, 5.0),  # no denominator at all → no value
    ]
    result = derived([entry("part_share", "ratio", ["part", "whole"], multiplier=100, unit="percent")], rows, tmp_path)
    assert list(result.index) == [("part_share", A, 2020)]
    assert result.loc[("part_share", A, 2020), "value"] == pytest.approx(25.0)
    assert result.loc[("part_share", A, 2020), "unit"] == "percent"
    assert result.loc[("part_share", A, 2020), "method"] == "derived"


def test_difference_carries_the_union_of_status_flags(tmp_path):
    rows = [("urban", A, 2021, 30000.0, "p"), ("rural", A, 2021, 10000.0, "e"), ("urban", B, 2021, 1.0)]
    result = derived([entry("gap", "difference", ["urban", "rural"])], rows, tmp_path)
    assert list(result.index) == [("gap", A, 2021)]
    assert result.loc[("gap", A, 2021), "value"] == pytest.approx(20000.0)
    assert result.loc[("gap", A, 2021), "status"] == "ep"


def test_growth_is_not_computed_across_a_break_a_gap_or_from_zero(tmp_path):
    rows = [
        ("output", A, 2018, 0.0),
        ("output", A, 2019, 100.0),  # from a zero base → none
        ("output", A, 2020, 110.0),  # 10 %
        ("output", A, 2021, 121.0, "b"),  # first value after a break → none
        ("output", A, 2022, 133.1),  # 10 % within the new series
        ("output", A, 2024, 140.0),  # 2023 missing → none
    ]
    result = derived([entry("output_growth", "growth", ["output"], unit="percent")], rows, tmp_path)
    assert sorted(year for _, _, year in result.index) == [2020, 2022]
    assert result.loc[("output_growth", A, 2020), "value"] == pytest.approx(10.0)
    assert result.loc[("output_growth", A, 2022), "value"] == pytest.approx(10.0)
    assert result.loc[("output_growth", A, 2022), "status"] == ""


def test_growth_difference_in_percentage_points(tmp_path):
    rows = [
        ("rural", A, 2020, 10000.0),
        ("rural", A, 2021, 11000.0),  # +10 %
        ("urban", A, 2020, 30000.0),
        ("urban", A, 2021, 31500.0),  # +5 %
        ("rural", A, 2022, 12100.0),  # +10 %
        ("urban", A, 2022, 33075.0, "b"),  # break in urban → no difference for 2022
    ]
    result = derived([entry("rural_minus_urban", "growth_difference", ["rural", "urban"])], rows, tmp_path)
    assert list(result.index) == [("rural_minus_urban", A, 2021)]
    assert result.loc[("rural_minus_urban", A, 2021), "value"] == pytest.approx(5.0)


def test_index_change_turns_an_index_into_percent_growth(tmp_path):
    rows = [("index", CITY, 2015, 108.5), ("index", CITY, 2016, 97.0)]
    result = derived([entry("real_growth", "index_change", ["index"])], rows, tmp_path)
    assert result.loc[("real_growth", CITY, 2015), "value"] == pytest.approx(8.5)
    assert result.loc[("real_growth", CITY, 2016), "value"] == pytest.approx(-3.0)


def test_share_of_parent_uses_the_parents_own_figure_only(tmp_path):
    rows = [
        ("output", CITY, 2020, 1000.0, "p"),  # published city total
        ("output", A, 2020, 200.0),
        ("output", B, 2020, 300.0),
        ("output", A, 2021, 100.0),  # no city total in 2021: no shares, even though A + B + C is complete
        ("output", B, 2021, 100.0),
        ("output", C, 2021, 200.0),
        ("output", CITY, 2022, 0.0),  # a zero total → no shares
        ("output", A, 2022, 100.0),
    ]
    result = derived([entry("output_share", "share_of_parent", ["output"])], rows, tmp_path)
    assert result["value"].to_dict() == {("output_share", A, 2020): 20.0, ("output_share", B, 2020): 30.0}
    assert result.loc[("output_share", A, 2020), "status"] == "p"


def test_derived_entries_can_use_earlier_derived_entries(tmp_path):
    rows = [
        ("gdp", A, 2020, 1000.0),
        ("population", A, 2020, 10.0),
        ("gdp", A, 2021, 1320.0),
        ("population", A, 2021, 12.0),
    ]
    entries = [
        entry("gdp_per_person", "ratio", ["gdp", "population"]),
        entry("gdp_per_person_growth", "growth", ["gdp_per_person"]),
    ]
    result = derived(entries, rows, tmp_path)
    assert result.loc[("gdp_per_person", A, 2021), "value"] == pytest.approx(110.0)
    assert result.loc[("gdp_per_person_growth", A, 2021), "value"] == pytest.approx(10.0)


def test_indicator_values_prefer_derived_over_published():
    observations = observation_frame([("ratio", A, 2020, 2.5), ("ratio", A, 2019, 2.6)])
    sources = pd.DataFrame({"source_id": ["made_up"], "authority": ["official"], "accessed": ["2026-11-28"]})
    indicators = pd.DataFrame(
        {
            "indicator_code": ["ratio", "ratio"],
            "region_code": [A, A],
            "year": [2020, 2020],
            "value": [2.4, 2.5],
            "unit": ["ratio", "ratio"],
            "method": ["derived", "published"],
            "status": ["", ""],
            "source_ids": ["made_up", "made_up"],
        }
    )
    values = indicator_values(observations, sources, indicators).set_index(["region_code", "year"])["value"]
    assert values.to_dict() == {(A, 2019): 2.6, (A, 2020): 2.4}


def test_region_groups_are_scoped_by_parent():
    groups = region_groups(REGIONS)
    members = groups.groupby("group_code")["region_code"].apply(sorted).to_dict()
    assert members == {
        f"{CITY}:old_city_new_vitality": [A, B],
        f"{CITY}:typical_county": [C],
        f"{CITY}:urban_rural_integration": [C],
    }


def test_group_aggregates_sum_weighted_mean_and_no_aggregate_with_a_missing_member(tmp_path):
    catalog = catalog_from(
        [
            {"indicator_code": "population", "aggregation": "sum"},
            {"indicator_code": "census_population", "aggregation": "sum"},
            {"indicator_code": "gdp", "aggregation": "sum"},
            {"indicator_code": "rate", "aggregation": "weighted_mean", "weights": ["population", "census_population"]},
            {"indicator_code": "growth"},  # no aggregation rule → never aggregated
        ],
        tmp_path,
    )
    values = observation_frame(
        [
            ("gdp", A, 2020, 100.0),
            ("gdp", B, 2020, 200.0),
            ("gdp", A, 2021, 100.0),  # B missing in 2021 → no aggregate
            ("rate", A, 2020, 50.0),
            ("rate", B, 2020, 80.0),
            ("population", A, 2020, 100.0),
            ("population", B, 2020, 300.0),
            ("rate", A, 2010, 40.0),
            ("rate", B, 2010, 60.0),
            ("population", A, 2010, 100.0),  # B lacks the first weight → census_population is used
            ("census_population", A, 2010, 300.0),
            ("census_population", B, 2010, 100.0),
            ("rate", A, 2000, 40.0),
            ("rate", B, 2000, 60.0),  # no weights at all → no aggregate
            ("growth", A, 2020, 1.0),
            ("growth", B, 2020, 2.0),
        ]
    ).assign(source_ids="made_up")
    result = aggregate_groups(values, region_groups(REGIONS), catalog)
    old_city = result[result["group_code"] == f"{CITY}:old_city_new_vitality"].set_index(["indicator_code", "year"])
    # population 2010 (B missing), gdp 2021 (B missing), rate 2000 (no weights) and growth (no rule) are absent.
    assert set(old_city.index) == {
        ("gdp", 2020),
        ("population", 2020),
        ("census_population", 2010),
        ("rate", 2020),
        ("rate", 2010),
    }
    assert old_city.loc[("population", 2020), "value"] == pytest.approx(400.0)
    assert old_city.loc[("gdp", 2020), "value"] == pytest.approx(300.0)
    assert old_city.loc[("gdp", 2020), "rule"] == "sum"
    assert old_city.loc[("rate", 2020), "value"] == pytest.approx(72.5)  # (50·100 + 80·300) / 400
    assert old_city.loc[("rate", 2020), "weight_indicator_code"] == "population"
    assert old_city.loc[("rate", 2010), "value"] == pytest.approx(45.0)  # (40·300 + 60·100) / 400
    assert old_city.loc[("rate", 2010), "weight_indicator_code"] == "census_population"
    assert old_city.loc[("gdp", 2020), "member_codes"] == f"{A};{B}"
    assert result[result["group_code"] != f"{CITY}:old_city_new_vitality"].empty  # C has no values


def test_paired_ratios_need_positive_values_on_both_sides():
    values = observation_frame(
        [
            ("income", CITY, 2020, 200.0),
            ("income", "441400", 2020, 50.0),
            ("income", "440800", 2020, 0.0),  # zero → no ratio
            ("income", "441800", 2021, 40.0),  # Guangzhou lacks 2021 → no ratio
            ("other", CITY, 2020, 1.0),  # not flagged for paired ratios
            ("other", "441400", 2020, 1.0),
        ]
    ).assign(source_ids="made_up")
    result = pair_ratios(values, CITY, ["441400", "440800", "441800"], ["income"])
    assert len(result) == 1
    row = result.iloc[0]
    assert (row["indicator_code"], row["region_code"], row["year"]) == ("income", "441400", 2020)
    assert row["value"] == pytest.approx(4.0)
    assert (row["reference_value"], row["region_value"]) == (200.0, 50.0)


def test_the_indicators_table_with_texts_as_categories_decodes_to_the_text_table(tmp_path):
    """Made-up observations with categorical texts (as stored): the same table, its texts kept as codes."""
    rows = [("part", A, 2020, 250.0), ("whole", A, 2020, 1000.0), ("part", B, 2021, 10.0), ("whole", B, 2021, 40.0)]
    observations = categorical_texts(observation_frame(rows), ["source_id", "region_code", "indicator_code", "unit"])
    sources = pd.DataFrame(
        {"source_id": ["made_up"], "authority": ["official"], "accessed": ["2026-12-01"], "url_kind": ["official"]}
    )
    entries = [entry("part_share", "ratio", ["part", "whole"], multiplier=100, unit="percent")]
    catalog = catalog_from([{"indicator_code": "part"}, {"indicator_code": "whole"}, *entries], tmp_path)
    texts = indicator_table(observations, sources, catalog, REGIONS)
    coded = indicator_table(observations, sources, catalog, REGIONS, texts_as_categories=True)
    assert any(isinstance(dtype, pd.CategoricalDtype) for dtype in coded.dtypes)
    assert texts["value"].tolist() == [25.0, 25.0] and set(texts["method"]) == {"derived"}
    pd.testing.assert_frame_equal(decoded_texts(coded), texts)
