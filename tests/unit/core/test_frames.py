"""Text held as categoricals (pipeline/frames.py) gives the same results as plain text, wherever it is used.

Every frame here is made up (short codes and labels); nothing is read from raw/.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.frames import (
    categorical_texts,
    decoded_texts,
    packed_keys,
    repeated_rows,
    spread_texts,
    stacked_frames,
)
from pipeline.defs.validate import schema_check_result
from pipeline.ingest.reader import combined_staged_tables
from pipeline.ingest.reader.model import STAGED_COLUMNS, TEXT_COLUMNS
from pipeline.publish.release.write import content_hash, update_with_column, write_table_file
from pipeline.validate.observations import ordered_observations
from pipeline.validate.schemas import StagedObservationSchema

TEXTS = st.sampled_from(["", "a", "b", "ab", "B", "街道", "村", "10", "9"])


def made_up_staged(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """A made-up staged table: (indicator, region, year, source) per row, the other columns filled in."""
    count = len(rows)
    return pd.DataFrame(
        {
            "source_id": pd.array([row[3] for row in rows], dtype="str"),
            "source_file": pd.array([f"{row[3]}.csv" for row in rows], dtype="str"),
            "source_row": np.arange(2, count + 2, dtype="int64"),
            "source_column": pd.array(["2023"] * count, dtype="str"),
            "printed_label": pd.array([f"标签{row[0]}" for row in rows], dtype="str"),
            "region_code": pd.array([row[1] for row in rows], dtype="str"),
            "year": np.array([row[2] for row in rows], dtype="int64"),
            "indicator_code": pd.array([row[0] for row in rows], dtype="str"),
            "value": np.linspace(1.0, 2.0, count),
            "unit": pd.array(["yuan"] * count, dtype="str"),
            "status": pd.array([""] * count, dtype="str"),
            "rounding_radius": np.full(count, 0.5),
        }
    )


def test_spread_texts_keeps_only_used_texts_sorted_and_none_as_missing():
    """Categories are the texts the positions use, sorted; None becomes a missing value."""
    spread = spread_texts(["b", None, "a", "unused", "b"], np.array([0, 2, 1, 4, 0]))
    assert list(spread.categories) == ["a", "b"]
    assert list(spread.astype(object)) == ["b", "a", np.nan, "b", "b"]


def test_stacked_frames_unite_categories_and_equal_plain_concatenation():
    """Categoricals with different categories stack into one categorical, sorted, holding the concatenated texts."""
    first = pd.DataFrame({"code": pd.Categorical(["x", "b"]), "value": [1.0, 2.0]})
    second = pd.DataFrame({"code": pd.array(["a", "x"], dtype="str"), "value": [3.0, 4.0]})
    stacked = stacked_frames([first, second])
    assert isinstance(stacked["code"].dtype, pd.CategoricalDtype)
    assert list(stacked["code"].cat.categories) == ["a", "b", "x"]
    assert list(stacked["code"].astype(str)) == ["x", "b", "a", "x"]
    assert list(stacked["value"]) == [1.0, 2.0, 3.0, 4.0]
    assert list(decoded_texts(stacked)["code"]) == ["x", "b", "a", "x"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXTS, TEXTS, st.integers(2000, 2003)), min_size=0, max_size=30))
def test_packed_keys_order_and_repeats_like_the_texts(rows):
    """Packed codes sort rows as the texts sort, and repeated rows are the rows pandas calls duplicated."""
    plain = pd.DataFrame(rows, columns=["first", "second", "year"]).astype({"first": "str", "second": "str"})
    held = categorical_texts(plain, ["first", "second"])
    packed = packed_keys(held, ["first", "second", "year"])
    expected_order = plain.sort_values(["first", "second", "year"], kind="stable").index.to_numpy()
    assert list(np.argsort(packed, kind="stable")) == list(expected_order)
    expected_repeats = plain.duplicated(["first", "second", "year"], keep=False).to_numpy()
    assert list(repeated_rows(held, ["first", "second", "year"])) == list(expected_repeats)
    assert list(repeated_rows(plain, ["first", "second", "year"])) == list(expected_repeats)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-(2**40), 2**40)), min_size=1, max_size=30))
def test_packed_keys_of_integers_short_and_long_ranges_order_like_the_integers(rows):
    """Made-up integers: a short range packs as offsets, a long one by rank; either way rows sort as the numbers do."""
    plain = pd.DataFrame(rows, columns=["short", "long"])
    packed = packed_keys(plain, ["short", "long"])
    expected_order = plain.sort_values(["short", "long"], kind="stable").index.to_numpy()
    assert list(np.argsort(packed, kind="stable")) == list(expected_order)
    assert list(pd.Series(packed).duplicated(keep=False)) == list(plain.duplicated(keep=False))


def test_combined_staged_tables_order_and_validate_as_plain_text_would():
    """Stacking, ordering and validating categorical staged tables gives the plain-text result, sorted by the texts."""
    first = made_up_staged([("y", "440100", 2023, "t1"), ("x", "440100", 2022, "t1")])
    second = made_up_staged([("x", "440000", 2023, "t2"), ("x", "440100", 2022, "t0")])
    combined = combined_staged_tables([first, second])
    assert all(isinstance(combined[column].dtype, pd.CategoricalDtype) for column in TEXT_COLUMNS)
    ordered = ordered_observations(combined)
    plain = pd.concat([first, second], ignore_index=True)
    expected = plain.sort_values(["indicator_code", "region_code", "year", "source_id"], kind="stable")
    assert decoded_texts(ordered).equals(expected.reset_index(drop=True)[STAGED_COLUMNS])
    assert schema_check_result(StagedObservationSchema, ordered, "staged_observations").passed
    assert all(isinstance(ordered[column].dtype, pd.CategoricalDtype) for column in TEXT_COLUMNS), "no coercion"


def test_schema_check_on_categoricals_names_the_failing_row():
    """A bad status in a categorical column fails the staged schema with the row's file and line."""
    table = categorical_texts(made_up_staged([("x", "440100", 2023, "t1")]), TEXT_COLUMNS)
    table["status"] = pd.Categorical(["Q"])
    result = schema_check_result(StagedObservationSchema, table, "staged_observations")
    assert not result.passed
    failures = result.metadata["failures"].data
    assert failures[0]["file"] == "t1.csv" and failures[0]["row"] == 2 and failures[0]["column"] == "status"


