"""The urban–rural income Theil index (城乡泰尔指数) of each region and year, with the population it is weighted by."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.frames import empty_frame
from pipeline.indicators.status import merge_source_ids, merge_status

URBAN_INCOME = "urban_disposable_income_per_capita"
RURAL_INCOME = "rural_disposable_income_per_capita"
# The populations P_urban and P_rural, in order of preference: (basis, urban code, second code, how the urban share
# follows). Year-end resident population first (the population the household survey's per-capita incomes are of),
# the census urban and rural counts only where no year-end figures exist (census years).
POPULATION_BASES = [
    ("year_end_resident", "urban_resident_population", "resident_population", "urban_of_total"),
    ("year_end_resident", "urbanisation_rate", "", "percent"),
    ("census", "census_urban_population", "census_rural_population", "urban_and_rural"),
]
# Every indicator the table reads: the two incomes and the populations of every basis.
URBAN_RURAL_INPUTS = [
    URBAN_INCOME,
    RURAL_INCOME,
    *(code for _, first, second, _ in POPULATION_BASES for code in (first, second) if code),
]
THEIL_INDICATOR = "urban_rural_income_theil"
URBAN_RURAL_THEIL_COLUMNS = [
    "indicator_code",
    "region_code",
    "year",
    "value",
    "urban_income_per_capita",
    "rural_income_per_capita",
    "urban_population_share",
    "urban_income_share",
    "population_basis",
    "population_indicator_codes",
    "status",
    "source_ids",
]
URBAN_RURAL_THEIL_DTYPES = {
    "indicator_code": "str",
    "region_code": "str",
    "year": "int64",
    "value": "float64",
    "urban_income_per_capita": "float64",
    "rural_income_per_capita": "float64",
    "urban_population_share": "float64",
    "urban_income_share": "float64",
    "population_basis": "str",
    "population_indicator_codes": "str",
    "status": "str",
    "source_ids": "str",
}


def urban_rural_theil(urban_income: float, rural_income: float, urban_share: float) -> float:
    """T = Σ_j (I_j/I)·ln((I_j/I)/(P_j/P)) over j ∈ {urban, rural}, with I_j = per-capita income × P_j."""
    population = np.array([urban_share, 1.0 - urban_share])
    income = np.array([urban_income, rural_income]) * population
    income_share = income / income.sum()
    return float((income_share * np.log(income_share / population)).sum())


def urban_rural_theil_table(values: pd.DataFrame) -> pd.DataFrame:
    """Every region-year with urban and rural per-capita disposable income and an urban share strictly in (0, 1).

    Set-based: each input series is looked up for every income row at once (the first row per region and year, as
    published), the population basis is the first of POPULATION_BASES whose figures exist and give a share in
    (0, 1), and status flags and source ids are merged once per distinct combination, not once per row.
    """
    wanted = (values["indicator_code"].isin(URBAN_RURAL_INPUTS) & values["value"].notna()).to_numpy()
    return urban_rural_theil_of_series(
        {str(code): frame for code, frame in values[wanted].groupby("indicator_code", observed=True)}
    )


def urban_rural_theil_of_series(input_series: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """urban_rural_theil_table of the input series given apart: by code, each one's rows with a value, as published.

    The derivation has its inputs apart already (one pool frame per code): no stacking and regrouping of them.
    """
    series = {
        code: frame.drop_duplicates(["region_code", "year"], keep="first").set_index(["region_code", "year"])
        for code, frame in input_series.items()
        if code in URBAN_RURAL_INPUTS and not frame.empty
    }
    if URBAN_INCOME not in series or RURAL_INCOME not in series:
        return empty_frame(URBAN_RURAL_THEIL_DTYPES)
    incomes = series[URBAN_INCOME].join(series[RURAL_INCOME], how="inner", suffixes=("_urban", "_rural"))
    incomes = incomes[(incomes["value_urban"] > 0) & (incomes["value_rural"] > 0)]
    chosen = chosen_populations(series, incomes.index)
    keep = chosen["basis"].to_numpy() >= 0
    if not keep.any():
        return empty_frame(URBAN_RURAL_THEIL_DTYPES)
    incomes, chosen = incomes[keep], chosen[keep]
    urban = incomes["value_urban"].to_numpy(dtype="float64")
    rural = incomes["value_rural"].to_numpy(dtype="float64")
    share = chosen["share"].to_numpy(dtype="float64")
    basis = chosen["basis"].to_numpy()
    table = pd.DataFrame(
        {
            "indicator_code": THEIL_INDICATOR,
            "region_code": incomes.index.get_level_values("region_code").astype(object),
            "year": incomes.index.get_level_values("year").astype("int64"),
            "value": urban_rural_theil_values(urban, rural, share),
            "urban_income_per_capita": urban,
            "rural_income_per_capita": rural,
            "urban_population_share": share,
            "urban_income_share": urban * share / (urban * share + rural * (1.0 - share)),
            # Looked up per basis (three of them), not worked out per row.
            "population_basis": np.array([name for name, *_ in POPULATION_BASES], dtype=object)[basis],
            "population_indicator_codes": np.array(
                [";".join(basis_codes(position)) for position in range(len(POPULATION_BASES))], dtype=object
            )[basis],
        }
    )
    texts = pd.DataFrame(
        {
            "basis": basis,
            "status_urban": incomes["status_urban"].to_numpy(dtype=object),
            "status_rural": incomes["status_rural"].to_numpy(dtype=object),
            "sources_urban": incomes["source_ids_urban"].to_numpy(dtype=object),
            "sources_rural": incomes["source_ids_rural"].to_numpy(dtype=object),
            **{
                name: chosen[name].to_numpy(dtype=object) for name in ("status_0", "status_1", "sources_0", "sources_1")
            },
        }
    )
    table["status"], table["source_ids"] = merged_texts(texts)
    return (
        table.sort_values(["region_code", "year"], kind="stable")
        .reset_index(drop=True)
        .astype(URBAN_RURAL_THEIL_DTYPES)[URBAN_RURAL_THEIL_COLUMNS]
    )


def urban_rural_theil_values(urban_income: np.ndarray, rural_income: np.ndarray, urban_share: np.ndarray) -> np.ndarray:
    """urban_rural_theil of each element: the same operations in the same order, on arrays."""
    urban_population, rural_population = urban_share, 1.0 - urban_share
    urban_part, rural_part = urban_income * urban_population, rural_income * rural_population
    total = urban_part + rural_part
    urban_part_share, rural_part_share = urban_part / total, rural_part / total
    return urban_part_share * np.log(urban_part_share / urban_population) + rural_part_share * np.log(
        rural_part_share / rural_population
    )


def basis_codes(position: int) -> list[str]:
    """The indicator codes of one population basis (one or two)."""
    _, first, second, _ = POPULATION_BASES[position]
    return [code for code in (first, second) if code]


def chosen_populations(series: dict[str, pd.DataFrame], keys: pd.MultiIndex) -> pd.DataFrame:
    """Per (region, year) key the first population basis whose figures exist and give a share strictly in (0, 1):
    its position in POPULATION_BASES (−1 for none), the share, and its inputs' statuses and source ids."""
    chosen = pd.DataFrame(
        {
            "basis": np.full(len(keys), -1),
            "share": np.full(len(keys), np.nan),
            **{
                name: np.full(len(keys), None, dtype=object)
                for name in ("status_0", "status_1", "sources_0", "sources_1")
            },
        }
    )
    for position, (_, _, _, rule) in enumerate(POPULATION_BASES):
        codes = basis_codes(position)
        if not all(code in series for code in codes):
            continue
        rows = [series[code].reindex(keys) for code in codes]
        figures = [row["value"].to_numpy(dtype="float64") for row in rows]
        share = basis_share(rule, figures)
        with np.errstate(invalid="ignore"):
            usable = (chosen["basis"].to_numpy() < 0) & np.all([~np.isnan(figure) for figure in figures], axis=0)
            usable &= (share > 0.0) & (share < 1.0)
        chosen.loc[usable, "basis"] = position
        chosen.loc[usable, "share"] = share[usable]
        for index, row in enumerate(rows):
            chosen.loc[usable, f"status_{index}"] = row["status"].to_numpy(dtype=object)[usable]
            chosen.loc[usable, f"sources_{index}"] = row["source_ids"].to_numpy(dtype=object)[usable]
    return chosen


