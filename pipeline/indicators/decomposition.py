"""Between/within-group decomposition of the Theil index: 一区一策 groups of Guangzhou, Guangdong's four regions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.frames import empty_frame
from pipeline.validate.schemas import MINIMUM_UNITS

MINIMUM_GROUPS = 2
DECOMPOSITION_COLUMNS = [
    "indicator_code",
    "parent_region_code",
    "grouping",
    "year",
    "weighting",
    "weight_indicator_code",
    "total",
    "between",
    "within",
    "between_share",
    "n_units",
    "n_groups",
    "n_members_missing",
]
DECOMPOSITION_DTYPES = {
    "indicator_code": "str",
    "parent_region_code": "str",
    "grouping": "str",
    "year": "int64",
    "weighting": "str",
    "weight_indicator_code": "str",
    "total": "float64",
    "between": "float64",
    "within": "float64",
    "between_share": "float64",
    "n_units": "int64",
    "n_groups": "int64",
    "n_members_missing": "int64",
}


def theil_decomposition(levels: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Theil T = between + within: with pᵢ population (or 1/n) shares and sᵢ = pᵢxᵢ / Σ pⱼxⱼ income shares,
    T = Σ sᵢ ln(sᵢ/pᵢ), between = Σ_g s_g ln(s_g/p_g), within = Σ_g s_g T_g (T_g the Theil within g)."""
    population = np.full(len(levels), 1.0 / len(levels)) if weights is None else weights / weights.sum()
    income = population * levels / (population * levels).sum()
    total = float((income * np.log(income / population)).sum())
    between = 0.0
    for group in np.unique(groups):
        members = groups == group
        group_income, group_population = income[members].sum(), population[members].sum()
        between += group_income * np.log(group_income / group_population)
    return {"total": total, "between": float(between), "within": total - float(between)}


def group_memberships(regions: pd.DataFrame, economic_regions: pd.DataFrame) -> pd.DataFrame:
    """(parent_region_code, grouping, region_code, group): the 一区一策 groups and Guangdong's four regions."""
    districts = regions[regions["district_group"].notna() & (regions["district_group"].astype("str") != "")]
    parts = [
        pd.DataFrame(
            {
                "parent_region_code": districts["parent_code"].astype("str"),
                "grouping": "district_group",
                "region_code": districts["region_code"].astype("str"),
                "group": districts["district_group"].astype("str"),
            }
        )
    ]
    if not economic_regions.empty:
        parent_of = regions.set_index("region_code")["parent_code"]
        parts.append(
            pd.DataFrame(
                {
                    "parent_region_code": economic_regions["region_code"].map(parent_of).astype("str"),
                    "grouping": "guangdong_region",
                    "region_code": economic_regions["region_code"].astype("str"),
                    "group": economic_regions["economic_region"].astype("str"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def decomposition_table(values: pd.DataFrame, memberships: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Unweighted and population-weighted Theil decompositions of every dispersion indicator (not bounded shares,
    not complements) per grouping and year: every group represented, ≥5 units, ≥2 groups; members without a
    positive value are left out and counted (n_members_missing)."""
    flagged = catalog[
        catalog["dispersion"].astype(bool) & ~catalog["bounded"].astype(bool) & (catalog["complement_of"] == "")
    ]
    # Only the rows a decomposition or its weights can use: their indicators, their groupings' regions (same order).
    used_codes = set(flagged["indicator_code"]) | {
        code for weights in flagged["weights"] for code in weights.split(";")
    }
    positive = values[
        values["value"].notna()
        & (values["value"] > 0)
        & values["indicator_code"].isin(sorted(used_codes)).to_numpy(dtype=bool)
        & values["region_code"].isin(memberships["region_code"].unique()).to_numpy(dtype=bool)
    ]
    indexed = positive.drop_duplicates(["indicator_code", "region_code", "year"]).set_index(
        ["indicator_code", "region_code", "year"]
    )["value"]
    rows = []
    for entry in flagged.itertuples(index=False):
        series = positive[positive["indicator_code"] == entry.indicator_code]
        placed = series.merge(memberships, on="region_code")
        weight_codes = [code for code in entry.weights.split(";") if code]
        for (parent, grouping, year), members in placed.groupby(["parent_region_code", "grouping", "year"]):
            members = members.drop_duplicates("region_code")
            expected = memberships[
                (memberships["parent_region_code"] == parent) & (memberships["grouping"] == grouping)
            ]
            every_group = members["group"].nunique() == expected["group"].nunique()
            if not every_group or len(members) < MINIMUM_UNITS or members["group"].nunique() < MINIMUM_GROUPS:
                continue
            levels, groups = members["value"].to_numpy(dtype="float64"), members["group"].to_numpy()
            common = {
                "indicator_code": entry.indicator_code,
                "parent_region_code": parent,
                "grouping": grouping,
                "year": int(year),
            }
            common |= {
                "n_units": len(members),
                "n_groups": int(members["group"].nunique()),
                "n_members_missing": len(expected) - len(members),
            }
            rows.append(
                {
                    **common,
                    "weighting": "unweighted",
                    "weight_indicator_code": "",
                    **shares(theil_decomposition(levels, groups)),
                }
            )
            for code in weight_codes:
                keys = [(code, region, year) for region in members["region_code"]]
                weights = indexed.reindex(keys).to_numpy(dtype="float64")
                if np.isfinite(weights).all() and (weights > 0).all():
                    parts = theil_decomposition(levels, groups, weights)
                    rows.append({**common, "weighting": "population", "weight_indicator_code": code, **shares(parts)})
                    break
    if not rows:
        return empty_frame(DECOMPOSITION_DTYPES)
    table = pd.DataFrame(rows, columns=DECOMPOSITION_COLUMNS)
    order = ["indicator_code", "parent_region_code", "grouping", "year", "weighting"]
    return table.sort_values(order, kind="stable").reset_index(drop=True).astype(DECOMPOSITION_DTYPES)


def shares(parts: dict[str, float]) -> dict[str, float]:
    """The parts with the between-group share of the total (NaN when the total is 0)."""
    return {**parts, "between_share": parts["between"] / parts["total"] if parts["total"] > 0 else float("nan")}
