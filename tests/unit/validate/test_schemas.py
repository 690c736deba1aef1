"""Layer 2: each schema accepts a valid frame and rejects each corruption, naming the column and the rule."""

import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.core.metadata import load_indicator_catalog, load_regions
from pipeline.validate.failures import schema_failures
from pipeline.validate.schemas import IndicatorSchema, RegionSchema, indicator_schema, observation_schema

CATALOG = load_indicator_catalog()
REGION_CODES = list(load_regions()["region_code"])


def valid_observations() -> pd.DataFrame:
    """Three made-up, valid observations."""
    return pd.DataFrame(
        {
            "source_id": ["made_up", "made_up", "made_up"],
            "source_file": ["made_up.csv"] * 3,
            "source_row": [2, 3, 4],
            "source_column": ["2021", "2021", "2021"],
            "printed_label": ["城镇", "农村", "比"],
            "region_code": ["440000", "440000", "440000"],
            "year": [2021, 2021, 2021],
            "indicator_code": [
                "urban_disposable_income_per_capita",
                "rural_disposable_income_per_capita",
                "urban_rural_income_ratio",
            ],
            "value": [30000.0, 12000.0, 2.5],
            "unit": ["yuan", "yuan", "ratio"],
            "status": ["", "", ""],
            "rounding_radius": [0.5, 0.5, 0.005],
            "publisher_kind": ["statistics_office"] * 3,
            "reliability": ["official"] * 3,
            "corroborated_by": ["", "", ""],
        }
    )


def set_cell(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    """A copy of the frame with one cell changed."""
    changed = frame.copy()
    changed[column] = changed[column].astype(object)
    changed.at[row, column] = value
    return changed


OBSERVATION_CORRUPTIONS = [
    ("unknown region", lambda f: set_cell(f, 0, "region_code", "999999"), "region_code", "isin"),
    ("unknown indicator", lambda f: set_cell(f, 0, "indicator_code", "made_up_indicator"), "indicator_code", "isin"),
    ("negative income", lambda f: set_cell(f, 1, "value", -5.0), None, "value_in_plausible_range"),
    ("ratio above 10", lambda f: set_cell(f, 2, "value", 12.0), None, "value_in_plausible_range"),
    ("ratio below 1", lambda f: set_cell(f, 2, "value", 0.5), None, "value_in_plausible_range"),
    ("income in 万元 left unscaled unit", lambda f: set_cell(f, 0, "unit", "percent"), None, "unit_matches_catalog"),
    ("duplicate figure from one source", lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True), None, "unique"),
    ("year before 1949", lambda f: set_cell(f, 0, "year", 1900), "year", "greater_than_or_equal_to"),
    ("missing value without status", lambda f: set_cell(f, 0, "value", None), None, "missing_value_has_status"),
    ("unknown status code", lambda f: set_cell(f, 0, "status", "Q"), "status", "str_matches"),
    ("text in the value column", lambda f: set_cell(f, 0, "value", "12a"), "value", "coerce"),
]


def test_valid_observations_pass():
    observation_schema(REGION_CODES, CATALOG).validate(valid_observations(), lazy=True)


@pytest.mark.parametrize(
    ("name", "corrupt", "column", "rule"), OBSERVATION_CORRUPTIONS, ids=[c[0] for c in OBSERVATION_CORRUPTIONS]
)
def test_observation_corruption_is_rejected_naming_column_and_rule(name, corrupt, column, rule):
    frame = corrupt(valid_observations())
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        observation_schema(REGION_CODES, CATALOG).validate(frame, lazy=True)
    failures = schema_failures(raised.value, frame, "observations")
    assert any(rule in failure["rule"] or rule in str(failure.get("failure_case")) for failure in failures), failures
    if column is not None:
        assert any(failure["column"] == column for failure in failures), failures
    located = [failure for failure in failures if failure["file"] is not None]
    if located:
        assert located[0]["file"] == "made_up.csv" and located[0]["row"] in (2, 3, 4)


def test_region_schema_rejects_duplicate_codes_and_unknown_groups():
    regions = load_regions()
    RegionSchema.validate(regions, lazy=True)
    broken = pd.concat([regions, regions.iloc[[0]]], ignore_index=True)
    broken.loc[3, "district_group"] = "made_up_group"
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        RegionSchema.validate(broken, lazy=True)
    checks = set(raised.value.failure_cases["check"].astype(str))
    assert any("field_uniqueness" in check or "unique" in check for check in checks), checks
    assert any("isin" in check for check in checks), checks


def test_indicator_schema_rejects_duplicate_method_rows_and_implausible_ratios():
    indicators = pd.DataFrame(
        {
            "indicator_code": ["urban_rural_income_ratio"] * 3,
            "region_code": ["440000"] * 3,
            "year": [2021, 2021, 2022],
            "value": [2.46, 2.47, 11.0],
            "unit": ["ratio"] * 3,
            "method": ["derived", "derived", "published"],
            "status": ["", "", ""],
            "source_ids": ["a", "a", "b"],
        }
    )
    IndicatorSchema.validate(indicators.iloc[[0, 2]].assign(value=[2.46, 2.4]), lazy=True)
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        indicator_schema(REGION_CODES, CATALOG).validate(indicators, lazy=True)
    checks = set(raised.value.failure_cases["check"].astype(str))
    assert "value_in_plausible_range" in checks
    assert any("unique" in check for check in checks), checks