@pytest.mark.parametrize(
    "values",
    [["b", "a", None, "b"], ["", "", ""], [], ["村", "a", "村"]],
    ids=["with-missing", "empty-texts", "no-rows", "non-ascii"],
)
def test_content_hash_of_text_does_not_depend_on_how_it_is_held(values):
    """Plain text, a categorical, and a categorical with unused categories in another order hash alike."""
    plain = pd.Series(values, dtype="str")
    held = plain.astype("category")
    padded = held.cat.add_categories(["zz", "0"]).cat.reorder_categories(
        ["zz", *reversed(list(held.cat.categories)), "0"]
    )
    digests = set()
    for column in (plain, held, padded):
        digest = hashlib.sha256()
        update_with_column(digest, pa.array(column, from_pandas=True))
        digests.add(digest.hexdigest())
    assert len(digests) == 1


def test_content_hash_changes_with_a_value_or_the_row_order():
    """One changed text, or two rows swapped, changes the hash."""
    table = made_up_staged([("x", "440100", 2023, "t1"), ("y", "440100", 2023, "t1")])
    held = categorical_texts(table, TEXT_COLUMNS)
    digest = content_hash({"observations": held}, {})
    assert digest == content_hash({"observations": table}, {})
    changed = table.assign(region_code=pd.array(["440100", "440000"], dtype="str"))
    assert content_hash({"observations": changed}, {}) != digest
    assert content_hash({"observations": held.iloc[::-1].reset_index(drop=True)}, {}) != digest


def test_release_file_of_categoricals_is_the_file_of_plain_text(tmp_path):
    """The Parquet file written from categoricals has the bytes of the one written from text (types, pandas metadata)."""
    table = made_up_staged([("x", "440100", 2023, "t1"), ("y", "440000", 2022, "t2")])
    write_table_file(table, StagedObservationSchema, tmp_path / "plain.parquet")
    write_table_file(categorical_texts(table, TEXT_COLUMNS), StagedObservationSchema, tmp_path / "held.parquet")
    assert (tmp_path / "plain.parquet").read_bytes() == (tmp_path / "held.parquet").read_bytes()
    read_back = pd.read_parquet(tmp_path / "held.parquet")
    assert not any(isinstance(dtype, pd.CategoricalDtype) for dtype in read_back.dtypes)
    assert pq.read_schema(tmp_path / "held.parquet").field("region_code").type == pa.large_string()
