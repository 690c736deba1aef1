"""The coverage asset on made-up frames, with the expected counts worked out by hand."""

from __future__ import annotations

import io

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.defs.publish import coverage
from pipeline.publish.documents.coverage import (
    COVERAGE_COLUMNS,
    MAX_LISTED_MISSING,
    coverage_csv_bytes,
    coverage_table,
    largest_gaps,
)
from pipeline.validate.schemas import CoverageSchema

# MADE-UP regions: one province, two cities, one district.
REGIONS = pd.DataFrame(
    {
        "region_code": ["440000", "440100", "440200", "440103"],
        "name_zh": ["省", "甲市", "乙市", "丙区"],
        "level": ["province", "prefecture_city", "prefecture_city", "district"],
    }
)


def observations(rows: list[tuple[str, str, int, float | None]]) -> pd.DataFrame:
    """A made-up observations frame from (indicator, region, year, value) tuples."""
    return pd.DataFrame(
        {
            "indicator_code": [row[0] for row in rows],
            "region_code": [row[1] for row in rows],
            "year": [row[2] for row in rows],
            "value": [row[3] for row in rows],
            "source_id": "made_up",
        }
    )


# Three MADE-UP rows: city 440100 has 2020, city 440200 has 2021, city 440100's 2021 is missing (value None).
THREE_ROWS = observations([("a", "440100", 2020, 1.0), ("a", "440200", 2021, 2.0), ("a", "440100", 2021, None)])


def test_three_rows_give_the_hand_computed_coverage():
    table = coverage_table(THREE_ROWS, REGIONS)
    # Indicator a has values only at city level, in 2020 and 2021; two cities exist.
    # 2020: 440100 has a value, 440200 is missing → 1 of 2. 2021: 440200 has one, 440100's is missing → 1 of 2.
    expected = pd.DataFrame(
        {
            "indicator_code": ["a", "a"],
            "level": ["prefecture_city", "prefecture_city"],
            "year": [2020, 2021],
            "regions_with_value": [1, 1],
            "regions_at_level": [2, 2],
            "coverage_share": [0.5, 0.5],
            "missing_count": [1, 1],
            "missing_regions": ["乙市 (440200)", "甲市 (440100)"],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # The same region from two sources counts once.
        (
            [("a", "440100", 2020, 1.0), ("a", "440100", 2020, 1.1), ("a", "440200", 2020, 3.0)],
            [("a", "prefecture_city", 2020, 2, 2, 0)],
        ),
        # A year with a value at one level is a gap at the indicator's other levels.
        (
            [("a", "440000", 2019, 5.0), ("a", "440100", 2020, 1.0)],
            [
                ("a", "prefecture_city", 2019, 0, 2, 2),
                ("a", "prefecture_city", 2020, 1, 2, 1),
                ("a", "province", 2019, 1, 1, 0),
                ("a", "province", 2020, 0, 1, 1),
            ],
        ),
        # Indicators are counted apart.
        (
            [("a", "440103", 2020, 1.0), ("b", "440100", 2020, 2.0)],
            [("a", "district", 2020, 1, 1, 0), ("b", "prefecture_city", 2020, 1, 2, 1)],
        ),
    ],
)
def test_coverage_counts(rows, expected):
    table = coverage_table(observations(rows), REGIONS)
    got = list(
        table[
            ["indicator_code", "level", "year", "regions_with_value", "regions_at_level", "missing_count"]
        ].itertuples(index=False, name=None)
    )
    assert got == expected


def test_only_missing_values_give_an_empty_table():
    table = coverage_table(observations([("a", "440100", 2020, None)]), REGIONS)
    assert table.empty
    assert list(table.columns) == COVERAGE_COLUMNS


def test_long_missing_lists_are_cut_with_a_count():
    codes = [f"4401{index:02d}" for index in range(MAX_LISTED_MISSING + 3)]
    regions = pd.DataFrame({"region_code": codes, "name_zh": codes, "level": "district"})
    table = coverage_table(observations([("a", codes[0], 2020, 1.0)]), regions)
    listed = table.loc[0, "missing_regions"].split("; ")
    assert len(listed) == MAX_LISTED_MISSING + 1
    assert listed[-1] == "… and 2 more"
    assert table.loc[0, "missing_count"] == MAX_LISTED_MISSING + 2


def test_largest_gaps_come_first():
    rows = [("a", "440000", 2019, 5.0), ("a", "440100", 2020, 1.0)]
    gaps = largest_gaps(coverage_table(observations(rows), REGIONS), count=2)
    assert list(gaps[["level", "year", "missing_count"]].itertuples(index=False, name=None)) == [
        ("prefecture_city", 2019, 2),  # 2 missing
        ("province", 2020, 1),  # 1 missing, share 0.0 beats the cities' 2020 (1 missing, share 0.5)
    ]


def test_csv_bytes_round_trip():
    table = coverage_table(THREE_ROWS, REGIONS)
    data = coverage_csv_bytes(table)
    assert data.startswith(b"indicator_code,level,year,")
    back = pd.read_csv(io.BytesIO(data), dtype={"year": "int64"})
    assert back["missing_regions"].tolist() == ["乙市 (440200)", "甲市 (440100)"]
    assert back["coverage_share"].tolist() == [0.5, 0.5]


def test_the_asset_returns_the_table_with_the_largest_gaps_in_its_metadata():
    output = coverage(THREE_ROWS, REGIONS)
    assert isinstance(output, dg.Output)
    assert len(output.value) == 2
    assert output.metadata["rows"].value == 2
    assert "prefecture_city" in output.metadata["largest_gaps"].value


@pytest.mark.parametrize(
    ("column", "bad_value"),
    [("regions_with_value", 5), ("level", "galaxy"), ("coverage_share", 1.5)],
)
def test_schema_rejects_corrupted_rows(column, bad_value):
    table = coverage_table(THREE_ROWS, REGIONS)
    table.loc[0, column] = bad_value
    with pytest.raises(pa.errors.SchemaErrors) as error:
        CoverageSchema.validate(table, lazy=True)
    assert column in str(error.value) or "counts_add_up" in str(error.value)


def test_the_coverage_asset_is_part_of_the_definitions():
    from pipeline.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "coverage" in keys
