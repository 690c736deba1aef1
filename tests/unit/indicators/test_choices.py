"""Layer 2: the preferred values' choice columns on tiny made-up frames (text and categorical observations alike)."""

import pandas as pd
import pytest

from pipeline.core.frames import categorical_texts
from pipeline.indicators.choices import preferred_table

# Made-up sources: two yearbook snapshots (official), a republished copy, a news report.
SOURCES = pd.DataFrame(
    {
        "source_id": ["yearbook_old", "yearbook_new", "copy", "news"],
        "authority": ["official", "official", "mirror_of_official", "news_report"],
        "accessed": ["2026-11-01", "2026-12-01", "2026-11-28", "2026-11-28"],
        "url_kind": ["official", "official", "official", "news"],
        "publisher": ["某市统计局", "某市统计局", "某区政府", "某报"],
        "url": ["https://a.example/1", "https://a.example/2", "https://b.example/1", "https://c.example/1"],
    }
)
REGION, OTHER = "440101", "440102"


def observation(indicator, value, source, year=2021, region=REGION, radius=0.5, reliability="official"):
    """One made-up observation with a value, its rounding radius and its reliability grade."""
    return {
        "source_id": source,
        "region_code": region,
        "year": year,
        "indicator_code": indicator,
        "value": value,
        "unit": "yuan",
        "status": "",
        "rounding_radius": radius,
        "reliability": reliability,
    }


OBSERVATIONS = pd.DataFrame(
    [
        # Two official snapshots: the newer access decides.
        observation("income", 100.0, "yearbook_old", year=2020),
        observation("income", 101.0, "yearbook_new", year=2020),
        # Official over a copy: authority decides.
        observation("income", 102.0, "copy", year=2021, reliability="official_copy"),
        observation("income", 103.0, "yearbook_new", year=2021),
        # One figure only.
        observation("income", 104.0, "news", year=2022, reliability="unofficial"),
        # A figure the derived value overrides, and a value missing (not a candidate).
        observation("ratio", 2.4, "yearbook_new", year=2021),
        observation("ratio", None, "copy", year=2021),
        observation("income", 90.0, "yearbook_new", year=2021, region=OTHER),
    ]
)
INDICATORS = pd.DataFrame(
    {
        "indicator_code": ["ratio", "ratio"],
        "region_code": [REGION, OTHER],
        "year": [2021, 2023],
        "value": [2.5, 3.0],
        "unit": ["ratio", "ratio"],
        "method": ["derived", "derived"],
        "status": ["", "u"],
        "source_ids": ["copy;yearbook_new", "news"],
    }
)
EXPECTED = {
    # key: (choice_rule, alternatives, spread, source_ids, reliability)
    ("income", REGION, 2020): ("newest_access", 1, 1.0, "yearbook_new", "official"),
    ("income", REGION, 2021): ("authority", 1, 1.0, "yearbook_new", "official"),
    ("income", REGION, 2022): ("single_source", 0, 0.0, "news", "unofficial"),
    ("income", OTHER, 2021): ("single_source", 0, 0.0, "yearbook_new", "official"),
    ("ratio", REGION, 2021): ("derived_over_published", 1, 0.1, "copy;yearbook_new", "official_copy"),
    ("ratio", OTHER, 2023): ("derived", 0, 0.0, "news", "unofficial"),
}


@pytest.mark.parametrize("categorical", [False, True])
def test_preferred_values_name_the_deciding_rule_alternatives_and_spread(categorical):
    observations = OBSERVATIONS
    if categorical:
        observations = categorical_texts(observations, ["source_id", "region_code", "indicator_code", "unit"])
    table = preferred_table(observations, SOURCES, INDICATORS)
    found = {
        (row.indicator_code, row.region_code, row.year): (
            row.choice_rule,
            row.alternatives,
            row.spread,
            row.source_ids,
            row.reliability,
        )
        for row in table.itertuples(index=False)
    }
    assert found.keys() == EXPECTED.keys()
    for key, (rule, alternatives, spread, source_ids, reliability) in EXPECTED.items():
        assert found[key][0] == rule, key
        assert found[key][1] == alternatives, key
        assert found[key][2] == pytest.approx(spread), key
        assert found[key][3:] == (source_ids, reliability), key
    assert table.set_index(["indicator_code", "region_code", "year"]).loc[("ratio", REGION, 2021), "value"] == 2.5
    assert table["choice_rule"].dtype == "str"
