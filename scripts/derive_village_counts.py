"""Write raw/gd_village_urban_rural_class_2016.csv: village-level units by NBS urban-rural class code per county.

Source: Vonng/adcode (CC BY 4.0), a scrape of the NBS 2016 统计用区划代码和城乡划分代码 (as of 2016-07-31), copied
for Guangdong into the reference collection. Every village-level unit (村民委员会 and 居民委员会) carries an
urban-rural class code (城乡分类代码): 111 main urban area, 112 urban-rural fringe, 121 town centre, 122 town-rural
fringe, 123 special area, 210 village centre (乡中心区), 220 village. This script counts the units of each code in
every county-level unit, and sums them for every city whose counties are all in the file. Dongguan and Zhongshan
(cities without counties) have no village rows in the copy, so they and the province total are left out (a gap,
not a zero). A count that is zero is written as 0: the file lists every unit, so a code with no unit truly has none.

Usage: python scripts/derive_village_counts.py [--reference-dir ../shared/reference]
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE_DIR = Path(os.environ.get("REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
RAW_FILE = REPO_ROOT / "raw" / "gd_village_urban_rural_class_2016.csv"
SOURCE_FILE = "vonng_adcode_guangdong_44.csv"
CLASS_CODES = ["111", "112", "121", "122", "123", "210", "220"]
YEAR = "2016"


def main() -> None:
    """Count village-level units per county, city and class code; write the raw table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR)
    path = parser.parse_args().reference_dir / "files" / SOURCE_FILE
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    names = {record["adcode"]: record["name"] for record in records if record["level"] in ("city", "county")}
    counts: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        if record["level"] != "village":
            continue
        if record["ur_code"] not in CLASS_CODES:
            raise ValueError(f"{path}: village {record['code']} has unknown ur_code {record['ur_code']!r}")
        counts[record["code"][:6]][record["ur_code"]] += 1
    city_counts: dict[str, Counter] = defaultdict(Counter)
    for county, by_code in counts.items():
        city_counts[county[:4] + "00"].update(by_code)
    rows = []
    for city in sorted(city_counts):
        rows.extend(region_rows(city, names[city], city_counts[city]))
        for county in sorted(code for code in counts if code[:4] == city[:4]):
            rows.extend(region_rows(county, names[county], counts[county]))
    with RAW_FILE.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["区划代码", "地区", "指标", "单位", YEAR])
        writer.writerows(rows)
    print(f"{RAW_FILE}: {len(rows)} rows")


def region_rows(code: str, name: str, by_code: Counter) -> list[list[str]]:
    """The total and one row per class code for one region."""
    rows = [[code, name, "村级单位数", "个", str(sum(by_code.values()))]]
    rows += [
        [code, name, f"城乡分类代码{class_code}村级单位数", "个", str(by_code[class_code])]
        for class_code in CLASS_CODES
    ]
    return rows


if __name__ == "__main__":
    main()
