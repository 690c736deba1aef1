"""Build pipeline/metadata/regions.csv: Guangdong, its cities, all county-level units and Guangzhou's towns/streets.

Codes and names come from two third-party copies of the NBS division codes kept in the reference collection:
leiii/census (2020 census yearbook rows: province, 21 cities, 122 county-level units) and
modood/Administrative-divisions-of-China (2023 统计用区划代码: towns/streets with 9-digit codes).
English names are Hanyu Pinyin from `pypinyin` (not in the project's lock: run this script in a separate
environment with `pip install pypinyin==0.55.0`), corrected by hand in PINYIN_OVERRIDES where pypinyin reads a
place-name character wrongly. Rows already in regions.csv (China, Guangdong, the cities and Guangzhou's districts
with their 一区一策 groups and flags) are kept exactly as they are.

Usage: python scripts/build_regions.py [--reference-dir ../shared/reference]
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE_DIR = Path(os.environ.get("REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
REGIONS_FILE = REPO_ROOT / "pipeline" / "metadata" / "regions.csv"
COLUMNS = [
    "region_code",
    "name_zh",
    "name_en",
    "level",
    "parent_code",
    "district_group",
    "typical_county",
    "paired_city",
]
GUANGZHOU_CITY_CODE = "4401"
# Stems whose pinyin pypinyin gets wrong (polyphonic characters in place names), checked by hand.
PINYIN_OVERRIDES = {
    "佛冈": "Fogang",
    "花都": "Huadu",
    "大埔": "Dabu",
    "乐昌": "Lechang",
    "城区": "Chengqu",
    "乳源": "Ruyuan",
    "连山": "Lianshan",
    "连南": "Liannan",
    "梅县": "Meixian",
    "黄埔": "Huangpu",
    "宝安": "Bao'an",
    "云安": "Yun'an",
    "潮安": "Chao'an",
    "南澳": "Nan'ao",
    "东涌": "Dongchong",
    "石碁": "Shiqi",
    "钟落潭": "Zhongluotan",
    "茶滘": "Chajiao",
    "东漖": "Dongjiao",
    "冼村": "Xiancun",
    "员村": "Yuancun",
    "赤坭": "Chini",
    "炭步": "Tanbu",
    "横沥": "Hengli",
    "大岗": "Dagang",
    "榄核": "Lanhe",
    "万顷沙": "Wanqingsha",
    "江埔": "Jiangpu",
    "吕田": "Lütian",
    "鳌头": "Aotou",
    "派潭": "Paitan",
    "正果": "Zhengguo",
    "海幢": "Haizhuang",
    "车陂": "Chebei",
    "棠下": "Tangxia",
    "猎德": "Liede",
    "长兴": "Changxing",
    "长洲": "Changzhou",
    "长岭": "Changling",
    "沙头": "Shatou",
    "沙湾": "Shawan",
    "白鹤洞": "Baihedong",
    "石围塘": "Shiweitang",
    "南华西": "Nanhuaxi",
    "梅花村": "Meihuacun",
    "黄花岗": "Huanghuagang",
    "小谷围": "Xiaoguwei",
    "三元里": "Sanyuanli",
    "黄龙带": "Huanglongdai",
    "大岭山": "Dalingshan",
}
AUTONOMOUS_SUFFIXES = ["壮族瑶族自治县", "瑶族自治县"]
TOWN_SUFFIXES = {"街道": "Subdistrict", "镇": "Town", "水库": "Reservoir", "林场": "Forest Farm"}


def main() -> None:
    """Read the reference files, keep the existing rows, add the missing ones and write regions.csv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR)
    arguments = parser.parse_args()
    files = arguments.reference_dir / "files"
    existing = read_rows(REGIONS_FILE)
    known = {row["region_code"] for row in existing}
    rows = list(existing)
    for row in county_level_rows(files / "leiii_census_county_2020_v1_guangdong.csv"):
        if row["region_code"] not in known:
            rows.append(row)
            known.add(row["region_code"])
    for row in guangzhou_town_rows(files / "modood_streets_guangdong_44.csv"):
        if row["region_code"] not in known:
            rows.append(row)
            known.add(row["region_code"])
    with REGIONS_FILE.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{REGIONS_FILE}: {len(rows)} regions")


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file as dictionaries."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def county_level_rows(path: Path) -> list[dict]:
    """Every county-level unit (code not ending in 00) of the census yearbook sheet, with its level and parent city."""
    rows = []
    for record in read_rows(path):
        code = record["区划代码"]
        if code.endswith("00"):
            continue
        name = record["区县"]
        rows.append(region_row(code, name, county_level(name), code[:4] + "00"))
    return rows


def guangzhou_town_rows(path: Path) -> list[dict]:
    """Guangzhou's towns, streets and other town-level units with their 9-digit codes."""
    return [
        region_row(record["code"], record["name"], "town", record["areaCode"])
        for record in read_rows(path)
        if record["cityCode"] == GUANGZHOU_CITY_CODE
    ]


def region_row(code: str, name: str, level: str, parent: str) -> dict:
    """One regions.csv row with no programme flags."""
    return {
        "region_code": code,
        "name_zh": name,
        "name_en": english_name(name, level),
        "level": level,
        "parent_code": parent,
        "district_group": "",
        "typical_county": "false",
        "paired_city": "false",
    }


def county_level(name: str) -> str:
    """district (市辖区), county (县, 自治县) or county_city (县级市), from the name's last character."""
    if name.endswith("区"):
        return "district"
    if name.endswith("县"):
        return "county"
    if name.endswith("市"):
        return "county_city"
    raise ValueError(f"no county level for {name!r}")


def english_name(name: str, level: str) -> str:
    """Pinyin of the name without its administrative suffix; towns keep a translated suffix."""
    if level == "town":
        for suffix, english in TOWN_SUFFIXES.items():
            if name.endswith(suffix):
                return f"{stem_pinyin(name.removesuffix(suffix))} {english}"
        raise ValueError(f"no town suffix in {name!r}")
    for suffix in AUTONOMOUS_SUFFIXES:
        if name.endswith(suffix):
            return f"{stem_pinyin(name.removesuffix(suffix))} {'Zhuang and Yao' if '壮族' in suffix else 'Yao'} Autonomous County"
    if name == "城区":
        return stem_pinyin(name)
    return stem_pinyin(name[:-1])


def stem_pinyin(stem: str) -> str:
    """Hanyu Pinyin of a place-name stem, written as one capitalised word."""
    if stem in PINYIN_OVERRIDES:
        return PINYIN_OVERRIDES[stem]
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(stem)).capitalize()


if __name__ == "__main__":
    main()
