"""Schema checks chunk by chunk give the failure records of a whole-table run; keys repeated across chunks still fail.

Every table here is made up (a few rows of invented figures), validated with a chunk of 2–3 rows so that rows and
duplicates fall in different chunks.
"""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.core.frames import categorical_texts
from pipeline.core.metadata import load_indicator_catalog, load_regions
from pipeline.defs.storage import parquet_frame, parquet_table
from pipeline.defs.validate import schema_check_result, whole_check_result
from pipeline.validate.chunks import (
    FrameChunks,
    ParquetChunks,
    chunked_failure_cases,
    repeated_keys,
    row_and_key_parts,
)
from pipeline.validate.schemas import (
    IndicatorCatalogSchema,
    PreferredValueSchema,
    StagedObservationSchema,
    observation_schema,
    with_known_codes,
)

CATALOG = load_indicator_catalog()
REGION_CODES = list(load_regions()["region_code"])
CODES = ["urban_disposable_income_per_capita", "rural_disposable_income_per_capita", "urban_rural_income_ratio"]
UNITS = ["yuan", "yuan", "ratio"]
VALUES = [30000.0, 12000.0, 2.5]


def made_up_observations(years: int = 3) -> pd.DataFrame:
    """Made-up valid observations of Guangdong: three indicators × `years` years, in key order."""
    rows = []
    for position, (code, unit, value) in enumerate(zip(CODES, UNITS, VALUES, strict=True)):
        for year in range(2015, 2015 + years):
            rows.append(
                {
                    "source_id": "made_up",
                    "source_file": "made_up.csv",
                    "source_row": 2 + position,
                    "source_column": str(year),
                    "printed_label": code[:4],
                    "region_code": "440000",
                    "year": year,
                    "indicator_code": code,
                    "value": value,
                    "unit": unit,
                    "status": "",
                    "rounding_radius": 0.5,
                    "publisher_kind": "statistics_office",
                    "reliability": "official",
                    "corroborated_by": "",
                }
            )
    frame = pd.DataFrame(rows).sort_values(["indicator_code", "region_code", "year", "source_id"], kind="stable")
    return frame.reset_index(drop=True)


def made_up_preferred(rows: int = 7) -> pd.DataFrame:
    """Made-up valid preferred values of one indicator of Guangdong, one per year."""
    return pd.DataFrame(
        {
            "indicator_code": ["urban_rural_income_ratio"] * rows,
            "region_code": ["440000"] * rows,
            "year": list(range(2010, 2010 + rows)),
            "value": [2.5] * rows,
            "unit": ["ratio"] * rows,
            "method": ["published"] * rows,
            "status": [""] * rows,
            "source_ids": ["made_up"] * rows,
            "publisher_kind": ["statistics_office"] * rows,
            "reliability": ["official"] * rows,
            "choice_rule": ["single_source"] * rows,
            "alternatives": [0] * rows,
            "spread": [0.0] * rows,
        }
    )


def with_cells(frame: pd.DataFrame, changes: dict[tuple[int, str], object]) -> pd.DataFrame:
    """A copy of the frame with these cells changed (text columns stay text)."""
    changed = frame.copy()
    for (row, column), value in changes.items():
        if changed[column].dtype == object or pd.api.types.is_string_dtype(changed[column].dtype):
            changed[column] = changed[column].astype(object)
        changed.at[row, column] = value
    for column in changed.columns:
        if changed[column].dtype == object:
            changed[column] = changed[column].astype("str")
    return changed


def stored(frame: pd.DataFrame, tmp_path, row_group_size: int) -> ParquetChunks:
    """The frame written as the Parquet I/O manager writes it, in row groups of this many rows."""
    path = tmp_path / "table.parquet"
    pq.write_table(parquet_table(frame), path, row_group_size=row_group_size)
    return ParquetChunks(lambda: open(path, "rb"), parquet_frame)


def observation_rules():
    """The observation schema with the real region list and catalogue."""
    return observation_schema(REGION_CODES, CATALOG)


def preferred_rules():
    """The preferred-value schema with known codes."""
    return with_known_codes(PreferredValueSchema, ["region_code"], REGION_CODES, CATALOG)


def same_result(chunked, whole) -> None:
    """Both runs pass or fail alike, with the same description and metadata (records, count, rows checked)."""
    assert chunked.passed == whole.passed
    assert chunked.description == whole.description
    assert {key: getattr(value, "data", value) for key, value in chunked.metadata.items()} == {
        key: getattr(value, "data", value) for key, value in whole.metadata.items()
    }


OBSERVATION_CHANGES = {
    "nothing": {},
    "unknown region in the last chunk": {(8, "region_code"): "999999"},
    "value out of range and bad status in two chunks": {(1, "value"): -5.0, (7, "status"): "Q"},
    "missing value without status, year before 1949, wrong unit": {
        (0, "value"): None,
        (4, "year"): 1900,
        (6, "unit"): "percent",
    },
    "numbers failing in one chunk, text in another (failure_case types as a whole run)": {
        (4, "year"): 1900,
        (5, "value"): -5.0,
        (0, "status"): "Q",
    },
    "duplicate key across chunks": {
        (8, "year"): 2015,
        (8, "indicator_code"): CODES[1],
        (8, "value"): 12000.0,
        (8, "unit"): "yuan",
    },
}


@pytest.mark.parametrize("changes", OBSERVATION_CHANGES.values(), ids=OBSERVATION_CHANGES.keys())
@pytest.mark.parametrize("held", ["text", "categorical"])
def test_observations_in_chunks_fail_as_a_whole_table_run(changes, held):
    """Chunks of 2 rows, in memory and from Parquet row groups: the same records, count and rows checked."""
    frame = with_cells(made_up_observations(), changes)
    if held == "categorical":
        frame = categorical_texts(frame, [column for column in frame.columns if frame[column].dtype == "str"])
    whole = whole_check_result(observation_rules(), frame, "observations", None)
    same_result(schema_check_result(observation_rules(), frame, "observations", chunk_rows=2), whole)
    assert whole.passed == (not changes)


