"""Write the 2020 (and 2010) census population tables of raw/ from the leiii/census files in the reference collection.

leiii/census (MIT licence, Dong, Du & Liu 2022) compiles the 7th census yearbook (sheet 七普（年鉴）, county level)
and the city-level 2010/2020 census figures. This script copies three of their columns per region (total, urban and
rural population) without changing a figure, into:
- raw/gd_census_2020_county.csv: Guangdong, its 21 cities and 122 county-level units, 2020 (one figure per row);
- raw/gd_census_city_2010_2020.csv: the 21 cities, 2010 and 2020 (regions and indicators as rows, years as columns).
The files themselves are not committed (third-party data); only these three columns, with attribution in the sidecars.

Usage: python scripts/derive_census_tables.py [--reference-dir ../shared/reference]
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE_DIR = Path(os.environ.get("REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
RAW_DIR = REPO_ROOT / "raw"
COUNTY_FILE = "leiii_census_county_2020_v1_guangdong.csv"
CITY_FILE = "leiii_census_city_2010-2020_v1_guangdong.csv"
COUNTY_COLUMNS = ["人口数_合计", "城镇人口", "乡村人口"]
CITY_SERIES = {"人口数_合计": "popu_{year}", "城镇人口": "popu_urban_{year}", "乡村人口": "popu_rural_{year}"}


def main() -> None:
    """Read the two leiii files and write the two raw tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR)
    files = parser.parse_args().reference_dir / "files"
    write_county_table(read_rows(files / COUNTY_FILE))
    write_city_table(read_rows(files / CITY_FILE))


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file as dictionaries."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def region_name(record: dict) -> str:
    """The printed name of a census-yearbook row: the county, or the city / province on their total rows."""
    code = record["区划代码"]
    if code == "440000":
        return record["省"]
    if code.endswith("00"):
        return record["市"]
    return record["区县"]


def write_county_table(records: list[dict]) -> None:
    """One figure per row: code, region, indicator column name as printed in the sheet, value, unit."""
    rows = [
        [record["区划代码"], region_name(record), column, record[column], "人"]
        for record in records
        for column in COUNTY_COLUMNS
    ]
    write_csv("gd_census_2020_county", ["区划代码", "地区", "指标", "数值", "单位"], rows)


def write_city_table(records: list[dict]) -> None:
    """Cities and the three population series as rows, 2010 and 2020 as columns."""
    rows = [
        [
            record["city_code"],
            record["city"],
            label,
            "人",
            record[column.format(year=2010)],
            record[column.format(year=2020)],
        ]
        for record in records
        for label, column in CITY_SERIES.items()
    ]
    write_csv("gd_census_city_2010_2020", ["区划代码", "地区", "指标", "单位", "2010", "2020"], rows)


def write_csv(source_id: str, header: list[str], rows: list[list[str]]) -> None:
    """Write raw/<source_id>.csv in UTF-8 with LF line ends."""
    path = RAW_DIR / f"{source_id}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{path}: {len(rows)} rows")


if __name__ == "__main__":
    main()
