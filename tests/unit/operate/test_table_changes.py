"""The closing summary's "changed" lines come from the summary table of CHANGES.md only (made-up CHANGES.md)."""

from pipeline.operate.runs import table_changes

MADE_UP_CHANGES = """# Changes in release 2026.01.02.1

Compared with release 2026.01.01.1.

## Rows by primary key

| table | rows before | rows after | added | removed | changed |
|---|---:|---:|---:|---:|---:|
| regions | 3 | 3 | 0 | 0 | 0 |
| observations | 10 | 12 | 2 | 0 | 1 |

## Largest value changes

### indicators

| key | column | before | after | change | relative |
|---|---|---:|---:|---:|---:|
| indicator_code=gdp, region_code=440115, year=2023 | value | 100 | 103 | +3 | +3% |
"""


def test_only_the_summary_table_is_read(tmp_path):
    path = tmp_path / "CHANGES.md"
    path.write_text(MADE_UP_CHANGES, encoding="utf-8")
    assert table_changes(path) == ["observations: 10 → 12 rows, 2 added, 0 removed, 1 changed"]


def test_first_release(tmp_path):
    path = tmp_path / "CHANGES.md"
    path.write_text("# Changes in release 2026.01.01.1\n\nFirst release: nothing to compare with.\n", encoding="utf-8")
    assert table_changes(path) == ["first release: nothing to compare with"]
