"""The published preferred values: one value per indicator, region and year, with who said it and why it was chosen.

Choice rule (README, "Several sources for one figure"): a value derived here from its inputs is preferred over any
published figure of the same key; among published figures, the most authoritative source (sidecar `authority`),
then the most recently accessed, then the most precisely printed, then the smallest source id. `choice_rule` names
the step that decided: `single_source`, `derived` (no published figure), `derived_over_published`, `authority`,
`newest_access`, `finest_rounding` or `source_id`. Sources of equal authority that disagree beyond rounding are
listed by `equal_authority_disagreements` (reported by a check, resolved by the same rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.frames import decoded_texts, per_code
from pipeline.indicators.preferred import KEY, VALUE_KEY, indicator_values, ranked_candidates
from pipeline.validate.grades import figures_agree, source_grades, weakest_grade

PREFERRED_COLUMNS = [
    "indicator_code",
    "region_code",
    "year",
    "value",
    "unit",
    "method",
    "status",
    "source_ids",
    "publisher_kind",
    "reliability",
    "choice_rule",
    "alternatives",
    "spread",
]
# The ranking columns of preferred.CHOICE_ORDER and the rule named when a column is the first to differ.
DECIDING_RULES = {
    "authority_rank": "authority",
    "accessed": "newest_access",
    "rounding_radius": "finest_rounding",
    "source_id": "source_id",
}
DISAGREEMENT_COLUMNS = [
    "indicator_code",
    "region_code",
    "year",
    "authority",
    "chosen_source",
    "chosen_value",
    "choice_rule",
    "figures",
]


def preferred_table(observations: pd.DataFrame, sources: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """The preferred values with method, publisher kind, reliability, the deciding rule, alternatives and spread."""
    values = decoded_texts(indicator_values(observations, sources, indicators)).reset_index(drop=True)
    present, ranked = ranked_candidates(observations, sources)
    summary = candidate_summary(present, ranked)
    merged = values[VALUE_KEY].merge(summary, on=VALUE_KEY, how="left")
    figures = merged["figures"].fillna(0).to_numpy(dtype="int64")
    low = merged["low"].to_numpy(dtype=float)
    high = merged["high"].to_numpy(dtype=float)
    derived = values["method"].eq("derived").to_numpy()
    value = values["value"].to_numpy(dtype=float)
    alternatives = np.where(derived, figures, np.maximum(figures - 1, 0))
    spread = np.where(
        figures > 0, np.fmax(high, np.where(derived, value, high)) - np.fmin(low, np.where(derived, value, low)), 0.0
    )
    rule = np.where(
        derived,
        np.where(figures > 0, "derived_over_published", "derived"),
        merged["published_rule"].fillna("single_source").to_numpy(dtype=object),
    )
    kinds, grades = value_grades(values, observations, sources)
    table = values.assign(
        publisher_kind=kinds,
        reliability=grades,
        choice_rule=rule,
        alternatives=alternatives.astype("int64"),
        spread=np.round(spread, 10),
    )
    return table[PREFERRED_COLUMNS]


def candidate_summary(present: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    """Per key with a printed figure: how many figures, their lowest and highest value, and the deciding rule."""
    single = present.assign(figures=1, low=present["value"], high=present["value"], published_rule="single_source")
    columns = [*VALUE_KEY, "figures", "low", "high", "published_rule"]
    if ranked.empty:
        return decoded_texts(single[columns])
    grouped = ranked.groupby(KEY, sort=False, observed=True)
    stats = grouped["value"].agg(figures="size", low="min", high="max").reset_index()
    stats["published_rule"] = [deciding_rule(group) for _, group in grouped][: len(stats)]
    repeated = np.zeros(len(present), dtype=bool)
    repeated[ranked["position"].to_numpy()] = True
    combined = pd.concat([decoded_texts(single[~repeated][columns]), decoded_texts(stats[columns])], ignore_index=True)
    return combined.astype({"year": "int64"})


def deciding_rule(group: pd.DataFrame) -> str:
    """The first ranking column in which the best figure of a key differs from the runner-up."""
    first, second = group.iloc[0], group.iloc[1]
    for column, rule in DECIDING_RULES.items():
        if first[column] != second[column]:
            return rule
    return "source_id"


def value_grades(
    values: pd.DataFrame, observations: pd.DataFrame, sources: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Publisher kind and reliability of each value: the chosen observation's, or for a derived value its inputs'."""
    grades = source_grades(sources)
    graded = "reliability" in observations
    by_figure = (
        observations.loc[observations["value"].notna(), [*VALUE_KEY, "source_id", "reliability"]]
        .astype({"source_id": "str", "reliability": "str"})
        .set_index([*VALUE_KEY, "source_id"])["reliability"]
        if graded
        else pd.Series(dtype="str")
    )
    kinds = np.empty(len(values), dtype=object)
    reliabilities = np.empty(len(values), dtype=object)
    for method, frame in values.groupby("method", sort=False):
        positions = frame.index.to_numpy()
        if method == "published":
            kinds[positions] = per_code(frame["source_ids"], grades["publisher_kind"])
            keys = pd.MultiIndex.from_arrays([frame[column] for column in [*VALUE_KEY, "source_ids"]])
            looked_up = by_figure.reindex(keys).to_numpy(dtype=object) if graded else np.full(len(frame), None)
            fallback = per_code(frame["source_ids"], grades["source_grade"])
            reliabilities[positions] = np.where(pd.isna(looked_up), fallback, looked_up)
            continue
        for source_ids, rows in frame.groupby("source_ids", sort=False):
            ids = [part for part in str(source_ids).split(";") if part]
            kinds[rows.index.to_numpy()] = ";".join(
                sorted({str(grades["publisher_kind"].get(part, "")) for part in ids} - {""})
            )
            basis = weakest_grade([str(grades["source_grade"].get(part, "")) for part in ids])
            low = rows["status"].astype(str).str.contains("u", regex=False).to_numpy()
            # An unofficial input without `u` was corroborated (the grading rule removed its flag).
            reliabilities[rows.index.to_numpy()] = np.where(
                low, "unofficial", "corroborated" if basis == "unofficial" else basis
            )
    return kinds, reliabilities


