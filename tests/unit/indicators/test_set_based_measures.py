"""The set-based dispersion, convergence and merge code equals straightforward formulas on MADE-UP groups.

Every figure here is invented by a seeded generator or by hand: groups with ties, zeros, negative values, missing
weights and break flags, compared group by group with the textbook formulas written out below.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pipeline.indicators.convergence import Panel, convergence_table, panel_beta, panel_windows
from pipeline.indicators.derive import merge_source_ids, merge_status, merged_column
from pipeline.indicators.dispersion import dispersion_table, gini_coefficient
from pipeline.indicators.units import unit_sets
from tests.support.made_up_values import CITY, PROVINCE, catalog_from, region_frame, value_frame

COUNTY = "440111"
TOWNS = ["440111001", "440111002"]
# Two made-up towns of six villages each, under one made-up county of a made-up city.
VILLAGES = [f"{town}{number:03d}" for town in TOWNS for number in range(1, 7)]
REGIONS = region_frame(
    [(PROVINCE, "province", "CN"), (CITY, "prefecture_city", PROVINCE), (COUNTY, "district", CITY)]
    + [(town, "town", COUNTY) for town in TOWNS]
    + [(village, "village", village[:9]) for village in VILLAGES]
)


def reference_measures(levels: list[float], weights: list[float] | None) -> dict[str, float]:
    """cv, weighted cv, Gini (Σᵢ Σⱼ |xᵢ − xⱼ| / 2n²μ), Theil and max/min, each only where its precondition holds."""
    x = np.array(levels)
    n, mean = len(x), x.mean()
    measures = {}
    if mean > 0:
        measures["cv"] = np.sqrt(((x - mean) ** 2).sum() / n) / mean
        if weights is not None:
            w = np.array(weights) / np.sum(weights)
            weighted_mean = (w * x).sum()
            measures["weighted_cv"] = np.sqrt((w * (x - weighted_mean) ** 2).sum()) / weighted_mean
        if (x >= 0).all():
            measures["gini"] = sum(abs(a - b) for a, b in itertools.product(x, x)) / (2 * n**2 * mean)
    if (x > 0).all():
        measures["theil"] = max(sum((v / mean) * np.log(v / mean) for v in x) / n, 0.0)
        measures["max_min_ratio"] = x.max() / x.min()
    if weights is not None:
        w = np.array(weights) / np.sum(weights)
        weighted_mean = (w * x).sum()
        if mean > 0 and (x >= 0).all():
            weighted_pairs = list(zip(w, x, strict=True))
            pairs = sum(wa * wb * abs(a - b) for (wa, a), (wb, b) in itertools.product(weighted_pairs, repeat=2))
            measures["weighted_gini"] = pairs / (2 * weighted_mean)
        if (x > 0).all():
            # Σ_j (income share_j) ln(income share_j / population share_j): the per-capita form of the weighted Theil.
            income = w * x / weighted_mean
            measures["weighted_theil"] = max(float((income * np.log(income / w)).sum()), 0.0)
    return measures


def made_up_groups(seed: int) -> tuple[list[tuple], dict[tuple, tuple[list[float], list[float] | None]]]:
    """Rate and population rows for the villages over three years, and what each group (parent, year) holds."""
    rng = np.random.default_rng(seed)
    rows, groups = [], {}
    for year in (2020, 2021, 2022):
        rates = rng.choice([0.0, -2.0, 3.0, 3.0, 7.5, 12.25, 40.0], size=len(VILLAGES))  # ties, zeros, negatives
        if year == 2021:
            rates = np.abs(rates) + 1.0  # all positive: every measure applies
        populations = rng.integers(100, 900, size=len(VILLAGES)).astype(float)
        missing = set(rng.choice(len(VILLAGES), size=1 if year == 2022 else 0, replace=False).tolist())
        for index, village in enumerate(VILLAGES):
            rows.append(("rate", village, year, float(rates[index])))
            if index not in missing:
                rows.append(("population", village, year, float(populations[index])))
        for parent, members in [(TOWNS[0], range(6)), (TOWNS[1], range(6, 12)), (COUNTY, range(12))]:
            complete = not any(index in missing for index in members)
            groups[(parent, year)] = (
                [float(rates[index]) for index in members],
                [float(populations[index]) for index in members] if complete else None,
            )
    return rows, groups


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dispersion_table_equals_the_textbook_formulas(seed, tmp_path):
    catalog = catalog_from(
        [
            {"indicator_code": "population", "aggregation": "sum"},
            {"indicator_code": "rate", "dispersion": True, "weights": ["population"]},
        ],
        tmp_path,
    )
    rows, groups = made_up_groups(seed)
    table = dispersion_table(value_frame(rows), unit_sets(REGIONS), catalog)
    found = {
        (row.parent_region_code, row.year, row.measure): (row.value, row.n_units, row.weight_indicator_code)
        for row in table.itertuples(index=False)
    }
    expected = {}
    for (parent, year), (levels, weights) in groups.items():
        for measure, value in reference_measures(levels, weights).items():
            weighted = measure.startswith("weighted_")
            expected[(parent, year, measure)] = (value, len(levels), "population" if weighted else "")
    assert set(found) == set(expected)
    for key, (value, count, weight_code) in expected.items():
        assert found[key][0] == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert found[key][1:] == (count, weight_code)
    assert set(table.loc[table["parent_region_code"] == COUNTY, "unit_level"]) == {"village"}
    assert table.equals(table.sort_values(["parent_region_code", "year"], kind="stable").reset_index(drop=True))


def test_the_sorted_rank_gini_equals_the_double_sum():
    rng = np.random.default_rng(5)
    for levels in [rng.uniform(0, 10, size=7), np.array([0.0, 0.0, 4.0, 4.0, 9.0]), np.full(6, 2.5)]:
        double_sum = np.abs(levels[:, None] - levels[None, :]).sum() / (2 * len(levels) ** 2 * levels.mean())
        assert gini_coefficient(levels) == pytest.approx(double_sum, rel=1e-12, abs=1e-15)


def test_unit_sets_compare_a_countys_villages_through_its_towns():
    sets = unit_sets(REGIONS).groupby(["parent_region_code", "unit_level"])["region_code"].apply(sorted).to_dict()
    assert sets[(COUNTY, "village")] == VILLAGES
    assert sets[(COUNTY, "town")] == TOWNS
    assert sets[(TOWNS[0], "village")] == VILLAGES[:6]
    assert not unit_sets(REGIONS).duplicated().any()


@pytest.mark.parametrize("seed", [11, 12])
def test_convergence_table_equals_one_panel_at_a_time(seed, tmp_path):
    catalog = catalog_from([{"indicator_code": "rate", "dispersion": True}], tmp_path)
    rng = np.random.default_rng(seed)
    rows = []
    for village in VILLAGES:
        for year in range(2010, 2019):
            if rng.random() < 0.1:
                continue  # a gap
            level = float(rng.choice([0.0, rng.uniform(1, 100)], p=[0.05, 0.95]))  # an occasional zero
            rows.append(("rate", village, year, level, "b" if rng.random() < 0.04 else ""))
    values = value_frame(rows)
    units = unit_sets(REGIONS)
    table = convergence_table(values, units, catalog)
    expected = []
    placed = values.merge(units, on="region_code")
    for (parent, level), series in placed.groupby(["parent_region_code", "unit_level"]):
        panel = Panel.of(series)
        for start, end, kind in panel_windows(panel):
            fit = panel_beta(panel, start, end)
            if fit is not None:
                expected.append((parent, level, start, end, kind, fit))
    assert len(table) == len(expected) > 0
    for row, (parent, level, start, end, kind, fit) in zip(table.itertuples(index=False), expected, strict=True):
        assert (row.parent_region_code, row.unit_level, row.start_year, row.end_year, row.window_kind) == (
            parent,
            level,
            start,
            end,
            kind,
        )
        assert row.n_units == fit["n_units"]
        assert row.beta == pytest.approx(fit["beta"], rel=1e-9, abs=1e-12)
        assert row.intercept == pytest.approx(fit["intercept"], rel=1e-9, abs=1e-12)
        if fit["r_squared"] is None:
            assert np.isnan(row.r_squared)
        else:
            assert row.r_squared == pytest.approx(fit["r_squared"], rel=1e-9, abs=1e-12)


def test_merged_column_equals_the_row_by_row_merge():
    pairs = pd.DataFrame(
        {
            "status_a": ["", "p", "b", None, "p", "ep"],
            "status_b": ["e", "", "p", "b", "p", ""],
            "source_ids_a": ["s2;s1", "s1", "s3", "s1", "s2;s1", ""],
            "source_ids_b": ["s1", "s4", "", "s2", "s1;s2", "s9"],
        }
    )
    for column, merge in (("status", merge_status), ("source_ids", merge_source_ids)):
        merged = merged_column(pairs, column, ["_a", "_b"], merge)
        parts = [pairs[f"{column}{suffix}"].fillna("") for suffix in ("_a", "_b")]
        expected = [merge(first, second) for first, second in zip(*parts, strict=True)]
        assert list(merged) == expected
