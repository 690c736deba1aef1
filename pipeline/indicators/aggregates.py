"""Aggregates of the 一区一策 district groups and the typical counties, and Guangzhou's ratios to its paired cities."""

from __future__ import annotations

import pandas as pd

from pipeline.core.frames import empty_frame
from pipeline.indicators.derive import merge_source_ids, merge_status, merged_column

# The paired_city flag in regions.csv means "paired with Guangzhou for cooperation".
PAIRING_REFERENCE_REGION = "440100"
GROUP_AGGREGATE_COLUMNS = [
    "indicator_code",
    "group_code",
    "parent_region_code",
    "year",
    "value",
    "unit",
    "rule",
    "weight_indicator_code",
    "n_members",
    "member_codes",
    "status",
    "source_ids",
]
GROUP_AGGREGATE_DTYPES = {
    "indicator_code": "str",
    "group_code": "str",
    "parent_region_code": "str",
    "year": "int64",
    "value": "float64",
    "unit": "str",
    "rule": "str",
    "weight_indicator_code": "str",
    "n_members": "int64",
    "member_codes": "str",
    "status": "str",
    "source_ids": "str",
}
PAIRED_RATIO_COLUMNS = [
    "indicator_code",
    "reference_region_code",
    "region_code",
    "year",
    "reference_value",
    "region_value",
    "value",
    "status",
    "source_ids",
]
PAIRED_RATIO_DTYPES = {
    "indicator_code": "str",
    "reference_region_code": "str",
    "region_code": "str",
    "year": "int64",
    "reference_value": "float64",
    "region_value": "float64",
    "value": "float64",
    "status": "str",
    "source_ids": "str",
}
TYPICAL_COUNTY_GROUP = "typical_county"


def region_groups(regions: pd.DataFrame) -> pd.DataFrame:
    """Group membership: each 一区一策 district group and each city's typical counties, coded `<parent>:<group>`."""
    district = regions[regions["district_group"].notna()]
    district = district.assign(group=district["district_group"])
    typical = regions[regions["typical_county"].astype(bool)]
    typical = typical.assign(group=TYPICAL_COUNTY_GROUP)
    members = pd.concat([district, typical], ignore_index=True)
    members = members[members["parent_code"].notna()]
    members = members.assign(
        group_code=members["parent_code"] + ":" + members["group"], parent_region_code=members["parent_code"]
    )
    return members[["group_code", "parent_region_code", "group", "region_code"]].reset_index(drop=True)


def aggregate_groups(values: pd.DataFrame, groups: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Group aggregates: sums of extensive measures, weighted means of rates; none when a member lacks a value."""
    rows = []
    # Only the members' rows matter: one pass over the values instead of one per catalogue entry.
    values = values[values["region_code"].isin(groups["region_code"])]
    members_of = groups.groupby("group_code")["region_code"].apply(sorted).to_dict()
    parent_of = groups.drop_duplicates("group_code").set_index("group_code")["parent_region_code"].to_dict()
    indexed = values.set_index(["indicator_code", "region_code", "year"])
    for entry in catalog[catalog["aggregation"] != ""].itertuples(index=False):
        series = values[values["indicator_code"] == entry.indicator_code]
        weight_codes = [code for code in entry.weights.split(";") if code]
        for group_code, members in members_of.items():
            present = series[series["region_code"].isin(members)]
            for year, group_values in present.groupby("year"):
                if len(group_values) < len(members):
                    continue
                row = aggregate_group(group_values, entry, weight_codes, indexed, year)
                if row is None:
                    continue
                rows.append(
                    {
                        "indicator_code": entry.indicator_code,
                        "group_code": group_code,
                        "parent_region_code": parent_of[group_code],
                        "year": year,
                        "unit": entry.unit,
                        "rule": entry.aggregation,
                        "n_members": len(members),
                        "member_codes": ";".join(members),
                        **row,
                    }
                )
    if not rows:
        return empty_frame(GROUP_AGGREGATE_DTYPES)
    result = pd.DataFrame(rows)[GROUP_AGGREGATE_COLUMNS]
    return (
        result.sort_values(["indicator_code", "group_code", "year"], kind="stable")
        .reset_index(drop=True)
        .astype(GROUP_AGGREGATE_DTYPES)
    )


def aggregate_group(group_values: pd.DataFrame, entry, weight_codes: list[str], indexed: pd.DataFrame, year: int):
    """One group-year aggregate (value, weight code, status, sources), or None when the weights are incomplete."""
    statuses = list(group_values["status"])
    sources = list(group_values["source_ids"])
    if entry.aggregation == "sum":
        return {
            "value": float(group_values["value"].sum()),
            "weight_indicator_code": "",
            "status": merge_status(*statuses),
            "source_ids": merge_source_ids(*sources),
        }
    for weight_code in weight_codes:
        keys = [(weight_code, region, year) for region in group_values["region_code"]]
        weights = indexed.reindex(keys)
        if weights["value"].isna().any() or (weights["value"] <= 0).any():
            continue
        weight_values = weights["value"].to_numpy()
        return {
            "value": float((group_values["value"].to_numpy() * weight_values).sum() / weight_values.sum()),
            "weight_indicator_code": weight_code,
            "status": merge_status(*statuses, *weights["status"]),
            "source_ids": merge_source_ids(*sources, *weights["source_ids"]),
        }
    return None


def pair_ratios(
    values: pd.DataFrame, reference_region: str, paired_regions: list[str], codes: list[str]
) -> pd.DataFrame:
    """reference ÷ each paired region, per indicator and year, where both values are positive."""
    selected = values[values["indicator_code"].isin(codes) & (values["value"] > 0)]
    reference = selected[selected["region_code"] == reference_region]
    partners = selected[selected["region_code"].isin(paired_regions) & (selected["region_code"] != reference_region)]
    pairs = partners.merge(reference, on=["indicator_code", "year"], suffixes=("_region", "_reference"))
    if pairs.empty:
        return empty_frame(PAIRED_RATIO_DTYPES)
    result = pd.DataFrame(
        {
            "indicator_code": pairs["indicator_code"],
            "reference_region_code": pairs["region_code_reference"],
            "region_code": pairs["region_code_region"],
            "year": pairs["year"],
            "reference_value": pairs["value_reference"],
            "region_value": pairs["value_region"],
            "value": pairs["value_reference"] / pairs["value_region"],
            "status": merged_column(pairs, "status", ["_reference", "_region"], merge_status),
            "source_ids": merged_column(pairs, "source_ids", ["_reference", "_region"], merge_source_ids),
        }
    )
    result = result.sort_values(["indicator_code", "region_code", "year"], kind="stable").reset_index(drop=True)
    return result.astype(PAIRED_RATIO_DTYPES)[PAIRED_RATIO_COLUMNS]
