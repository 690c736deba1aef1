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
    """Every region-year with urban and rural per-capita disposable income and an urban share strictly in (0, 1)."""
    series = {
        code: frame.drop_duplicates(["region_code", "year"], keep="first").set_index(["region_code", "year"])
        for code, frame in values[values["value"].notna()].groupby("indicator_code", observed=True)
    }
    if URBAN_INCOME not in series or RURAL_INCOME not in series:
        return empty_frame(URBAN_RURAL_THEIL_DTYPES)
    incomes = series[URBAN_INCOME].join(series[RURAL_INCOME], how="inner", suffixes=("_urban", "_rural"))
    incomes = incomes[(incomes["value_urban"] > 0) & (incomes["value_rural"] > 0)]
    rows = []
    for (region, year), row in incomes.iterrows():
        chosen = population_share(series, region, int(year))
        if chosen is None:
            continue
        basis, codes, share, statuses, sources = chosen
        urban, rural = float(row["value_urban"]), float(row["value_rural"])
        rows.append(
            {
                "indicator_code": THEIL_INDICATOR,
                "region_code": region,
                "year": int(year),
                "value": urban_rural_theil(urban, rural, share),
                "urban_income_per_capita": urban,
                "rural_income_per_capita": rural,
                "urban_population_share": share,
                "urban_income_share": urban * share / (urban * share + rural * (1.0 - share)),
                "population_basis": basis,
                "population_indicator_codes": ";".join(codes),
                "status": merge_status(str(row["status_urban"]), str(row["status_rural"]), *statuses),
                "source_ids": merge_source_ids(str(row["source_ids_urban"]), str(row["source_ids_rural"]), *sources),
            }
        )
    if not rows:
        return empty_frame(URBAN_RURAL_THEIL_DTYPES)
    table = pd.DataFrame(rows, columns=URBAN_RURAL_THEIL_COLUMNS)
    return (
        table.sort_values(["region_code", "year"], kind="stable")
        .reset_index(drop=True)
        .astype(URBAN_RURAL_THEIL_DTYPES)
    )


def population_share(series: dict[str, pd.DataFrame], region: str, year: int):
    """The first population basis with figures for the region and year: (basis, codes, urban share, statuses,
    sources), or None. The share must lie strictly between 0 and 1 (both groups present)."""
    for basis, first, second, rule in POPULATION_BASES:
        codes = [code for code in (first, second) if code]
        rows = [
            series[code].loc[(region, year)] if code in series and (region, year) in series[code].index else None
            for code in codes
        ]
        found = [row for row in rows if row is not None]
        if len(found) < len(rows):
            continue
        rows = found
        figures = [float(row["value"]) for row in rows]
        if rule == "urban_of_total":
            share = figures[0] / figures[1] if figures[1] > 0 else np.nan
        elif rule == "percent":
            share = figures[0] / 100.0
        else:
            total = figures[0] + figures[1]
            share = figures[0] / total if total > 0 else np.nan
        if not 0.0 < share < 1.0:
            continue
        return basis, codes, share, [str(row["status"]) for row in rows], [str(row["source_ids"]) for row in rows]
    return None
