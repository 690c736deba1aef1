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

from pipeline.core.frames import code_positions, decoded_texts
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
# The observation columns equal_authority_disagreements uses.
EQUAL_AUTHORITY_COLUMNS_READ = ["source_id", "region_code", "year", "indicator_code", "value", "rounding_radius"]
# The ranking columns of preferred.CHOICE_ORDER and the rule named when a column is the first to differ.
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


def preferred_table(
    observations: pd.DataFrame, sources: pd.DataFrame, indicators: pd.DataFrame, texts_as_categories: bool = False
) -> pd.DataFrame:
    """The preferred values with method, publisher kind, reliability, the deciding rule, alternatives and spread.

    texts_as_categories: the text columns come as categoricals (codes, no string per row), for a caller that
    decodes them later (the I/O manager writes them as texts a row group at a time: STORE_CATEGORIES_AS_TEXTS).
    """
    present, ranked = ranked_candidates(observations, sources)
    coded = indicator_values(observations, sources, indicators, (present, ranked)).reset_index(drop=True)
    space = key_space(present)
    present_keys = packed_value_keys(present, space)
    starts = key_starts(present_keys)
    # Each value's key among the observations' keys (-1 where no figure is printed): one hash lookup for all below.
    key_of_value = pd.Index(present_keys[starts]).get_indexer(packed_value_keys(coded, space))
    del present_keys
    figures, low, high, published_rule, chosen = key_figures(present, ranked, starts)
    del ranked, starts
    hit = key_of_value >= 0
    per_key = np.where(hit, key_of_value, 0)
    figures = np.where(hit, figures[per_key], 0)
    low, high = np.where(hit, low[per_key], np.nan), np.where(hit, high[per_key], np.nan)
    published_rule = np.where(hit, published_rule[per_key], RULE_CODE["single_source"])
    chosen = np.where(hit, chosen[per_key], -1)
    del key_of_value, per_key, hit
    texts = categorical_texts if texts_as_categories else coded_texts
    kind_codes, grade_codes, vocabulary = value_grades(coded, chosen, present, sources)
    kinds, grades = texts(kind_codes, vocabulary), texts(grade_codes, vocabulary)
    del present, chosen, kind_codes, grade_codes
    values = coded if texts_as_categories else decoded_texts(coded)
    del coded
    derived = values["method"].eq("derived").to_numpy()
    value = values["value"].to_numpy(dtype=float)
    alternatives = np.where(derived, figures, np.maximum(figures - 1, 0))
    spread = np.where(
        figures > 0, np.fmax(high, np.where(derived, value, high)) - np.fmin(low, np.where(derived, value, low)), 0.0
    )
    del low, high
    rule = np.where(
        derived,
        np.where(figures > 0, RULE_CODE["derived_over_published"], RULE_CODE["derived"]),
        published_rule,
    )
    table = values.assign(
        publisher_kind=kinds,
        reliability=grades,
        choice_rule=texts(rule, CHOICE_RULES),
        alternatives=alternatives.astype("int64"),
        spread=np.round(spread, 10),
    )
    return table[PREFERRED_COLUMNS]


def key_starts(keys: np.ndarray) -> np.ndarray:
    """The positions where a run of equal keys begins (the keys of one indicator, region and year are neighbours)."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return np.flatnonzero(first)


def key_figures(
    present: pd.DataFrame, ranked: pd.DataFrame, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per key of the observations (a run beginning at each start): how many figures, the lowest, the highest, the
    deciding rule (its position in CHOICE_RULES) and the position of the chosen figure in present.

    ranked (ranked_candidates) holds every figure of the keys several sources give, best first and each key's
    figures together; the other keys have one figure, chosen by `single_source`.
    """
    figures = np.ones(len(starts), dtype="int64")
    low = present["value"].to_numpy(dtype=float)[starts]
    high = low.copy()
    rules = np.full(len(starts), RULE_CODE["single_source"], dtype="int8")
    chosen = starts.copy()
    if ranked.empty:
        return figures, low, high, rules, chosen
    positions = ranked["position"].to_numpy()
    # A figure's key is the run its position falls in; a key's figures are neighbours in ranked, best first.
    key = np.searchsorted(starts, positions, side="right") - 1
    bounds = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    value = ranked["value"].to_numpy(dtype=float)
    keys = key[bounds]
    figures[keys] = np.diff(np.append(bounds, len(key)))
    low[keys] = np.fmin.reduceat(value, bounds)
    high[keys] = np.fmax.reduceat(value, bounds)
    rules[keys] = deciding_rules(ranked, bounds)
    chosen[keys] = positions[bounds]
    return figures, low, high, rules, chosen


def deciding_rules(ranked: pd.DataFrame, bounds: np.ndarray) -> np.ndarray:
    """Per key (its figures beginning at each bound, two or more, best first): the deciding rule's CHOICE_RULES position.

    As deciding_rule: the first ranking column in which the best figure differs from the runner-up (missing differs
    from everything), else `source_id`.
    """
    rules = np.full(len(bounds), RULE_CODE["source_id"], dtype="int8")
    undecided = np.ones(len(bounds), dtype=bool)
    for column, rule in DECIDING_RULES.items():
        first = pd.Series(ranked[column].to_numpy(dtype=object)[bounds])
        second = pd.Series(ranked[column].to_numpy(dtype=object)[bounds + 1])
        differs = (first.ne(second) | first.isna() | second.isna()).to_numpy(dtype=bool)
        rules[undecided & differs] = RULE_CODE[rule]
        undecided &= ~differs
    return rules