@pytest.mark.parametrize("changes", OBSERVATION_CHANGES.values(), ids=OBSERVATION_CHANGES.keys())
def test_stored_observations_in_row_groups_fail_as_a_whole_table_run(changes, tmp_path):
    """Read a row group at a time (text as dictionaries): the same result as the whole table loaded."""
    frame = with_cells(made_up_observations(), changes)
    whole = whole_check_result(observation_rules(), frame, "observations", None)
    chunked = schema_check_result(observation_rules(), stored(frame, tmp_path, 2), "observations", chunk_rows=2)
    same_result(chunked, whole)


def test_a_duplicate_key_whose_copies_lie_in_two_chunks_is_caught(tmp_path):
    """Rows 0 and 6 share a key; in chunks of 3 they never meet in one chunk, yet both fail the uniqueness rule."""
    frame = with_cells(made_up_preferred(), {(6, "year"): 2010})
    result = schema_check_result(preferred_rules(), stored(frame, tmp_path, 3), "preferred_values", chunk_rows=3)
    assert not result.passed
    failures = result.metadata["failures"].data
    assert [failure["rule"] for failure in failures] == ["multiple_fields_uniqueness"] * 2
    assert [failure["figure"]["year"] for failure in failures] == ["2010", "2010"]
    same_result(result, whole_check_result(preferred_rules(), frame, "preferred_values", None))


def test_a_repeated_observation_key_across_chunks_fails_every_copy():
    """The keyed dataframe check (one figure per region, year, indicator and source) sees the whole table."""
    frame = made_up_observations()
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # the copy is in the last chunk
    result = schema_check_result(observation_rules(), frame, "observations", chunk_rows=2)
    assert not result.passed
    failures = result.metadata["failures"].data
    assert [failure["rule"] for failure in failures] == ["unique_per_region_year_indicator_source"] * 2
    assert {failure["row"] for failure in failures} == {frame.at[0, "source_row"]}
    same_result(result, whole_check_result(observation_rules(), frame, "observations", None))


def test_a_table_wide_failure_is_listed_once_not_once_per_chunk(tmp_path):
    """A column the strict schema does not know fails once, as in a whole-table run."""
    frame = made_up_preferred().assign(made_up_column=1)
    chunked = schema_check_result(preferred_rules(), stored(frame, tmp_path, 2), "preferred_values", chunk_rows=2)
    whole = whole_check_result(preferred_rules(), frame, "preferred_values", None)
    assert chunked.metadata["failure_count"].value == 1
    same_result(chunked, whole)


def test_more_failures_than_listed_keep_the_count_and_the_first_fifty():
    """60 bad statuses spread over 20 chunks: failure_count 60, the same 50 listed."""
    frame = made_up_preferred(60).assign(status="Q")
    chunked = schema_check_result(preferred_rules(), frame, "preferred_values", chunk_rows=3)
    assert chunked.metadata["failure_count"].value == 60
    assert len(chunked.metadata["failures"].data) == 50
    same_result(chunked, whole_check_result(preferred_rules(), frame, "preferred_values", None))


def test_a_schema_with_a_whole_table_dataframe_check_is_not_split():
    """The catalogue's input checks compare rows with each other: no row/key split, the table is validated whole."""
    assert row_and_key_parts(IndicatorCatalogSchema.to_schema()) is None
    assert chunked_failure_cases(IndicatorCatalogSchema.to_schema(), FrameChunks(CATALOG), 2) is None
    assert schema_check_result(IndicatorCatalogSchema, CATALOG, "indicator_catalog", chunk_rows=2).passed


def test_chunks_carry_their_rows_positions_in_the_whole_table(tmp_path):
    """Row groups read back with the index of the whole table (failure rows are the table's rows)."""
    frame = made_up_preferred()
    chunks = list(stored(frame, tmp_path, 3).chunks(list(frame.columns), 3))
    assert [list(chunk.index) for chunk in chunks] == [[0, 1, 2], [3, 4, 5], [6]]
    assert isinstance(chunks[0]["region_code"].dtype, pd.CategoricalDtype)


def test_staged_schema_in_chunks_names_file_row_and_column():
    """A bad status in the second chunk of staged rows names its file, line and column."""
    frame = with_cells(made_up_observations()[list(StagedObservationSchema.to_schema().columns)], {(5, "status"): "Q"})
    result = schema_check_result(StagedObservationSchema, frame, "staged_observations", chunk_rows=2)
    failure = result.metadata["failures"].data[0]
    assert (failure["file"], failure["row"], failure["column"]) == ("made_up.csv", frame.at[5, "source_row"], "status")


@pytest.mark.parametrize("in_key_order", [True, False])
def test_repeated_keys_are_every_copy_of_a_repeated_key_in_key_order_or_not(in_key_order):
    # Made-up keys: (b, 2020) twice, the rest once; categorical codes unsorted, so the order comes from the texts.
    frame = pd.DataFrame(
        {
            "code": pd.Categorical(["a", "b", "b", "c", "c"], categories=["c", "b", "a"]),
            "year": [2020, 2020, 2020, 2020, 2021],
        }
    )
    if not in_key_order:
        frame = frame.iloc[[3, 1, 0, 4, 2]].reset_index(drop=True)
    expected = frame.astype({"code": "str"}).duplicated(["code", "year"], keep=False).to_numpy()
    assert expected.sum() == 2
    assert repeated_keys(frame, ["code", "year"]).tolist() == expected.tolist()
