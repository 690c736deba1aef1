"""MADE-UP frames (invented figures, not statistics) for the chart and report tests, and the PNG signature."""

from __future__ import annotations

import pandas as pd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# MADE-UP frames (invented figures, not statistics), shaped like the published tables.
REGIONS = pd.DataFrame(
    {
        "region_code": ["CN", "440000", "440100", "440103", "440104", "440111", "441400", "440800"],
        "name_zh": ["全国", "广东省", "广州市", "荔湾区", "越秀区", "白云区", "梅州市", "湛江市"],
        "name_en": ["China", "Guangdong", "Guangzhou", "Liwan", "Yuexiu", "Baiyun", "Meizhou", "Zhanjiang"],
        "level": ["country", "province", "prefecture_city", "district", "district", "district", "prefecture_city"] * 1
        + ["prefecture_city"],
        "parent_code": [None, "CN", "440000", "440100", "440100", "440100", "440000", "440000"],
    }
)
CATALOG = pd.DataFrame(
    {
        "indicator_code": ["urban_rural_income_ratio", "rural_consumption_expenditure_per_capita"],
        "name_zh": ["城乡居民人均可支配收入比", "农村居民人均消费支出"],
    }
)


# MADE-UP sources: a statistics bureau, a news report and a self-media page (publishers invented).
SOURCES = pd.DataFrame(
    {
        "source_id": ["made_up", "made_up_news", "made_up_blog"],
        "publisher": ["某市统计局 (made up)", "某报 (made up)", "某博客 (made up)"],
        "url_kind": ["official", "news", "self_media"],
        "authority": ["official", "news_report", "low_confidence"],
        "url": ["https://bureau.example/", "https://news.example/", "https://blog.example/"],
    }
)


def made_up_indicators(guangzhou_2022: float = 2.2) -> pd.DataFrame:
    """Income ratios: China and Guangdong derived, Guangdong also published, Guangzhou's 2022 flagged `u`, a gap in 2015.

    Sources: the bureau for all but Guangzhou: its 2022 derived value rests on the bureau and a self-media page, its
    2023 published value on a news report.
    """
    rows = [
        ("CN", 2020, 2.6, "derived", "", "made_up"),
        ("CN", 2021, 2.5, "derived", "", "made_up"),
        ("440000", 2013, 2.7, "derived", "", "made_up"),
        ("440000", 2014, 2.65, "derived", "", "made_up"),
        ("440000", 2016, 2.6, "derived", "", "made_up"),
        ("440000", 2016, 2.61, "published", "", "made_up"),
        ("440100", 2022, guangzhou_2022, "derived", "u", "made_up;made_up_blog"),
        ("440100", 2023, 2.1, "published", "", "made_up_news"),
    ]
    frame = pd.DataFrame(rows, columns=["region_code", "year", "value", "method", "status", "source_ids"])
    return frame.assign(indicator_code="urban_rural_income_ratio", unit="ratio")


def made_up_values() -> pd.DataFrame:
    """Urbanisation rates of three Guangzhou districts over two years."""
    rows = [("440103", 2018, 90.0), ("440103", 2019, 91.0), ("440104", 2018, 100.0), ("440104", 2019, 100.0)]
    rows += [("440111", 2018, 80.0), ("440111", 2019, 82.0)]
    frame = pd.DataFrame(rows, columns=["region_code", "year", "value"])
    return frame.assign(indicator_code="urbanisation_rate")


def made_up_dispersion() -> pd.DataFrame:
    """The districts' CV in two years."""
    return pd.DataFrame(
        {
            "indicator_code": "urbanisation_rate",
            "parent_region_code": "440100",
            "unit_level": "county_level",
            "year": [2018, 2019],
            "measure": "cv",
            "value": [0.09, 0.08],
            "n_units": [5, 5],
            "weight_indicator_code": "",
        }
    )


def made_up_paired() -> pd.DataFrame:
    """Guangzhou ÷ two paired cities for one indicator, one value flagged `p`."""
    return pd.DataFrame(
        {
            "indicator_code": "rural_consumption_expenditure_per_capita",
            "reference_region_code": "440100",
            "region_code": ["441400", "441400", "440800"],
            "year": [2020, 2021, 2021],
            "reference_value": [30.0, 32.0, 32.0],
            "region_value": [20.0, 21.0, 18.0],
            "value": [1.5, 32.0 / 21.0, 32.0 / 18.0],
            "status": ["", "p", ""],
            "source_ids": "made_up",
        }
    )
