"""Write raw tables from the verified figures in the reference collection's facts.csv, shaped like their publications.

Each figure in facts.csv was read from a public page and carries its source URL; this script lays the figures of one
publication out as that publication prints them (wide: indicators or regions as rows and years as columns; long: one
figure per row) so that the raw/ table can be checked against the page. It never computes or fills a figure: a year
the source does not print is not a column, and a cell it leaves blank stays blank. The provenance sidecars
(raw/<table>.meta.yaml) are written by hand; re-run `python -m pipeline rehash raw/<table>.meta.yaml` after this.
The yearbook tables (raw/gz_yearbook_2022_t8_08, gz_yearbook_2020_t2_10, gz_yearbook_2022_t1_17, gz_yearbook_2016_t1_19,
gd_yearbook_2024_t10_21) are not written here: they were transcribed by hand from the whole tables as printed (their
sidecars say so), and facts.csv's figures of those tables were checked against them (no difference).

Usage: python scripts/transcribe_reference_facts.py [--reference-dir ../shared/reference]
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE_DIR = Path(os.environ.get("REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
RAW_DIR = REPO_ROOT / "raw"

GZ_YEARBOOK_2022 = "https://tjj.gz.gov.cn/datav/admin/home/www_nj/2022/directory"
T19_02 = f"{GZ_YEARBOOK_2022}/19/html/19-02.htm"
CENSUS_BULLETIN_6 = "http://www.moonvisionstudio.com/zwgk/sjfb/tjgb/content/post_7286220.html"

# (printed label, printed unit) of each reference indicator, as the Chinese publications name them.
LABELS = {
    "gdp": ("地区生产总值", "亿元"),
    "gdp_primary": ("第一产业增加值", "亿元"),
    "gdp_secondary": ("第二产业增加值", "亿元"),
    "gdp_tertiary": ("第三产业增加值", "亿元"),
    "gdp_per_capita": ("人均地区生产总值", "元"),
    "industrial_output_above_designated_size": ("规模以上工业总产值", "亿元"),
    "resident_population_yearend": ("年末常住人口", "万人"),
    "registered_population_yearend": ("年末户籍人口", "万人"),
    "urban_population_yearend": ("年末城镇常住人口", "万人"),
    "urbanization_rate_resident": ("常住人口城镇化率", "%"),
    "census_urban_population": ("城镇人口", "人"),
    "census_rural_population": ("乡村人口", "人"),
    "census_urbanization_rate": ("城镇人口比重", "%"),
}
# One long table per web page of district and city economy/population figures: source id → page URL.
LONG_TABLES = {
    "gz_district_gdp_2023_self_media": "http://www.xingfushuangcheng.com:80/new/2bc352e6638c49e580934b3b030b15af",
    "gz_district_gdp_2023_qa_site": "https://www.fudaoke.com/exam/2990416.html",
    "gz_tianhe_economy_2023_district_page": "http://0559rc.com/zjth/tzth/zsyz/tzhj/content/post_9628226.html",
    "gz_tianhe_gdp_2021_nanfang": "https://ayc.cn/news-id-4601.html",
    "gz_tianhe_economy_2021_report_copy": "http://www.hbzqbyyxgs.com/news/652226.html",
    "gz_gdp_2020_self_media": "https://360docs.net/doc/0623415180.html",
    "gz_tianhe_2015_forum_copy": "https://bbs.bztdxxl.com/archiver/tid-719530.html",
    "gz_population_2023_xkb": "https://www.xkb.com.cn/articleDetail/300332",
    "gz_population_2019_people": "http://gd.people.com.cn/BIG5/n2/2020/0313/c123932-33873353.html",
    "gz_yearbook_2022_t19_02": T19_02,
    "gd_bulletin_2023_copy": "http://my67778.com/news/data/hongguan/20240402/165705271204822560653768.shtml",
    "gd_population_2022_bulletin_copy": "http://m.hbzqbyyxgs.com/top/433349.html",
    "gd_gdp_2022_nfapp": "https://static.nfapp.southcn.com/content/202311/16/c8307764.html",
    "gz_census_2020_bulletin_6": CENSUS_BULLETIN_6,
}
# Figures of the same pages that are not rows of facts.csv: Tianhe's 2023 GDP is printed on the district page too
# (facts.csv note on the self-media row); the three sectors of Guangdong's 2023 GDP were read on the bulletin copy in
# a page search of the project's stored corpus.
EXTRA_LONG_ROWS = {
    "gz_tianhe_economy_2023_district_page": [("天河区", "2023", "gdp", "6551.26")],
    "gd_bulletin_2023_copy": [
        ("广东省", "2023", "gdp_primary", "5540.70"),
        ("广东省", "2023", "gdp_secondary", "54437.26"),
        ("广东省", "2023", "gdp_tertiary", "75695.21"),
    ],
}


def main() -> None:
    """Read facts.csv and write every table this script owns into raw/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR)
    arguments = parser.parse_args()
    with (arguments.reference_dir / "facts.csv").open(encoding="utf-8", newline="") as handle:
        facts = list(csv.DictReader(handle))
    by_source = defaultdict(list)
    for fact in facts:
        by_source[fact["source"]].append(fact)

    for source_id, url in LONG_TABLES.items():
        # Figures of a page that an earlier raw table already holds (e.g. incomes) are not in LABELS and stay there.
        rows = [
            (fact["region_name_zh"], fact["year"], fact["indicator"], fact["value"])
            for fact in by_source[url]
            if fact["indicator"] in LABELS
        ]
        rows += EXTRA_LONG_ROWS.get(source_id, [])
        write_long(source_id, rows)


def number(text: str) -> str:
    """A value as facts.csv holds it, printed without a trailing '.0' (the figure as published)."""
    return text[:-2] if text.endswith(".0") else text


def write_csv(source_id: str, header: list[str], rows: list[list[str]]) -> None:
    """Write raw/<source_id>.csv in UTF-8 with LF line ends."""
    path = RAW_DIR / f"{source_id}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{path}: {len(rows)} rows")


def write_long(source_id: str, rows: list[tuple[str, str, str, str]]) -> None:
    """A long table: region, year, printed label, value, printed unit."""
    table = []
    for region, year, indicator, value in rows:
        label, unit = LABELS[indicator]
        table.append([region, year, label, number(value), unit])
    write_csv(source_id, ["地区", "年份", "指标", "数值", "单位"], table)


if __name__ == "__main__":
    main()
