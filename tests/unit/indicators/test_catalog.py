"""The indicator catalogue drives the computations: it validates, corruptions fail by rule, unknown codes are caught."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.core.metadata import load_indicator_catalog, load_regions
from pipeline.indicators.derive import DERIVATIONS
from pipeline.validate.schemas import DERIVATION_INPUTS, IndicatorCatalogSchema, indicator_schema


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """The real catalogue, as the pipeline loads it."""
    return load_indicator_catalog()


def test_the_catalogue_validates_and_documents_every_derived_indicator(catalog):
    IndicatorCatalogSchema.validate(catalog, lazy=True)
    derived = catalog[catalog["kind"] == "derived"]
    assert derived["formula"].str.len().gt(0).all()
    assert derived["caveats"].str.len().gt(0).all()
    assert set(DERIVATIONS) == set(DERIVATION_INPUTS)


def test_the_issue_indicators_are_in_the_catalogue(catalog):
    derivations = catalog.set_index("indicator_code")["derivation"]
    expected = {
        "urban_rural_income_ratio": "ratio",
        "urban_rural_consumption_ratio": "ratio",
        "household_consumption_level_urban_rural_ratio": "ratio",
        "urban_rural_income_gap": "difference",
        "rural_minus_urban_income_growth": "growth_difference",
        "rural_real_income_growth": "index_change",
        "industrial_output_above_designated_size_share_of_parent": "share_of_parent",
        "industrial_value_added_share_of_parent": "share_of_parent",
        "industrial_output_above_designated_size_growth": "growth",
        "industrial_value_added_growth": "growth",
        "gdp_per_capita_yearend_population": "ratio",
        "rural_population_share": "ratio",
    }
    assert {code: derivations.get(code) for code in expected} == expected


def test_survey_and_national_accounts_consumption_ratios_are_never_mixed(catalog):
    inputs = catalog.set_index("indicator_code")["inputs"]
    assert all(
        code.startswith("household_consumption_level_")
        for code in inputs["household_consumption_level_urban_rural_ratio"].split(";")
    )
    assert all("consumption_expenditure" in code for code in inputs["urban_rural_consumption_ratio"].split(";"))
    assert "net_income" not in inputs["urban_rural_income_ratio"] + inputs["rural_minus_urban_income_growth"]


def corrupt(catalog: pd.DataFrame, code: str, **fields) -> pd.DataFrame:
    """A copy of the catalogue with one entry changed."""
    frame = catalog.copy()
    for column, value in fields.items():
        frame.loc[frame["indicator_code"] == code, column] = value
    return frame


@pytest.mark.parametrize(
    ("code", "fields", "rule"),
    [
        (
            "urban_rural_income_gap",
            {"inputs": "urban_disposable_income_per_capita;no_such_code"},
            "inputs must be catalogue codes",
        ),
        ("urban_rural_income_gap", {"inputs": "urban_disposable_income_per_capita"}, "inputs must be catalogue codes"),
        ("rural_real_income_growth", {"derivation": "cube_root"}, "isin"),
        ("rural_real_income_growth", {"formula": ""}, "needs a known derivation and formula"),
        ("rural_population_share", {"weights": ""}, "weights must be catalogue codes"),
        ("rural_population_share", {"weights": "no_such_population"}, "weights must be catalogue codes"),
        ("rural_population_share", {"aggregation": "median"}, "isin"),
        ("rural_population_share", {"multiplier": 0.0}, "greater_than"),
    ],
)
def test_catalogue_corruptions_fail_naming_the_rule(catalog, code, fields, rule):
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        IndicatorCatalogSchema.validate(corrupt(catalog, code, **fields), lazy=True)
    failures = raised.value.failure_cases
    assert failures["check"].astype(str).str.contains(rule, regex=False).any(), failures["check"].tolist()
    corrupted_row = int(catalog.index[catalog["indicator_code"] == code][0])
    assert set(failures["index"].dropna().astype(int)) == {corrupted_row}


def test_an_indicator_without_a_catalogue_entry_fails_validation(catalog):
    frame = pd.DataFrame(
        {
            "indicator_code": ["urban_rural_income_gap", "made_up_uncatalogued_indicator"],
            "region_code": ["440100", "440100"],
            "year": [2020, 2020],
            "value": [1.0, 1.0],
            "unit": ["yuan", "yuan"],
            "method": ["derived", "derived"],
            "status": ["", ""],
            "source_ids": ["made_up", "made_up"],
        }
    )
    schema = indicator_schema(list(load_regions()["region_code"]), catalog)
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        schema.validate(frame, lazy=True)
    assert "made_up_uncatalogued_indicator" in raised.value.failure_cases["failure_case"].astype(str).tolist()
