"""Issue 20's misleading messages, on MADE-UP observations: urban and rural swapped are named on the raw rows, and a
figure outside its plausible range is explained by its unit."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.metadata import load_indicator_catalog, load_units
from pipeline.validate.pairs import describe_pair_violation, ratio_pair_violations
from pipeline.validate.range_units import unit_note, with_unit_notes

CATALOG = load_indicator_catalog()
UNITS = load_units()
URBAN, RURAL = "urban_disposable_income_per_capita", "rural_disposable_income_per_capita"


def made_up_observations(rows: list[tuple[str, int, str, int, str, float, float]]) -> pd.DataFrame:
    """MADE-UP observations of one table: (region, year, indicator, source row, source column, value, radius)."""
    frame = pd.DataFrame(
        rows,
        columns=["region_code", "year", "indicator_code", "source_row", "source_column", "value", "rounding_radius"],
    )
    labels = {URBAN: "城镇居民人均可支配收入", RURAL: "农村居民人均可支配收入"}
    return frame.assign(
        source_id="made_up",
        source_file="made_up.csv",
        printed_label=frame["indicator_code"].map(labels).fillna("其他"),
    )


def test_urban_and_rural_swapped_are_named_on_both_raw_rows_with_the_figures_and_the_rule():
    observations = made_up_observations(
        [
            ("440100", 2022, URBAN, 2, "2022", 30000.0, 0.5),  # right way round
            ("440100", 2022, RURAL, 3, "2022", 12000.0, 0.5),
            ("440100", 2023, URBAN, 2, "2023", 12500.0, 0.5),  # swapped
            ("440100", 2023, RURAL, 3, "2023", 31000.0, 0.5),
        ]
    )
    [record] = ratio_pair_violations(observations, CATALOG)
    assert (record["file"], record["rows"], record["columns"], record["year"]) == (
        "made_up.csv",
        [2, 3],
        ["2023"],
        2023,
    )
    line = describe_pair_violation(record)
    assert line.startswith("made_up.csv, rows 2 and 3, column '2023': [ratio_inputs]")
    assert "12500" in line and "31000" in line and "urban ≥ rural" in line and "swapped" in line


def test_equal_figures_within_rounding_and_other_tables_are_not_compared():
    observations = made_up_observations(
        [
            ("440100", 2023, URBAN, 2, "2023", 100.0, 0.5),  # 100 vs 100.4: rounding could make them equal
            ("440100", 2023, RURAL, 3, "2023", 100.4, 0.5),
        ]
    )
    other = made_up_observations([("440100", 2022, RURAL, 3, "2022", 99999.0, 0.5)]).assign(source_id="other")
    swapped_across_tables = made_up_observations([("440100", 2022, URBAN, 2, "2022", 1.0, 0.5)])
    assert ratio_pair_violations(pd.concat([observations, other, swapped_across_tables]), CATALOG) == []


def test_an_urban_population_above_the_total_breaks_the_upper_bound():
    observations = made_up_observations(
        [
            ("440100", 2020, "census_urban_population", 5, "数值", 18_000_000.0, 0.0),
            ("440100", 2020, "census_population", 4, "数值", 16_000_000.0, 0.0),
        ]
    )
    [record] = ratio_pair_violations(observations, CATALOG)
    assert record["rule"] == "census_urban_population ≤ census_population"
    assert "rows 4 and 5" in describe_pair_violation(record)


@pytest.mark.parametrize(
    ("value", "declared", "expected"),
    [
        (4.777e12, "亿元", "read in '元' or '元/人' (× 10^-8) it is 47770 yuan"),  # 47770 printed, declared 亿元
        (413140000.0, "元", "× 10^-8 … 10^-3 would bring it into range"),  # a figure keyed ×10,000
        (-300.0, "元", "the catalogue's unit is yuan, range 1..1e+06 yuan"),  # no unit brings a negative in range
    ],
)
def test_a_figure_out_of_range_is_explained_by_its_declared_unit(value, declared, expected):
    note = unit_note(value, declared, ("yuan", 1.0, 1_000_000.0), UNITS)
    assert f"the sidecar declares the table's unit {declared!r}" in note
    assert "range 1..1e+06 yuan" in note and expected in note


def test_range_failures_get_the_unit_of_their_label_and_other_failures_are_left_alone():
    records = [
        {
            "rule": "value_in_plausible_range(...)",
            "source_id": "made_up",
            "printed_label": "农村居民人均可支配收入",
            "figure": {"indicator_code": RURAL, "value": "2600000000.0"},
        },
        {"rule": "known_region_code", "source_id": "made_up", "figure": {"indicator_code": RURAL, "value": "1"}},
    ]
    fields = {"made_up": {"unit": "亿元", "label_units": {"农村居民人均可支配收入": "万元"}}}
    ranged, other = with_unit_notes(records, CATALOG, fields, UNITS)
    assert "declares the table's unit '万元'" in ranged["note"] and "'元'" in ranged["note"]
    assert "note" not in other