def coded_texts(codes: np.ndarray, texts: list[str] | tuple[str, ...]) -> pd.api.extensions.ExtensionArray:
    """texts[code] for every code (missing where the code is -1) as a text column, by an Arrow take."""
    codes = np.asarray(codes)
    return pd.array(pa.array(list(texts), type=pa.large_string()).take(pa.array(codes, mask=codes < 0)), dtype="str")


def categorical_texts(codes: np.ndarray, texts: list[str] | tuple[str, ...]) -> pd.Categorical:
    """texts[code] for every code (missing where the code is -1) as a categorical of those texts."""
    return pd.Categorical.from_codes(np.asarray(codes), categories=pd.Index(list(texts), dtype="str"))


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
    values: pd.DataFrame, chosen: np.ndarray, present: pd.DataFrame, sources: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Publisher kind and reliability of each value: the chosen observation's, or for a derived value its inputs'.

    chosen: per value, the position in present (the observations with a value) of the figure chosen for its key.
    Both come as codes into the returned vocabulary (-1 where missing): no text object per row.
    """
    grades = source_grades(sources)
    texts: dict[str, int] = {}
    kinds = np.full(len(values), -1, dtype="int64")
    reliabilities = np.full(len(values), -1, dtype="int64")
    method = values["method"]
    published = method.eq("published").to_numpy(dtype=bool, na_value=False)
    positions = np.flatnonzero(published)
    if len(positions):
        source_ids = values["source_ids"].iloc[positions]
        kinds[positions] = per_code_text(source_ids, grades["publisher_kind"], texts)
        looked_up = figure_reliabilities(chosen[positions], present, texts)
        fallback = per_code_text(source_ids, grades["source_grade"], texts)
        reliabilities[positions] = np.where(looked_up < 0, fallback, looked_up)
    positions = np.flatnonzero(~published & method.notna().to_numpy())
    if len(positions):
        derived_kinds, derived_grades = derived_value_grades(values.iloc[positions], grades, texts)
        kinds[positions], reliabilities[positions] = derived_kinds, derived_grades
    return kinds, reliabilities, list(texts)


def text_code(text: object, texts: dict[str, int]) -> int:
    """The code of a text in a growing vocabulary (-1 for a missing text)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return -1
    return texts.setdefault(str(text), len(texts))


def per_code_text(codes: pd.Series, mapping: pd.Series, texts: dict[str, int]) -> np.ndarray:
    """The vocabulary code of mapping[code] for every row (-1 where unknown or missing), looked up once per code."""
    positions, distinct = code_positions(codes)
    looked_up = mapping.reindex(distinct).to_numpy(dtype=object)
    return np.append(np.array([text_code(text, texts) for text in looked_up], dtype="int64"), -1)[positions]


def figure_reliabilities(chosen: np.ndarray, present: pd.DataFrame, texts: dict[str, int]) -> np.ndarray:
    """The vocabulary code of the reliability of the observation at each position of present (-1 where none)."""
    found = np.full(len(chosen), -1, dtype="int64")
    valid = np.flatnonzero(chosen >= 0)
    if "reliability" not in present or len(valid) == 0:
        return found
    positions, distinct = code_positions(present["reliability"].iloc[chosen[valid]])
    looked_up = distinct.astype("str").to_numpy(dtype=object)
    found[valid] = np.append(np.array([text_code(text, texts) for text in looked_up], dtype="int64"), -1)[positions]
    return found


def derived_value_grades(
    values: pd.DataFrame, grades: pd.DataFrame, texts: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary codes of the publisher kinds and reliability of derived values: their inputs' kinds, and the weakest
    input grade (a `u` status makes it `unofficial`)."""
    codes, distinct = code_positions(values["source_ids"])
    kind_of, basis_of = [], []
    for source_ids in distinct:
        ids = [part for part in str(source_ids).split(";") if part]
        kind = ";".join(sorted({str(grades["publisher_kind"].get(part, "")) for part in ids} - {""}))
        kind_of.append(text_code(kind, texts))
        basis = weakest_grade([str(grades["source_grade"].get(part, "")) for part in ids])
        # An unofficial input without `u` was corroborated (the grading rule removed its flag).
        basis_of.append(text_code("corroborated" if basis == "unofficial" else basis, texts))
    kinds = np.array([*kind_of, -1], dtype="int64")[codes]  # code -1 (no source ids) → missing
    basis = np.array([*basis_of, -1], dtype="int64")[codes]
    statuses, distinct_statuses = code_positions(values["status"])
    flagged = pd.Series(distinct_statuses, dtype=object).astype(str).str.contains("u", regex=False)
    low = np.append(flagged.to_numpy(dtype=bool, na_value=False), False)[statuses]  # a missing status has no flag
    return kinds, np.where(low & (codes >= 0), text_code("unofficial", texts), basis)


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
