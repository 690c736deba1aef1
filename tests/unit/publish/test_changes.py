"""CHANGES.md rows by primary key: added, removed and changed rows, missing values, float noise (issue 17).

Every table here is made up (short codes, small numbers); nothing is read from raw/. The rules checked are those
CHANGES.md has always applied: values compared exactly (a change of 1e-12 is a change, 0.0 and -0.0 are equal),
missing equal to missing, text compared by value whether stored as text or as categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.core.tables import ParquetSource
from pipeline.defs.storage import parquet_frame, parquet_table
from pipeline.publish.release import write
from pipeline.publish.release.changes import ReleasedTable, changes_markdown, compare_table, largest_value_changes
from pipeline.publish.release.versions import Release

KEY = ["region_code", "year"]


def made_up_old() -> pd.DataFrame:
    """The previous release's made-up table."""
    return pd.DataFrame(
        {
            "region_code": ["r1", "r1", "r1", "r2", "r2", "r2", "r3", "r3", "r4"],
            "year": [2000, 2001, 2002, 2000, 2001, 2002, 2000, 2001, 2000],
            "value": [1.0, None, 2.0, None, 1.0, 0.0, 0.0, 4.0, 9.0],
            "count": pd.array([1, None, 3, 4, 5, 6, 7, None, 9], dtype="Int64"),
            "status": ["a", "a", None, "a", "a", "a", "a", "a", "a"],
        }
    )


def made_up_new() -> pd.DataFrame:
    """The new made-up table: r4 removed, r5 added, rows in another order, status as categories."""
    frame = pd.DataFrame(
        {
            "region_code": ["r5", "r3", "r3", "r2", "r2", "r2", "r1", "r1", "r1"],
            "year": [2000, 2001, 2000, 2002, 2001, 2000, 2002, 2001, 2000],
            "value": [7.0, 4.0, 3.0, -0.0, 1.0 + 1e-12, 5.0, None, np.nan, 1.0],
            "count": pd.array([1, None, 7, 6, 5, 4, 3, None, 2], dtype="Int64"),
            "status": ["a", "b", "a", "a", "a", "a", None, "a", "a"],
        }
    )
    frame["status"] = pd.Categorical(frame["status"], categories=["b", "a", "unused"])
    return frame


def stored(frame: pd.DataFrame, path) -> ParquetSource:
    """The frame stored as ColumnarIOManager stores it (row groups of two rows), as a source over the file."""
    table = parquet_table(frame)
    assert table is not None
    pq.write_table(table, path, row_group_size=2)
    return ParquetSource(open_file=lambda: open(path, "rb"), to_frame=parquet_frame)


EXPECTED_LINES = [
    # relative changes without a ratio first (missing on one side, or from 0), in column then new-row order
    "| region_code=r3, year=2000 | value | 0 | 3 | +3 | from 0 |",
    "| region_code=r2, year=2000 | value | – | 5 | – | filled |",
    "| region_code=r1, year=2002 | value | 2 | – | – | now missing |",
    "| region_code=r1, year=2000 | count | 1 | 2 | +1 | +100% |",
    "| region_code=r2, year=2001 | value | 1 | 1 | +1.00009e-12 | +1e-10% |",
]


@pytest.mark.parametrize("form", ["stored files", "frames"])
def test_rows_added_removed_and_changed_with_missing_values_and_float_noise(tmp_path, form):
    """r4 removed, r5 added; changed: from 0, filled, now missing, a count, float noise, a text; not -0.0, NaN."""
    old, new = made_up_old(), made_up_new()
    if form == "stored files":
        write.write_table_file(old, None, tmp_path / "old.parquet")
        compared = compare_table(ReleasedTable(tmp_path / "old.parquet"), stored(new, tmp_path / "new"), KEY)
    else:
        compared = compare_table(old, new, KEY)
    assert compared is not None
    added, removed, changed, lines = compared
    assert (added, removed, changed) == (1, 1, 6)
    assert lines == EXPECTED_LINES
    old_indexed, new_indexed = old.set_index(KEY), new.set_index(KEY)
    common = new_indexed.index.intersection(old_indexed.index)
    assert lines == largest_value_changes(old_indexed.loc[common], new_indexed.loc[common], KEY)


def test_keys_and_columns_of_other_types_are_compared_in_pandas(tmp_path):
    """A float key and a column that is integers before and floats after give the same counts as by objects."""
    old = made_up_old().astype({"year": "float64"})
    new = made_up_new().astype({"year": "float64", "count": "float64"})
    new.loc[0, "count"] = 1.5
    added, removed, changed, lines = compare_table(old, new, KEY) or (None, None, None, [])
    assert (added, removed, changed) == (1, 1, 6)
    assert lines[0] == "| region_code=r3, year=2000.0 | value | 0 | 3 | +3 | from 0 |"
    assert compare_table(old, pd.concat([new, new.iloc[:1]]), KEY) is None  # a duplicated key: not compared


def test_the_whole_changes_file_names_rows_and_codes(tmp_path):
    """CHANGES.md of the made-up table: the summary row, its largest changes, new and retired region codes."""
    write.write_table_file(made_up_old(), None, tmp_path / "things.parquet")
    previous = Release(
        "2026.01.01.1", tmp_path, {"resources": [{"name": "things", "path": "things.parquet", "format": "parquet"}]}
    )
    markdown = changes_markdown(
        {"things": stored(made_up_new(), tmp_path / "new")}, {"things": KEY}, "2026.01.02.1", previous
    )
    lines = markdown.splitlines()
    assert "| things | 9 | 9 | 1 | 1 | 6 |" in lines
    assert lines[lines.index("### things") + 4 : lines.index("### things") + 9] == EXPECTED_LINES
    assert "- New region codes: (1) r5" in lines and "- Retired region codes: (1) r4" in lines
    assert "- New indicator codes: none" in lines
