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
import pyarrow as pa

from pipeline.core.frames import decoded_texts, per_code, text_values
from pipeline.indicators.preferred import KEY, indicator_values, ranked_candidates
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
# The observation columns preferred_table uses (the others, such as the printed labels, need not be read for it).
OBSERVATION_COLUMNS_READ = [
    "source_id",
    "region_code",
    "year",
    "indicator_code",
    "value",
    "unit",
    "status",
    "rounding_radius",
    "reliability",
]
DECIDING_RULES = {
    "authority_rank": "authority",
    "accessed": "newest_access",
    "rounding_radius": "finest_rounding",
    "source_id": "source_id",
}
# Every choice_rule, in a fixed order: the rules are carried as their positions here and decoded once, at the end.
CHOICE_RULES = (
    "single_source",
    "derived",
    "derived_over_published",
    *dict.fromkeys(DECIDING_RULES.values()),
)
RULE_CODE = {rule: code for code, rule in enumerate(CHOICE_RULES)}
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
    present, ranked = ranked_candidates(observations, sources)
    coded = indicator_values(observations, sources, indicators, (present, ranked)).reset_index(drop=True)
    space = key_space(present)
    present_keys, values_keys = packed_value_keys(present, space), packed_value_keys(coded, space)
    figures, low, high, published_rule = candidate_figures(values_keys, present, present_keys, ranked, space)
    del ranked
    kinds, grades = value_grades(coded, values_keys, present, present_keys, sources)
    del present, present_keys, values_keys
    values = decoded_texts(coded)
    del coded
    derived = values["method"].eq("derived").to_numpy()
    value = values["value"].to_numpy(dtype=float)
    alternatives = np.where(derived, figures, np.maximum(figures - 1, 0))
    spread = np.where(
        figures > 0, np.fmax(high, np.where(derived, value, high)) - np.fmin(low, np.where(derived, value, low)), 0.0
    )
    rule = np.where(
        derived,
        np.where(figures > 0, RULE_CODE["derived_over_published"], RULE_CODE["derived"]),
        published_rule,
    )
    table = values.assign(
        publisher_kind=text_values(kinds),
        reliability=text_values(grades),
        choice_rule=rule_texts(rule),
        alternatives=alternatives.astype("int64"),
        spread=np.round(spread, 10),
    )
    return table[PREFERRED_COLUMNS]


