"""Reconciliation of derived and published ratios by interval arithmetic."""

from __future__ import annotations

import pandas as pd

from pipeline.indicators.derive import derive_ratio
from pipeline.indicators.preferred import preferred_observations


def reconcile_ratio(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_code: str,
    numerator: str,
    denominator: str,
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """Compare derived and published ratios where both exist, as intervals allowing for printed rounding."""
    preferred = preferred_observations(observations, sources)
    derived = derive_ratio(preferred, indicator_code, numerator, denominator, multiplier=multiplier)
    published = preferred[preferred["indicator_code"] == indicator_code]
    columns = [
        "region_code",
        "year",
        "derived",
        "derived_low",
        "derived_high",
        "derived_sources",
        "published",
        "published_low",
        "published_high",
        "published_source",
        "reconciles",
    ]
    if derived.empty or published.empty:
        return pd.DataFrame(columns=columns)
    both = derived.merge(published, on=["region_code", "year"], suffixes=("_derived", "_published"))
    if both.empty:
        return pd.DataFrame(columns=columns)
    radius = both["rounding_radius"].fillna(0.0)
    compared = pd.DataFrame(
        {
            "region_code": both["region_code"],
            "year": both["year"],
            "derived": both["value_derived"],
            "derived_low": both["value_low"],
            "derived_high": both["value_high"],
            "derived_sources": both["source_ids"],
            "published": both["value_published"],
            "published_low": both["value_published"] - radius,
            "published_high": both["value_published"] + radius,
            "published_source": both["source_id"],
        }
    )
    # Intervals [derived_low, derived_high] and [published_low, published_high) must overlap.
    compared["reconciles"] = (compared["derived_low"] < compared["published_high"]) & (
        compared["derived_high"] >= compared["published_low"]
    )
    return compared[columns]