def equal_authority_disagreements(observations: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Keys whose most authoritative figures (two or more sources of that authority) disagree beyond rounding."""
    _, ranked = ranked_candidates(observations, sources)
    if ranked.empty:
        return pd.DataFrame(columns=DISAGREEMENT_COLUMNS)
    authority = sources.set_index("source_id")["authority"]
    rows = []
    for key, group in ranked.groupby(KEY, sort=False, observed=True):
        top = group[group["authority_rank"] == group["authority_rank"].iloc[0]]
        if len(top) < 2:
            continue
        radius = top["rounding_radius"].fillna(0.0).to_numpy(dtype=float)
        value = top["value"].to_numpy(dtype=float)
        if all(figures_agree(value[0], radius[0], value[i], radius[i]) for i in range(1, len(top))):
            continue
        region_code, year, indicator_code = key
        rows.append(
            {
                "indicator_code": str(indicator_code),
                "region_code": str(region_code),
                "year": int(year),
                "authority": str(authority.get(str(top["source_id"].iloc[0]), "")),
                "chosen_source": str(top["source_id"].iloc[0]),
                "chosen_value": float(value[0]),
                "choice_rule": deciding_rule(top),
                "figures": [
                    {
                        "source_id": str(row.source_id),
                        "value": float(row.value),
                        "rounding_radius": None if pd.isna(row.rounding_radius) else float(row.rounding_radius),
                        "accessed": str(row.accessed),
                    }
                    for row in top.itertuples(index=False)
                ],
            }
        )
    return pd.DataFrame(rows, columns=DISAGREEMENT_COLUMNS)
