"""Layer 2: indicator functions called directly on tiny made-up frames, with hand-computed results."""

import pandas as pd
import pytest

from pipeline.indicators.derive import derive_ratio
from pipeline.indicators.preferred import preferred_observations
from pipeline.indicators.reconcile import reconcile_ratio

SOURCES = pd.DataFrame(
    {
        "source_id": ["yearbook", "release", "news", "snapshot_old", "snapshot_new"],
        "authority": ["official", "mirror_of_official", "news_report", "official", "official"],
        "accessed": ["2026-11-28", "2026-11-28", "2026-11-28", "2026-11-01", "2026-12-01"],
    }
)


def observation(indicator, value, source="yearbook", year=2021, region="440000", radius=0.5, status=""):
    """One made-up observation row."""
    return {
        "source_id": source,
        "source_file": f"{source}.csv",
        "source_row": 2,
        "source_column": "数值",
        "printed_label": indicator,
        "region_code": region,
        "year": year,
        "indicator_code": indicator,
        "value": value,
        "unit": "ratio" if indicator.endswith("ratio") else "yuan",
        "status": status,
        "rounding_radius": radius,
    }


def test_ratio_is_urban_over_rural_for_region_years_with_both():
    frame = pd.DataFrame(
        [
            observation("urban_disposable_income_per_capita", 30000.0),
            observation("rural_disposable_income_per_capita", 12000.0),
            observation("urban_disposable_income_per_capita", 31000.0, year=2022),
        ]
    )
    ratio = derive_ratio(
        frame, "urban_rural_income_ratio", "urban_disposable_income_per_capita", "rural_disposable_income_per_capita"
    )
    assert list(ratio["year"]) == [2021]
    assert ratio["value"].iloc[0] == pytest.approx(2.5)
    # 30000 ± 0.5 over 12000 ± 0.5
    assert ratio["value_low"].iloc[0] == pytest.approx(29999.5 / 12000.5)
    assert ratio["value_high"].iloc[0] == pytest.approx(30000.5 / 11999.5)
    assert ratio["method"].iloc[0] == "derived"


def test_zero_denominator_gives_no_ratio():
    frame = pd.DataFrame(
        [
            observation("urban_disposable_income_per_capita", 30000.0),
            observation("rural_disposable_income_per_capita", 0.0),
        ]
    )
    ratio = derive_ratio(
        frame, "urban_rural_income_ratio", "urban_disposable_income_per_capita", "rural_disposable_income_per_capita"
    )
    assert ratio.empty


def test_preferred_observation_is_most_authoritative_then_most_precise():
    frame = pd.DataFrame(
        [
            observation("urban_disposable_income_per_capita", 54854.0, source="news", radius=0.5),
            observation("urban_disposable_income_per_capita", 54853.6, source="release", radius=0.05),
            observation("urban_disposable_income_per_capita", 54854.0, source="yearbook", radius=0.5),
        ]
    )
    chosen = preferred_observations(frame, SOURCES)
    assert list(chosen["source_id"]) == ["yearbook"]
    without_official = preferred_observations(frame[frame["source_id"] != "yearbook"], SOURCES)
    assert list(without_official["source_id"]) == ["release"]


def test_a_newer_snapshot_of_equal_authority_supersedes_an_older_one():
    frame = pd.DataFrame(
        [
            observation("rural_disposable_income_per_capita", 12000.0, source="snapshot_old", radius=0.05),
            observation("rural_disposable_income_per_capita", 12100.0, source="snapshot_new", radius=0.5),
        ]
    )
    assert list(preferred_observations(frame, SOURCES)["source_id"]) == ["snapshot_new"]


def test_missing_values_are_never_preferred():
    frame = pd.DataFrame(
        [
            observation("rural_disposable_income_per_capita", None, source="yearbook", radius=None, status=":"),
            observation("rural_disposable_income_per_capita", 12000.0, source="news"),
        ]
    )
    assert list(preferred_observations(frame, SOURCES)["value"]) == [12000.0]


@pytest.mark.parametrize(
    ("urban", "urban_radius", "rural", "published", "reconciles"),
    [
        (54853.6, 0.05, 22306.0, 2.46, True),  # 2.45914 lies in [2.455, 2.465)
        (50257.0, 0.05, 20143.0, 2.49, True),  # 2.49501: only the rounding of the inputs reaches below 2.495
        (50257.0, 0.0, 20143.0, 2.49, True),  # rural ±0.5 alone still reaches 2.49495
        (50357.0, 0.05, 20143.0, 2.49, False),  # 2.49997 cannot be printed as 2.49
        (30000.0, 0.5, 10000.0, 2.9, False),
    ],
)
def test_reconciliation_allows_only_for_printed_rounding(urban, urban_radius, rural, published, reconciles):
    frame = pd.DataFrame(
        [
            observation("urban_disposable_income_per_capita", urban, radius=urban_radius),
            observation("rural_disposable_income_per_capita", rural, radius=0.5),
            observation("urban_rural_income_ratio", published, source="news", radius=0.005),
        ]
    )
    compared = reconcile_ratio(
        frame,
        SOURCES,
        "urban_rural_income_ratio",
        "urban_disposable_income_per_capita",
        "rural_disposable_income_per_capita",
    )
    assert len(compared) == 1
    assert bool(compared["reconciles"].iloc[0]) is reconciles
    assert compared["published_source"].iloc[0] == "news"
