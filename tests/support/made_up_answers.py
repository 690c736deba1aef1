"""MADE-UP questions and tables (invented figures, not statistics) for the tests of the answers section."""

from __future__ import annotations

import pandas as pd

from pipeline.core.metadata import Question

# MADE-UP regions: a city with three districts and a province with five cities (names invented).
ANSWER_REGIONS = pd.DataFrame(
    {
        "region_code": ["440000", "440100", "440103", "440104", "440111", "441400", "440800", "440200", "440300"],
        "name_zh": ["省甲", "市甲", "区一", "区二", "区三", "市乙", "市丙", "市丁", "市戊"],
        "level": ["province", "prefecture_city", "district", "district", "district"] + ["prefecture_city"] * 4,
        "parent_code": [None, "440000", "440100", "440100", "440100"] + ["440000"] * 4,
    }
)
ANSWER_CATALOG = pd.DataFrame(
    {
        "indicator_code": ["urban_rural_income_ratio", "gdp", "urbanisation_rate", "rural_population_share"],
        "name_zh": ["收入比", "生产总值", "城镇化率", "乡村人口比重"],
        "dispersion": [True, False, True, True],
        "complement_of": ["", "", "", "census_urbanisation_rate"],
    }
)
ANSWER_SOURCES = pd.DataFrame(
    {
        "source_id": ["made_up_news", "made_up_bureau"],
        "publisher": ["某报 (made up)", "某统计局 (made up)"],
        "url_kind": ["news", "official"],
        "authority": ["news_report", "official"],
        "url": ["https://news.example/a", "https://bureau.example/b"],
    }
)
CITY_RATIO_QUESTION = Question(
    code="city_ratio",
    question_zh="市甲收入比？",
    question_en="The city's ratio?",
    table="values",
    indicators=["urban_rural_income_ratio"],
    regions={"codes": ["440100"]},
    first_year=2020,
    last_year=2021,
    list_values=("urban_rural_income_ratio",),
)
DISTRICT_GDP_QUESTION = Question(
    code="district_gdp",
    question_zh="各区生产总值？",
    question_en="The districts' GDP?",
    table="values",
    indicators=["gdp"],
    regions={"children_of": "440100", "level": "district"},
    first_year=2020,
    last_year=2021,
    list_values=(),
)
CITIES_CONVERGING_QUESTION = Question(
    code="cities_converging",
    question_zh="各市收敛？",
    question_en="Cities converging?",
    table="dispersion",
    indicators={"catalogue_flag": "dispersion"},
    regions={"parent": "440000", "unit_level": "prefecture_city"},
    first_year=2020,
    last_year=2021,
    list_values=(),
)


def preferred_row(indicator_code, region_code, year, value, method, source_ids, kind, reliability, status="u"):
    """One MADE-UP preferred_values row."""
    return {
        "indicator_code": indicator_code,
        "region_code": region_code,
        "year": year,
        "value": value,
        "unit": "ratio",
        "method": method,
        "status": status,
        "source_ids": source_ids,
        "publisher_kind": kind,
        "reliability": reliability,
    }


def made_up_preferred(*extra: dict) -> pd.DataFrame:
    """The city's 2020 ratio (a news report), two districts' 2020 GDP, five cities' urbanisation in 2020, and extra rows."""
    rows = [
        preferred_row(
            "urban_rural_income_ratio", "440100", 2020, 2.1, "published", "made_up_news", "news_report", "unofficial"
        ),
        preferred_row("gdp", "440103", 2020, 100.0, "published", "made_up_bureau", "statistics_office", "official", ""),
        preferred_row("gdp", "440104", 2020, 200.0, "published", "made_up_bureau", "statistics_office", "official", ""),
    ]
    rows += [
        preferred_row(
            "urbanisation_rate",
            code,
            2020,
            50.0 + i,
            "published",
            "made_up_bureau",
            "statistics_office",
            "official",
            "",
        )
        for i, code in enumerate(["440100", "441400", "440800", "440200", "440300"])
    ]
    return pd.DataFrame([*rows, *extra])


def made_up_answer_tables(preferred: pd.DataFrame | None = None, dispersion_years=(2020,)) -> dict[str, pd.DataFrame]:
    """The tables the answers read: made-up preferred values, a dispersion of the cities' urbanisation, no β or σ."""
    dispersion = pd.DataFrame(
        {
            "indicator_code": "urbanisation_rate",
            "parent_region_code": "440000",
            "unit_level": "prefecture_city",
            "year": list(dispersion_years),
            "measure": "cv",
            "value": 0.1,
            "n_units": 5,
        }
    )
    empty = pd.DataFrame(columns=["indicator_code", "parent_region_code", "unit_level"])
    return {
        "preferred_values": made_up_preferred() if preferred is None else preferred,
        "regions": ANSWER_REGIONS,
        "indicator_catalog": ANSWER_CATALOG,
        "sources": ANSWER_SOURCES,
        "dispersion": dispersion,
        "convergence": empty.assign(window_kind=pd.Series(dtype=str)),
        "sigma_convergence": empty.assign(measure=pd.Series(dtype=str)),
    }
