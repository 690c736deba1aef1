"""Dispersion measures against hand-computed values on MADE-UP levels, and the ≥5-unit rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.indicators.dispersion import (
    coefficient_of_variation,
    dispersion_codes,
    dispersion_measures,
    dispersion_table,
    gini_coefficient,
    max_min_ratio,
    theil_index,
    weighted_coefficient_of_variation,
)
from pipeline.indicators.units import unit_sets
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, districts, region_frame, value_frame

LEVELS = np.array([1.0, 2.0, 3.0, 4.0, 10.0])  # mean 4, squared deviations 9 + 4 + 1 + 0 + 36 = 50


def test_coefficient_of_variation_uses_the_population_standard_deviation():
    assert coefficient_of_variation(LEVELS) == pytest.approx(math.sqrt(50 / 5) / 4)  # 0.790569…


def test_weighted_coefficient_of_variation_by_hand():
    weights = np.array([1.0, 1.0, 1.0, 1.0, 4.0])  # shares 1/8 ×4 and 1/2; weighted mean 10/8 + 5 = 6.25
    variance = (5.25**2 + 4.25**2 + 3.25**2 + 2.25**2) / 8 + 3.75**2 / 2  # = 14.6875
    assert weighted_coefficient_of_variation(LEVELS, weights) == pytest.approx(math.sqrt(variance) / 6.25)
    assert weighted_coefficient_of_variation(LEVELS, np.ones(5)) == pytest.approx(coefficient_of_variation(LEVELS))


def test_theil_index_by_hand():
    expected = (0.25 * math.log(0.25) + 0.5 * math.log(0.5) + 0.75 * math.log(0.75) + 0 + 2.5 * math.log(2.5)) / 5
    assert theil_index(LEVELS) == pytest.approx(expected)  # 0.276363…
    assert theil_index(np.full(5, 7.0)) == pytest.approx(0.0)


def test_gini_coefficient_by_hand():
    # Unordered absolute differences sum to 40, so the ordered double sum is 80; 80 / (2 · 25 · 4) = 0.4.
    assert gini_coefficient(LEVELS) == pytest.approx(0.4)
    assert gini_coefficient(np.full(5, 3.0)) == pytest.approx(0.0)


def test_max_min_ratio():
    assert max_min_ratio(LEVELS) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("levels", "weights", "expected_measures"),
    [
        (LEVELS, None, {"cv", "theil", "gini", "max_min_ratio"}),
        (LEVELS, np.ones(5), {"cv", "weighted_cv", "theil", "gini", "max_min_ratio"}),
        (np.array([0.0, 2.0, 3.0, 4.0, 10.0]), None, {"cv", "gini"}),  # a zero: no theil, no max/min
        (np.array([-1.0, 2.0, 3.0, 4.0, 10.0]), None, {"cv"}),  # a negative value: no gini either
        (np.array([-5.0, 1.0, 1.0, 1.0, 1.0]), None, set()),  # mean ≤ 0: nothing is meaningful
    ],
)
def test_measures_are_only_computed_when_their_preconditions_hold(levels, weights, expected_measures):
    assert set(dispersion_measures(levels, weights)) == expected_measures


def dispersion_catalog(tmp_path):
    """A made-up catalogue: one rate flagged for dispersion (weighted by population), one not."""
    return catalog_from(
        [
            {"indicator_code": "population", "aggregation": "sum"},
            {"indicator_code": "rate", "dispersion": True, "weights": ["population"]},
            {"indicator_code": "level"},
        ],
        tmp_path,
    )


def test_the_codes_read_are_the_flagged_indicators_and_their_weights(tmp_path):
    catalog = catalog_from(
        [
            {"indicator_code": "population", "aggregation": "sum"},
            {"indicator_code": "households", "aggregation": "sum"},
            {"indicator_code": "rate", "dispersion": True, "weights": ["population", "households"]},
            {"indicator_code": "share", "dispersion": True, "bounded": True},
            {"indicator_code": "other_share", "dispersion": True, "bounded": True, "complement_of": "share"},
            {"indicator_code": "level"},
        ],
        tmp_path,
    )
    # MADE UP catalogue: the complement and the unflagged level are not read.
    assert dispersion_codes(catalog) == ["households", "population", "rate", "share"]


def test_dispersion_table_needs_five_units_and_weights_for_every_unit(tmp_path):
    units = districts(6)
    regions = region_frame(
        [(PROVINCE, "province", "CN"), (CITY, "prefecture_city", PROVINCE)]
        + [(code, "district", CITY) for code in units]
    )
    rows = [("rate", code, 2020, value) for code, value in zip(units, [1.0, 2.0, 3.0, 4.0, 10.0], strict=False)]
    rows += [("population", code, 2020, weight) for code, weight in zip(units, [1.0, 1.0, 1.0, 1.0, 4.0], strict=False)]
    rows += [
        ("rate", code, 2021, value) for code, value in zip(units[:4], [1.0, 2.0, 3.0, 4.0], strict=True)
    ]  # 4 units
    rows += [("rate", code, 2022, 5.0) for code in units]  # 6 units, no weights
    rows += [("level", code, 2020, 1.0 + index) for index, code in enumerate(units)]  # not flagged
    table = dispersion_table(value_frame(rows), unit_sets(regions), dispersion_catalog(tmp_path))
    assert set(table["indicator_code"]) == {"rate"}
    assert set(table["year"]) == {2020, 2022}
    in_2020 = table[table["year"] == 2020].set_index("measure")
    assert set(in_2020.index) == {
        "cv",
        "weighted_cv",
        "theil",
        "gini",
        "max_min_ratio",
        "weighted_gini",
        "weighted_theil",
    }
    # By hand: shares 1/8 ×4 and 1/2, weighted mean 6.25. Gini: pairs among the first four Σ|xᵢ − xⱼ| = 20 over
    # ordered pairs at 1/64 each, pairs with 10: 2 × (9 + 8 + 7 + 6) at 1/16 each → 4.0625 / (2 × 6.25) = 0.325.
    assert in_2020.loc["weighted_gini", "value"] == pytest.approx(0.325)
    hand_theil = sum(
        share * value / 6.25 * math.log(value / 6.25)
        for share, value in zip([1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 2], [1, 2, 3, 4, 10], strict=True)
    )
    assert in_2020.loc["weighted_theil", "value"] == pytest.approx(hand_theil)
    assert in_2020.loc["weighted_theil", "value"] == pytest.approx(0.214033, abs=1e-6)
    assert in_2020.loc["weighted_gini", "weight_indicator_code"] == "population"
    assert in_2020.loc["cv", "value"] == pytest.approx(math.sqrt(10) / 4)
    assert in_2020.loc["gini", "value"] == pytest.approx(0.4)
    assert in_2020.loc["weighted_cv", "weight_indicator_code"] == "population"
    assert in_2020.loc["cv", "weight_indicator_code"] == ""
    assert set(in_2020["n_units"]) == {5}
    assert set(in_2020["parent_region_code"]) == {CITY}
    assert set(in_2020["unit_level"]) == {"county_level"}
    in_2022 = table[table["year"] == 2022].set_index("measure")
    assert "weighted_cv" not in in_2022.index
    assert in_2022.loc["cv", "value"] == pytest.approx(0.0)
    assert set(in_2022["n_units"]) == {6}


def test_unit_sets_compare_children_and_a_provinces_counties():
    regions = region_frame(
        [
            (PROVINCE, "province", "CN"),
            (CITY, "prefecture_city", PROVINCE),
            ("440103", "district", CITY),
            ("441400", "prefecture_city", PROVINCE),
            ("441402", "district", "441400"),
            ("441422", "county", "441400"),
            ("441481", "county_city", "441400"),
        ]
    )
    sets = unit_sets(regions).groupby(["parent_region_code", "unit_level"])["region_code"].apply(sorted).to_dict()
    # The province itself is not a unit of China here (only sub-provincial levels are compared).
    assert sets == {
        (PROVINCE, "prefecture_city"): [CITY, "441400"],
        (PROVINCE, "county"): ["441422", "441481"],
        (CITY, "county_level"): ["440103"],
        ("441400", "county_level"): ["441402", "441422", "441481"],
    }
