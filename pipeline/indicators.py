"""Indicators: urban–rural ratios derived from observations, published ratios carried, and their reconciliation."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.metadata import load_indicator_catalog
from pipeline.schemas import indicator_schema
from pipeline.sidecar import AUTHORITY_RANK
from pipeline.validate import schema_check_result

GROUP = "indicators"
INDICATOR_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "method", "status", "source_ids"]
KEY = ["region_code", "year", "indicator_code"]


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources")})
def indicators(observations: pd.DataFrame, sources: pd.DataFrame, indicator_catalog: pd.DataFrame) -> pd.DataFrame:
    """Derived indicators for every region-year whose inputs exist, and published values carried as published."""
    preferred = preferred_observations(observations, sources)
    derived_codes = indicator_catalog[indicator_catalog["kind"] == "derived"]
    frames = [
        derive_ratio(preferred, entry.indicator_code, *entry.inputs.split(";"), unit=entry.unit)[INDICATOR_COLUMNS]
        for entry in derived_codes.itertuples(index=False)
        if entry.derivation == "ratio"
    ]
    frames.append(published_values(preferred, list(derived_codes["indicator_code"])))
    result = (
        pd.concat([frame for frame in frames if not frame.empty], ignore_index=True)
        if frames
        else pd.DataFrame(columns=INDICATOR_COLUMNS)
    )
    if result.empty:
        result = pd.DataFrame(columns=INDICATOR_COLUMNS)
    result = result.sort_values(["indicator_code", "region_code", "year", "method"], kind="stable").reset_index(
        drop=True
    )
    return result.astype({"year": "int64", "value": "float64"})[INDICATOR_COLUMNS]


def preferred_observations(observations: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """One figure per region, year and indicator: the most authoritative source, then the most precise figure."""
    rank = sources.set_index("source_id")["authority"].map(AUTHORITY_RANK)
    present = observations[observations["value"].notna()]
    ranked = present.assign(authority_rank=present["source_id"].map(rank))
    ranked = ranked.sort_values([*KEY, "authority_rank", "rounding_radius", "source_id"], kind="stable")
    return ranked.drop_duplicates(KEY, keep="first").drop(columns="authority_rank")


def derive_ratio(
    preferred: pd.DataFrame, indicator_code: str, numerator: str, denominator: str, unit: str = "ratio"
) -> pd.DataFrame:
    """numerator / denominator for every region-year with both, with the interval the printed rounding allows."""
    top = preferred[preferred["indicator_code"] == numerator].set_index(["region_code", "year"])
    bottom = preferred[preferred["indicator_code"] == denominator].set_index(["region_code", "year"])
    pairs = top.join(bottom, how="inner", lsuffix="_numerator", rsuffix="_denominator")
    pairs = pairs[pairs["value_denominator"] > 0]
    if pairs.empty:
        return pd.DataFrame(columns=[*INDICATOR_COLUMNS, "value_low", "value_high"])
    radius_top = pairs["rounding_radius_numerator"].fillna(0.0)
    radius_bottom = pairs["rounding_radius_denominator"].fillna(0.0)
    result = pd.DataFrame(
        {
            "indicator_code": indicator_code,
            "value": pairs["value_numerator"] / pairs["value_denominator"],
            "unit": unit,
            "method": "derived",
            "status": [
                merge_status(a, b) for a, b in zip(pairs["status_numerator"], pairs["status_denominator"], strict=True)
            ],
            "source_ids": [
                ";".join(sorted({a, b}))
                for a, b in zip(pairs["source_id_numerator"], pairs["source_id_denominator"], strict=True)
            ],
            "value_low": (pairs["value_numerator"] - radius_top) / (pairs["value_denominator"] + radius_bottom),
            "value_high": (pairs["value_numerator"] + radius_top) / (pairs["value_denominator"] - radius_bottom),
        }
    )
    return result.reset_index()


def published_values(preferred: pd.DataFrame, derived_codes: list[str]) -> pd.DataFrame:
    """Values of derived indicators that a source printed itself, carried with method = published."""
    printed = preferred[preferred["indicator_code"].isin(derived_codes)]
    return pd.DataFrame(
        {
            "indicator_code": printed["indicator_code"],
            "region_code": printed["region_code"],
            "year": printed["year"],
            "value": printed["value"],
            "unit": printed["unit"],
            "method": "published",
            "status": printed["status"],
            "source_ids": printed["source_id"],
        }
    )


def merge_status(*statuses: str) -> str:
    """The union of the inputs' status flags, in a stable order."""
    return "".join(sorted(set("".join(statuses)) - {":"}))


def reconcile_ratio(
    observations: pd.DataFrame, sources: pd.DataFrame, indicator_code: str, numerator: str, denominator: str
) -> pd.DataFrame:
    """Compare derived and published ratios where both exist, as intervals allowing for printed rounding."""
    preferred = preferred_observations(observations, sources)
    derived = derive_ratio(preferred, indicator_code, numerator, denominator)
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


def ratio_reconciliation_check(indicator_code: str, numerator: str, denominator: str) -> dg.AssetChecksDefinition:
    """A blocking check that derived and published values of one ratio indicator agree within rounding."""

    @dg.asset_check(
        name=f"{indicator_code}_reconciles",
        asset="indicators",
        blocking=True,
        additional_ins={"observations": dg.AssetIn("observations"), "sources": dg.AssetIn("sources")},
        description=f"Derived {indicator_code} equals the published figure wherever both exist, within the rounding of the printed figures.",
    )
    def check(indicators: pd.DataFrame, observations: pd.DataFrame, sources: pd.DataFrame) -> dg.AssetCheckResult:
        compared = reconcile_ratio(observations, sources, indicator_code, numerator, denominator)
        mismatches = compared[~compared["reconciles"].astype(bool)]
        records = [
            {key: (value.item() if hasattr(value, "item") else value) for key, value in record.items()}
            for record in compared.to_dict("records")
        ]
        description = "\n".join(
            f"{row.region_code} {row.year}: derived {row.derived:.4f} [{row.derived_low:.4f}, {row.derived_high:.4f}] from {row.derived_sources} "
            f"does not match published {row.published} [{row.published_low:.4f}, {row.published_high:.4f}) from {row.published_source}"
            for row in mismatches.itertuples(index=False)
        )
        return dg.AssetCheckResult(
            passed=mismatches.empty,
            description=description or f"{len(compared)} published figure(s) reconciled",
            metadata={
                "compared": len(compared),
                "mismatches": len(mismatches),
                "comparisons": dg.MetadataValue.json(records),
            },
        )

    return check


def ratio_reconciliation_checks() -> list[dg.AssetChecksDefinition]:
    """One reconciliation check per ratio indicator in the catalogue."""
    catalog = load_indicator_catalog()
    ratios = catalog[(catalog["kind"] == "derived") & (catalog["derivation"] == "ratio")]
    return [
        ratio_reconciliation_check(entry.indicator_code, *entry.inputs.split(";"))
        for entry in ratios.itertuples(index=False)
    ]


@dg.asset_check(
    asset=indicators,
    blocking=True,
    additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
)
def indicators_schema(
    indicators: pd.DataFrame, regions: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.AssetCheckResult:
    """Indicators have known codes, one value per method, and plausible values (ratios between 1 and 10)."""
    return schema_check_result(
        indicator_schema(list(regions["region_code"]), indicator_catalog), indicators, "indicators"
    )