def basis_share(rule: str, figures: list[np.ndarray]) -> np.ndarray:
    """The urban share a basis gives: urban ÷ total, a percentage ÷ 100, or urban ÷ (urban + rural); NaN without."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule == "urban_of_total":
            return np.where(figures[1] > 0, figures[0] / figures[1], np.nan)
        if rule == "percent":
            return figures[0] / 100.0
        total = figures[0] + figures[1]
        return np.where(total > 0, figures[0] / total, np.nan)


def merged_texts(texts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """merge_status and merge_source_ids of the incomes' and the chosen populations' texts, once per combination.

    Each column is numbered by its distinct texts (str of each distinct value, as a row-by-row str would give),
    the numbers are combined into one per row, and the merge runs once per distinct combination.
    """
    combination = np.zeros(len(texts), dtype="int64")
    distinct_texts = []
    for column in texts.columns:
        codes, distinct = pd.factorize(texts[column].to_numpy(), use_na_sentinel=False)
        text_codes, text_values = pd.factorize(np.array([str(value) for value in distinct], dtype=object))
        combination, _ = pd.factorize(combination * len(text_values) + text_codes[codes])
        distinct_texts.append((text_codes[codes], text_values))
    # pd.factorize numbers combinations in order of first appearance, so these are their first rows.
    _, first_rows = np.unique(combination, return_index=True)
    statuses, sources = [], []
    for row in first_rows.tolist():
        basis, status_urban, status_rural, sources_urban, sources_rural, *inputs = (
            values[codes[row]] for codes, values in distinct_texts
        )
        count = len(basis_codes(int(basis)))
        statuses.append(merge_status(status_urban, status_rural, *inputs[:2][:count]))
        sources.append(merge_source_ids(sources_urban, sources_rural, *inputs[2:][:count]))
    return np.array(statuses, dtype=object)[combination], np.array(sources, dtype=object)[combination]