def candidate_figures(
    values_keys: np.ndarray, present: pd.DataFrame, present_keys: np.ndarray, ranked: pd.DataFrame, space: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per value row, over the printed figures of its key: how many, the lowest, the highest and the deciding rule.

    The rule is its position in CHOICE_RULES. A key without a printed figure has 0, NaN, NaN and `single_source`.
    Keys are compared as integers packed from the codes of the observations' texts (present is in code, region, year
    order, so a key's figures are neighbours).
    """
    figures = np.ones(len(present), dtype="int64")
    low = present["value"].to_numpy(dtype=float).copy()
    high = low.copy()
    rules = np.full(len(present), RULE_CODE["single_source"], dtype="int8")
    if not ranked.empty:
        grouped = ranked.groupby(KEY, sort=False, observed=True)
        stats = grouped["value"].agg(figures="size", low="min", high="max").reset_index()
        stats_rules = np.array([RULE_CODE[deciding_rule(group)] for _, group in grouped][: len(stats)], dtype="int8")
        positions = ranked["position"].to_numpy()
        of_row = pd.Index(packed_value_keys(stats, space)).get_indexer(present_keys[positions])
        figures[positions] = stats["figures"].to_numpy(dtype="int64")[of_row]
        low[positions] = stats["low"].to_numpy(dtype=float)[of_row]
        high[positions] = stats["high"].to_numpy(dtype=float)[of_row]
        rules[positions] = stats_rules[of_row]
    first = np.ones(len(present), dtype=bool)
    first[1:] = present_keys[1:] != present_keys[:-1]
    found = pd.Index(present_keys[first]).get_indexer(values_keys)
    hit = found >= 0

    def per_value(column: np.ndarray, absent: float) -> np.ndarray:
        picked = np.full(len(values_keys), absent, dtype=column.dtype)
        picked[hit] = column[first][found[hit]]
        return picked

    return (
        per_value(figures, 0),
        per_value(low, np.nan),
        per_value(high, np.nan),
        per_value(rules, RULE_CODE["single_source"]),
    )


def rule_texts(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The choice_rule texts of rule positions in CHOICE_RULES (decoded by an Arrow take, no Python string per row)."""
    return pd.array(pa.array(CHOICE_RULES, type=pa.large_string()).take(pa.array(codes)), dtype="str")


def key_space(present: pd.DataFrame) -> dict[str, object]:
    """The distinct indicator codes and region codes of the observations and their range of years."""
    return {
        "indicator_code": distinct_texts(present["indicator_code"]),
        "region_code": distinct_texts(present["region_code"]),
        "first_year": int(present["year"].min()) if len(present) else 0,
        "last_year": int(present["year"].max()) if len(present) else 0,
    }


def distinct_texts(column: pd.Series) -> pd.Index:
    """A text or categorical column's distinct texts (its categories when categorical)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Index(column.cat.categories)
    return pd.Index(pd.unique(column.dropna()))


def codes_in(column: pd.Series, distinct: pd.Index) -> np.ndarray:
    """Each row's position among the distinct texts (-1 where its text is not among them or missing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        mapped = np.append(distinct.get_indexer(column.cat.categories), -1)
        return mapped[column.cat.codes.to_numpy()]  # code -1 (missing) takes the appended -1
    return distinct.get_indexer(column)


def packed_value_keys(frame: pd.DataFrame, space: dict) -> np.ndarray:
    """One int64 per row, equal for two rows exactly when their indicator code, region code and year are."""
    indicator = codes_in(frame["indicator_code"], space["indicator_code"]).astype("int64") + 1
    region = codes_in(frame["region_code"], space["region_code"]).astype("int64") + 1
    year = frame["year"].to_numpy(dtype="int64")
    known = (year >= space["first_year"]) & (year <= space["last_year"])
    # A year outside the observations' range matches no printed figure: region 0 then marks it unmatched.
    region = np.where(known, region, 0)
    years = space["last_year"] - space["first_year"] + 1
    return (indicator * (len(space["region_code"]) + 1) + region) * years + np.where(
        known, year - space["first_year"], 0
    )


def deciding_rule(group: pd.DataFrame) -> str:
    """The first ranking column in which the best figure of a key differs from the runner-up."""
    first, second = group.iloc[0], group.iloc[1]
    for column, rule in DECIDING_RULES.items():
        if first[column] != second[column]:
            return rule
    return "source_id"


def value_grades(
    values: pd.DataFrame,
    values_keys: np.ndarray,
    present: pd.DataFrame,
    present_keys: np.ndarray,
    sources: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Publisher kind and reliability of each value: the chosen observation's, or for a derived value its inputs'.

    values_keys and present_keys: packed_value_keys of the values and of the observations with a value.
    """
    grades = source_grades(sources)
    kinds = np.empty(len(values), dtype=object)
    reliabilities = np.empty(len(values), dtype=object)
    method = values["method"]
    published = method.eq("published").to_numpy(dtype=bool, na_value=False)
    positions = np.flatnonzero(published)
    if len(positions):
        source_ids = values["source_ids"].iloc[positions]
        kinds[positions] = per_code(source_ids, grades["publisher_kind"])
        looked_up = figure_reliabilities(source_ids, values_keys[positions], present, present_keys)
        fallback = per_code(source_ids, grades["source_grade"])
        reliabilities[positions] = np.where(pd.isna(looked_up), fallback, looked_up)
    positions = np.flatnonzero(~published & method.notna().to_numpy())
    if len(positions):
        derived_kinds, derived_grades = derived_value_grades(values.iloc[positions], grades)
        kinds[positions], reliabilities[positions] = derived_kinds, derived_grades
    return kinds, reliabilities


def figure_reliabilities(
    source_ids: pd.Series, keys: np.ndarray, present: pd.DataFrame, present_keys: np.ndarray
) -> np.ndarray:
    """The reliability of the observation with each key and source id (missing where there is none or no grade)."""
    if "reliability" not in present:
        return np.full(len(source_ids), None, dtype=object)
    distinct = distinct_texts(present["source_id"])
    width = len(distinct) + 1
    figure_keys = present_keys * width + (codes_in(present["source_id"], distinct).astype("int64") + 1)
    found = pd.Index(figure_keys).get_indexer(keys * width + (codes_in(source_ids, distinct).astype("int64") + 1))
    looked_up = np.full(len(keys), None, dtype=object)
    hit = found >= 0
    grade = present["reliability"]
    if isinstance(grade.dtype, pd.CategoricalDtype):
        # Only the rows found, through the categories: no text object per observation.
        texts = np.array([*grade.cat.categories.astype("str"), None], dtype=object)
        looked_up[hit] = texts[grade.cat.codes.to_numpy()[found[hit]]]
    else:
        looked_up[hit] = grade.iloc[found[hit]].astype("str").to_numpy(dtype=object)
    return looked_up


def derived_value_grades(values: pd.DataFrame, grades: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Publisher kinds and reliability of derived values: their inputs' kinds, and the weakest input grade."""
    codes, distinct = pd.factorize(values["source_ids"])
    kind_of, basis_of = [], []
    for source_ids in distinct:
        ids = [part for part in str(source_ids).split(";") if part]
        kind_of.append(";".join(sorted({str(grades["publisher_kind"].get(part, "")) for part in ids} - {""})))
        basis = weakest_grade([str(grades["source_grade"].get(part, "")) for part in ids])
        # An unofficial input without `u` was corroborated (the grading rule removed its flag).
        basis_of.append("corroborated" if basis == "unofficial" else basis)
    kinds = np.array([*kind_of, None], dtype=object)[codes]  # code -1 (no source ids) → None
    basis = np.array([*basis_of, None], dtype=object)[codes]
    low = values["status"].astype(str).str.contains("u", regex=False).to_numpy(dtype=bool, na_value=False)
    return kinds, np.where(low & (codes >= 0), "unofficial", basis)


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
