"""Target progress: latest value, gap and status on MADE-UP values; the real targets file is well-formed."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.metadata import load_indicator_catalog, load_regions, load_targets
from pipeline.indicators.targets import progress_table
from pipeline.validate.schemas import TargetProgressSchema, with_known_codes
from tests.support.made_up_values import CITY, value_frame
from tests.support.paths import REPO_ROOT


def made_up_target(**fields) -> dict:
    """A made-up target row; fields override the defaults."""
    return {
        "target_code": "made_up_target",
        "indicator_code": "ratio",
        "region_code": CITY,
        "scope": "made up",
        "kind": "programme_target",
        "target_value": 2.5,
        "unit": "ratio",
        "direction": "at_most",
        "reference_year": 2021,
        "deadline_year": 2025,
        "statement": "made up",
        "source_id": "made_up_article",
        "reference": "tests",
        "caveats": "",
        **fields,
    }


def progress(targets: list[dict], rows: list[tuple]) -> pd.DataFrame:
    """The progress table of made-up targets against made-up values."""
    frame = pd.DataFrame(targets).astype({"deadline_year": "Int64"})
    return progress_table(frame, value_frame(rows)).set_index("target_code")


@pytest.mark.parametrize(
    ("target", "rows", "expected"),
    [
        # at_most 2.5: latest (2023) 2.4 → met, gap −0.1; the earlier 2.6 does not matter.
        ({}, [("ratio", CITY, 2022, 2.6), ("ratio", CITY, 2023, 2.4)], (2023, 2.4, -0.1, "met")),
        # at_least 100 by 2024: 90 in 2024 → missed.
        (
            {"direction": "at_least", "target_value": 100.0, "deadline_year": 2024},
            [("ratio", CITY, 2024, 90.0)],
            (2024, 90.0, -10.0, "missed"),
        ),
        # the same target with data only up to 2023 → not yet met.
        (
            {"direction": "at_least", "target_value": 100.0, "deadline_year": 2024},
            [("ratio", CITY, 2023, 90.0)],
            (2023, 90.0, -10.0, "not_yet_met"),
        ),
        # a benchmark without deadline that is exceeded → not yet met (never missed).
        (
            {"kind": "reported_benchmark", "deadline_year": None},
            [("ratio", CITY, 2023, 2.6)],
            (2023, 2.6, 0.1, "not_yet_met"),
        ),
        # values before the reference year and of other regions are not progress → no data.
        ({}, [("ratio", CITY, 2020, 2.0), ("ratio", "441400", 2023, 2.0)], (None, None, None, "no_data")),
    ],
)
def test_progress_latest_value_gap_and_status(target, rows, expected):
    row = progress([made_up_target(**target)], rows).loc["made_up_target"]
    latest_year, latest_value, gap, status = expected
    assert row["status"] == status
    if latest_year is None:
        assert pd.isna(row["latest_year"]) and pd.isna(row["latest_value"]) and pd.isna(row["gap"])
    else:
        assert row["latest_year"] == latest_year
        assert row["latest_value"] == pytest.approx(latest_value)
        assert row["gap"] == pytest.approx(gap)


def test_the_targets_own_source_is_not_progress_towards_it():
    # made-up values: the 2023 figure comes from the target's own source (value_frame's sources are "made_up")
    row = progress([made_up_target(source_id="made_up")], [("ratio", CITY, 2023, 2.4)]).loc["made_up_target"]
    assert row["status"] == "no_data" and pd.isna(row["latest_value"])
    other_source = progress([made_up_target(source_id="the_article")], [("ratio", CITY, 2023, 2.4)])
    assert other_source.loc["made_up_target", "status"] == "met"


def test_the_real_targets_name_catalogue_indicators_known_regions_and_a_bundled_source():
    targets = load_targets()
    assert len(targets) >= 2
    catalog = load_indicator_catalog()
    schema = with_known_codes(TargetProgressSchema, ["region_code"], list(load_regions()["region_code"]), catalog)
    schema.validate(progress_table(targets, value_frame([])), lazy=True)
    for target in targets.itertuples(index=False):
        assert (REPO_ROOT / "raw" / f"{target.source_id}.meta.yaml").is_file(), target.target_code
        assert target.unit == catalog.set_index("indicator_code").loc[target.indicator_code, "unit"], target.target_code
        assert target.statement, target.target_code
