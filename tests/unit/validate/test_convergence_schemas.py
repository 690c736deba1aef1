"""The convergence tables' pandera models: a valid MADE-UP frame passes, each corruption fails naming column and rule."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.core.metadata import load_indicator_catalog, load_regions
from pipeline.validate.schemas import (
    ConvergenceSchema,
    DispersionSchema,
    GroupAggregateSchema,
    PairedCityRatioSchema,
    TargetProgressSchema,
    with_known_codes,
)

VALID = {
    "dispersion": (
        DispersionSchema,
        ["parent_region_code"],
        {
            "indicator_code": "urbanisation_rate",
            "parent_region_code": "440100",
            "unit_level": "county_level",
            "year": 2015,
            "measure": "cv",
            "value": 0.2,
            "n_units": 11,
            "weight_indicator_code": "",
            "n_units_at_bound": 0,
        },
    ),
    "convergence": (
        ConvergenceSchema,
        ["parent_region_code"],
        {
            "indicator_code": "urbanisation_rate",
            "parent_region_code": "440100",
            "unit_level": "county_level",
            "start_year": 2010,
            "end_year": 2015,
            "beta": -0.02,
            "intercept": 0.1,
            "r_squared": 0.5,
            "n_units": 11,
            "window_kind": "longest",
            "scale": "logit",
            "standard_error": 0.01,
            "t_value": -2.0,
            "p_value": 0.07,
            "ci_low": -0.043,
            "ci_high": 0.003,
            "significant_at_5pct": False,
            "speed": 0.022,
            "half_life_years": 31.5,
            "n_units_at_bound": 0,
        },
    ),
    "group_aggregates": (
        GroupAggregateSchema,
        ["parent_region_code"],
        {
            "indicator_code": "gdp",
            "group_code": "440100:old_city_new_vitality",
            "parent_region_code": "440100",
            "year": 2023,
            "value": 1.0e11,
            "unit": "yuan",
            "rule": "sum",
            "weight_indicator_code": "",
            "n_members": 4,
            "member_codes": "440103;440104;440105;440106",
            "status": "",
            "source_ids": "made_up",
        },
    ),
    "paired_city_ratios": (
        PairedCityRatioSchema,
        ["reference_region_code", "region_code"],
        {
            "indicator_code": "rural_consumption_expenditure_per_capita",
            "reference_region_code": "440100",
            "region_code": "441400",
            "year": 2020,
            "reference_value": 30000.0,
            "region_value": 15000.0,
            "value": 2.0,
            "status": "",
            "source_ids": "made_up",
        },
    ),
    "target_progress": (
        TargetProgressSchema,
        ["region_code"],
        {
            "target_code": "made_up_target",
            "indicator_code": "urban_rural_income_ratio",
            "region_code": "440100",
            "scope": "made up",
            "kind": "programme_target",
            "target_value": 2.0,
            "unit": "ratio",
            "direction": "at_most",
            "reference_year": 2023,
            "deadline_year": 2025,
            "latest_year": 2023,
            "latest_value": 2.1,
            "gap": 0.1,
            "status": "not_yet_met",
            "source_id": "made_up",
            "reference": "tests",
            "statement": "made up",
            "caveats": "",
        },
    ),
}
CORRUPTIONS = [
    ("dispersion", {"measure": "variance"}, "measure", "isin"),
    ("dispersion", {"n_units": 4}, "n_units", "greater_than_or_equal_to(5)"),
    ("dispersion", {"value": -0.1}, "value", "greater_than_or_equal_to(0)"),
    ("dispersion", {"parent_region_code": "449999"}, "parent_region_code", "isin"),
    ("dispersion", {"indicator_code": "not_in_catalogue"}, "indicator_code", "isin"),
    ("convergence", {"end_year": 2010}, None, "end_year must be after start_year"),
    ("convergence", {"r_squared": 1.5}, "r_squared", "less_than_or_equal_to(1)"),
    ("convergence", {"window_kind": "decade"}, "window_kind", "isin"),
    ("convergence", {"p_value": 1.2}, "p_value", "less_than_or_equal_to(1)"),
    ("convergence", {"scale": "square_root"}, "scale", "isin"),
    ("convergence", {"n_units_at_bound": -1}, "n_units_at_bound", "greater_than_or_equal_to(0)"),
    ("group_aggregates", {"group_code": "441400:old_city_new_vitality"}, None, "must start with parent_region_code"),
    ("group_aggregates", {"group_code": "old city"}, "group_code", "str_matches"),
    ("group_aggregates", {"rule": "median"}, "rule", "isin"),
    ("paired_city_ratios", {"region_value": 0.0}, "region_value", "greater_than(0)"),
    ("paired_city_ratios", {"region_code": "449999"}, "region_code", "isin"),
    ("target_progress", {"status": "almost"}, "status", "isin"),
    ("target_progress", {"direction": "down"}, "direction", "isin"),
]


def schema_and_frame(table: str) -> tuple[pa.DataFrameSchema, pd.DataFrame]:
    """The table's schema with known regions and catalogue codes, and a one-row valid frame."""
    model, region_columns, row = VALID[table]
    schema = with_known_codes(model, region_columns, list(load_regions()["region_code"]), load_indicator_catalog())
    return schema, pd.DataFrame([row])


@pytest.mark.parametrize("table", list(VALID))
def test_valid_frames_pass(table):
    schema, frame = schema_and_frame(table)
    schema.validate(frame, lazy=True)


@pytest.mark.parametrize(("table", "change", "column", "rule"), CORRUPTIONS)
def test_corruptions_fail_naming_column_and_rule(table, change, column, rule):
    schema, frame = schema_and_frame(table)
    for key, value in change.items():
        frame[key] = [value]
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        schema.validate(frame, lazy=True)
    failures = raised.value.failure_cases
    matching = failures[failures["check"].astype(str).str.contains(rule, regex=False)]
    assert not matching.empty, failures[["column", "check"]].to_dict("records")
    if column is not None:
        assert column in set(matching["column"]), failures[["column", "check"]].to_dict("records")
