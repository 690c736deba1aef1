"""Layer 2: the preferred values' choice columns on tiny made-up frames (text and categorical observations alike)."""

import numpy as np
import pandas as pd
import pytest

from pipeline.core.frames import categorical_texts, decoded_texts
from pipeline.indicators.choices import (
    CHOICE_RULES,
    coded_texts,
    deciding_rule,
    deciding_rules,
    figure_reliabilities,
    key_figures,
    key_starts,
    preferred_table,
    text_code,
)

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
    observations, indicators = OBSERVATIONS, INDICATORS
    if categorical:
        observations = categorical_texts(observations, ["source_id", "region_code", "indicator_code", "unit"])
        # As the asset reads them (texts as categoricals), with categories not sorted (here reversed).
        texts = ["indicator_code", "region_code", "unit", "method", "status", "source_ids"]
        indicators = indicators.astype(
            {column: pd.CategoricalDtype(list(dict.fromkeys(indicators[column]))[::-1]) for column in texts}
        )
    table = preferred_table(observations, SOURCES, indicators)
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


def ranked_figures(rows):
    """Made-up ranked figures (region, year, indicator, authority rank, accessed, rounding radius, source, value)."""
    columns = ["region_code", "year", "indicator_code", "authority_rank", "accessed", "rounding_radius", "source_id"]
    return pd.DataFrame([dict(zip([*columns, "value"], row, strict=True)) for row in rows])


def test_deciding_rules_name_the_first_ranking_column_that_differs_as_deciding_rule_does():
    ranked = ranked_figures(
        [
            ("a", 2020, "x", 1, "2026-12-01", 0.5, "s1", 1.0),  # authority differs
            ("a", 2020, "x", 2, "2026-12-01", 0.5, "s2", 1.1),
            ("a", 2021, "x", 1, "2026-12-01", 0.5, "s1", 1.0),  # newer access
            ("a", 2021, "x", 1, "2026-11-01", 0.5, "s2", 1.0),
            ("a", 2022, "x", 1, "2026-12-01", 0.05, "s1", 1.0),  # finer rounding
            ("a", 2022, "x", 1, "2026-12-01", 0.5, "s2", 1.0),
            ("a", 2023, "x", 1, "2026-12-01", 0.5, "s1", 1.0),  # only the id differs, a third figure ignored
            ("a", 2023, "x", 1, "2026-12-01", 0.5, "s2", 1.0),
            ("a", 2023, "x", 2, "2026-12-01", 0.5, "s3", 1.0),
            ("a", 2024, "x", 1, "2026-12-01", None, "s1", 1.0),  # a missing radius differs from everything
            ("a", 2024, "x", 1, "2026-12-01", None, "s2", 1.0),
            ("a", 2025, "x", 1, "2026-12-01", 0.5, "s1", 1.0),  # the same source twice: source_id, the last resort
            ("a", 2025, "x", 1, "2026-12-01", 0.5, "s1", 1.0),
        ]
    )
    bounds = np.array([0, 2, 4, 6, 9, 11])
    rules = [CHOICE_RULES[code] for code in deciding_rules(ranked, bounds)]
    assert rules == ["authority", "newest_access", "finest_rounding", "source_id", "finest_rounding", "source_id"]
    assert rules == [deciding_rule(ranked.iloc[start : start + 2]) for start in bounds]


def test_key_figures_count_bound_and_choose_per_key():
    # Made-up observations in key order: key 0 has one figure, key 1 three (the second chosen), key 2 one.
    present = pd.DataFrame({"value": [5.0, 3.0, 4.0, 2.0, 7.0]})
    starts = np.array([0, 1, 4])
    ranked = ranked_figures(
        [
            ("a", 2021, "x", 1, "2026-12-01", 0.5, "s2", 4.0),
            ("a", 2021, "x", 1, "2026-11-01", 0.5, "s1", 3.0),
            ("a", 2021, "x", 2, "2026-12-01", 0.5, "s3", 2.0),
        ]
    ).assign(position=[2, 1, 3])
    figures, low, high, rules, chosen = key_figures(present, ranked, starts)
    assert figures.tolist() == [1, 3, 1]
    assert low.tolist() == [5.0, 2.0, 7.0]
    assert high.tolist() == [5.0, 4.0, 7.0]
    assert [CHOICE_RULES[code] for code in rules] == ["single_source", "newest_access", "single_source"]
    assert chosen.tolist() == [0, 2, 4]
    assert key_starts(np.array([3, 3, 5, 7, 7, 7])).tolist() == [0, 2, 3]


def test_coded_texts_and_text_codes_decode_codes_with_missing():
    texts: dict[str, int] = {}
    codes = [text_code(text, texts) for text in ["b", None, "a", float("nan"), "b", ""]]
    assert codes == [0, -1, 1, -1, 0, 2]
    decoded = coded_texts(np.array(codes), list(texts))
    assert decoded.dtype == "str"
    assert [decoded[0], decoded[2], decoded[4], decoded[5]] == ["b", "a", "b", ""]
    assert pd.isna(decoded[1]) and pd.isna(decoded[3])


@pytest.mark.parametrize("categorical", [False, True])
def test_figure_reliabilities_read_the_chosen_observations_grade(categorical):
    present = pd.DataFrame({"reliability": ["official", None, "unofficial", "official"]})
    if categorical:
        present = present.astype({"reliability": "category"})
    texts = {"unofficial": 0}
    found = figure_reliabilities(np.array([3, 1, -1, 2, 0]), present, texts)
    assert [list(texts)[code] if code >= 0 else None for code in found] == [
        "official",
        None,
        None,
        "unofficial",
        "official",
    ]
    assert figure_reliabilities(np.array([0]), present.drop(columns="reliability"), texts).tolist() == [-1]


def test_preferred_values_with_texts_as_categories_decode_to_the_same_table():
    """The categorical table (the asset's: stored decoded) holds the same texts as the text table, codes aside."""
    observations = categorical_texts(OBSERVATIONS, ["source_id", "region_code", "indicator_code", "unit"])
    texts = preferred_table(observations, SOURCES, INDICATORS)
    coded = preferred_table(observations, SOURCES, INDICATORS, texts_as_categories=True)
    for column in ["publisher_kind", "reliability", "choice_rule"]:
        assert isinstance(coded[column].dtype, pd.CategoricalDtype), column
    pd.testing.assert_frame_equal(decoded_texts(coded), texts)
