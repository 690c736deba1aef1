"""The documents read only the rows they use (issue 17): a TableReader gives the same part of a stored Parquet file
as of the DataFrame, and the answers and the card's caveats come out the same from those parts as from the whole
tables (MADE-UP frames from tests/support/made_up_answers.py, plus made-up rows no question asks for)."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.core.reading import TableReader, table_reader
from pipeline.defs.storage import parquet_frame, parquet_table
from pipeline.publish.documents.answers import answer_rows, dataset_answers
from pipeline.publish.documents.card import CAVEAT_COLUMNS, caveat_lines, flagged_statuses
from tests.support.made_up_answers import (
    ANSWER_CATALOG,
    ANSWER_REGIONS,
    CITIES_CONVERGING_QUESTION,
    CITY_RATIO_QUESTION,
    DISTRICT_GDP_QUESTION,
    made_up_answer_tables,
    made_up_preferred,
    preferred_row,
)

QUESTIONS = (CITY_RATIO_QUESTION, DISTRICT_GDP_QUESTION, CITIES_CONVERGING_QUESTION)


def stored(frame: pd.DataFrame) -> TableReader:
    """A reader of the frame written as the I/O manager writes it (Parquet, categories in the file's metadata)."""
    table = parquet_table(frame)
    assert table is not None, "the made-up frame must round-trip through Parquet"
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2)  # several row groups, so that filters cross them
    data = buffer.getvalue()
    return TableReader(open_file=lambda: io.BytesIO(data), to_frame=parquet_frame)


def made_up_frame() -> pd.DataFrame:
    """MADE-UP rows: text, categorical, integer and float columns, one missing status."""
    return pd.DataFrame(
        {
            "indicator_code": pd.Categorical(["gdp", "gdp", "urbanisation_rate", "gdp", "urbanisation_rate"]),
            "region_code": ["440100", "440103", "440100", "440104", "440103"],
            "year": [2020, 2021, 2020, 2020, 2021],
            "value": [1.0, 2.0, 3.0, None, 5.0],
            "status": ["", "u", "bp", None, "e"],
        }
    )


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        (None, None),
        (["region_code", "value"], None),
        (None, {"indicator_code": ["gdp"]}),
        (["year", "status"], {"indicator_code": ["gdp"], "region_code": ["440103", "440104"]}),
        (["value"], {"year": [2021]}),
        (None, {"indicator_code": []}),
    ],
)
def test_a_stored_part_equals_the_same_part_of_the_frame(columns, rows):
    frame = made_up_frame()
    from_file = stored(frame).frame(columns, rows)
    from_memory = TableReader(frame=frame).frame(columns, rows)
    pd.testing.assert_frame_equal(from_file, from_memory)
    expected = (
        frame if rows is None else frame[pd.concat([frame[c].isin(v) for c, v in rows.items()], axis=1).all(axis=1)]
    )
    assert len(from_file) == len(expected)
    assert list(from_file.columns) == (columns or list(frame.columns))


def test_row_count_columns_and_distinct_values_come_without_the_rows():
    frame = made_up_frame()
    for reader in (stored(frame), table_reader(frame)):
        assert reader.num_rows == 5
        assert reader.columns == list(frame.columns)
        assert sorted(map(str, reader.distinct("status"))) == ["", "bp", "e", "u"]  # no missing value
    assert flagged_statuses(["", "bp", "e", "u", "c"]) == ["bp", "e", "u"]
    with pytest.raises(ValueError, match="exactly one"):
        TableReader()


def test_the_answers_from_the_questions_rows_equal_the_answers_from_the_whole_tables():
    unasked = [
        preferred_row("gdp", "440000", 2020, 9.0, "published", "made_up_bureau", "statistics_office", "official"),
        preferred_row("rural_population_share", "440100", 2020, 40.0, "published", "made_up_bureau",
                      "statistics_office", "official"),
    ]  # fmt: skip
    whole = made_up_answer_tables(made_up_preferred(*unasked))
    whole["dispersion"] = pd.concat(
        [whole["dispersion"], whole["dispersion"].assign(parent_region_code="440100", unit_level="county_level")],
        ignore_index=True,
    )
    rows = answer_rows(QUESTIONS, ANSWER_REGIONS, ANSWER_CATALOG)
    parts = {
        name: table_reader(frame).frame(rows_where_in=rows[name]) if name in rows else frame
        for name, frame in whole.items()
    }
    assert len(parts["preferred_values"]) < len(whole["preferred_values"])
    assert len(parts["dispersion"]) < len(whole["dispersion"])
    from_whole = dataset_answers(QUESTIONS, whole)
    from_parts = dataset_answers(QUESTIONS, parts)
    pd.testing.assert_frame_equal(from_parts.summary, from_whole.summary)
    pd.testing.assert_frame_equal(from_parts.values, from_whole.values)


def test_the_caveats_from_the_flagged_rows_equal_the_caveats_from_all_observations():
    observations = made_up_frame().assign(source_id="made_up_bureau", publisher_kind="statistics_office")
    catalog = pd.DataFrame({"indicator_code": ["gdp"], "name_zh": ["生产总值"], "caveats": [""]}).set_index(
        "indicator_code"
    )
    reader = stored(observations)
    flagged = reader.frame(
        [column for column in CAVEAT_COLUMNS if column in reader.columns],
        rows_where_in={"status": flagged_statuses(reader.distinct("status"))},
    )
    assert len(flagged) == 3
    whole = caveat_lines({"observations": observations, "regions": ANSWER_REGIONS}, catalog)
    assert caveat_lines({"observations": flagged, "regions": ANSWER_REGIONS}, catalog) == whole
    assert "- 1 observation(s) flagged `p` (provisional, 初步数):" in whole  # "bp" counts for b and for p
