"""The Parquet I/O manager: exact round trips (categories in their order), pickles for the rest, pruned reads.

The frames here are made up for the test.
"""

from __future__ import annotations

import io

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from pipeline.core.frames import decoded_texts
from pipeline.defs.storage import (
    PARQUET_MAGIC,
    STORE_CATEGORIES_AS_TEXTS,
    ColumnarIOManager,
    parquet_frame,
    parquet_table,
    read_input,
)


def round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame written as Parquet by the I/O manager's rules and read back."""
    table = parquet_table(frame)
    assert table is not None
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    return parquet_frame(pq.read_table(buffer))


def test_categorical_columns_keep_their_categories_and_their_order():
    """Unused categories and a non-alphabetical order survive; values, codes and dtypes are identical."""
    codes = pd.Categorical(["b", "a", "b"], categories=["b", "c", "a"])
    frame = pd.DataFrame(
        {"code": codes, "year": [2020, 2021, 2022], "value": [1.5, None, 3.0], "text": ["x", "y", "z"]}
    )
    back = round_trip(frame)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert list(back["code"].cat.categories) == ["b", "c", "a"]
    assert back["code"].cat.codes.tolist() == frame["code"].cat.codes.tolist()


def test_text_columns_read_from_several_row_groups_come_as_one_chunk():
    """A file of three row groups gives each text column one Arrow chunk (row selections on many are slow), the same
    values and missing values; numbers and categories are untouched (made-up rows)."""
    frame = pd.DataFrame(
        {
            "region": ["440100", "440103", None, "440104", "440105"],
            "code": pd.Categorical(["a", "b", "a", "b", "a"]),
            "value": [1.0, 2.0, 3.0, None, 5.0],
        }
    )
    table = parquet_table(frame)
    assert table is not None
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2)
    buffer.seek(0)
    read = pq.read_table(buffer)
    assert read.column("region").num_chunks == 3
    back = parquet_frame(read)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back["region"].array.__arrow_array__().num_chunks == 1  # the Arrow protocol: the column as held


def test_frames_that_would_not_come_back_the_same_are_pickled():
    """Lists in cells, non-string column names and a non-default index are not written as Parquet."""
    assert parquet_table(pd.DataFrame({"members": [["a", "b"], ["c"]]})) is None
    assert parquet_table(pd.DataFrame({0: [1, 2]})) is None
    assert parquet_table(pd.DataFrame({"value": [1, 2]}, index=["a", "b"])) is None


@dg.asset
def observations() -> pd.DataFrame:
    """Made-up observations."""
    return pd.DataFrame(
        {"indicator_code": ["i"], "region_code": ["r"], "year": [2020], "value": [1.0], "source_file": ["f.csv"]}
    )


@dg.asset
def coverage(observations: pd.DataFrame) -> list[str]:
    """The columns the consumer got."""
    return list(observations.columns)


@dg.asset
def chart() -> bytes:
    """A value that is not a table."""
    return b"\x89PNG made up"


def test_outputs_are_files_a_consumer_reads_only_its_columns_and_other_values_are_pickled(tmp_path):
    """Tables as Parquet under the base folder, path metadata recorded, coverage reads the four columns it uses."""
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    result = dg.materialize([observations, coverage, chart], resources={"io_manager": manager})
    assert result.success
    assert (tmp_path / "io" / "observations").read_bytes()[:4] == PARQUET_MAGIC
    assert (tmp_path / "io" / "chart").read_bytes()[:4] != PARQUET_MAGIC
    assert result.output_for_node("coverage") == ["indicator_code", "region_code", "year", "value"]
    materialization = result.asset_materializations_for_node("observations")[0]
    assert materialization.metadata["path"].value == str(tmp_path / "io" / "observations")
    assert materialization.metadata["stored_as"].value == "parquet"


@dg.asset
def values() -> pd.DataFrame:
    """Made-up values of three indicators, with a categorical code column."""
    return pd.DataFrame(
        {
            "indicator_code": pd.Categorical(["a", "b", "c", "a"], categories=["c", "b", "a"]),
            "year": [2020, 2020, 2021, 2022],
            "value": [1.0, 2.0, 3.0, 4.0],
            "note": ["w", "x", "y", "z"],
        }
    )


@dg.asset(
    ins={
        "values": read_input(
            "values", columns=["indicator_code", "value"], rows_where_in={"indicator_code": ["a", "c"]}
        )
    }
)
def selected(values: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns the consumer declared, as it got them."""
    return values


def test_an_input_declares_the_columns_and_rows_it_reads(tmp_path):
    """Only the declared columns, only rows whose code is listed, in file order; categories kept whole."""
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    result = dg.materialize([values, selected], resources={"io_manager": manager})
    assert result.success
    got = result.output_for_node("selected")
    assert list(got.columns) == ["indicator_code", "value"]
    assert got["indicator_code"].tolist() == ["a", "c", "a"] and got["value"].tolist() == [1.0, 3.0, 4.0]
    assert list(got["indicator_code"].cat.categories) == ["c", "b", "a"]


@dg.asset
def totals(values: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """Made-up sums of the two inputs: a step that loads two inputs."""
    return pd.DataFrame({"value": [values["value"].sum(), selected["value"].sum()]})


def test_freed_memory_goes_back_after_each_output_and_once_per_step_that_loads_inputs(tmp_path, monkeypatch):
    """Three outputs written, two steps loading three inputs between them: five releases, not six."""
    import pipeline.defs.storage as storage

    calls: list[str] = []
    monkeypatch.setattr(storage, "release_free_memory", lambda: calls.append("release"))
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    result = dg.materialize([values, selected, totals], resources={"io_manager": manager})
    assert result.success
    assert len(calls) == 3 + 2


@dg.asset(ins={"values": read_input("values", columns=["note", "value"], texts_as_categories=True)})
def values_as_categories(values: pd.DataFrame) -> pd.DataFrame:
    """The made-up values' text column as the consumer declared it (a categorical)."""
    return values


def test_an_input_declaring_texts_as_categories_gets_categoricals_of_the_same_texts(tmp_path):
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    result = dg.materialize([values, values_as_categories], resources={"io_manager": manager})
    assert result.success
    got = result.output_for_node("values_as_categories")
    assert isinstance(got["note"].dtype, pd.CategoricalDtype)
    assert got["note"].astype("str").tolist() == ["w", "x", "y", "z"]
    assert got["value"].tolist() == [1.0, 2.0, 3.0, 4.0]


@dg.asset
def regions() -> pd.DataFrame:
    """Made-up regions, stored as Parquet."""
    return pd.DataFrame({"region_code": ["r1", "r2", "r3"], "level": [1, 2, 2]})


@dg.asset
def sources() -> pd.DataFrame:
    """Made-up sources with a non-default index: pickled, not Parquet."""
    return pd.DataFrame({"source_id": ["s1", "s2"]}, index=[5, 7])


@dg.asset(name="publication")
def made_up_publication(regions, sources) -> dict[str, tuple[str, int, list[str]]]:
    """What a consumer named as the publication got for two published tables: its type, rows and columns."""
    return {name: (type(table).__name__, table.num_rows, table.columns) for name, table in locals().items()}


def test_the_publication_gets_its_tables_as_sources_stored_or_pickled(tmp_path):
    """The publication's table inputs are ParquetSources: of the stored file, or of the unpickled frame."""
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    result = dg.materialize([regions, sources, made_up_publication], resources={"io_manager": manager})
    assert result.success
    assert result.output_for_node("publication") == {
        "regions": ("ParquetSource", 3, ["region_code", "level"]),
        "sources": ("ParquetSource", 2, ["source_id"]),
    }


@dg.asset(metadata={STORE_CATEGORIES_AS_TEXTS: True})
def coded_values() -> pd.DataFrame:
    """Made-up values whose text columns are categoricals (one with a missing code), stored as texts."""
    return pd.DataFrame(
        {
            "indicator_code": pd.Categorical(["a", "b", None, "a", "c"], categories=["c", "b", "a"]),
            "year": [2020, 2020, 2021, 2022, 2023],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
            "note": pd.array(["v", "w", "x", "y", "z"], dtype="str"),
        }
    )


@dg.asset(metadata={STORE_CATEGORIES_AS_TEXTS: True})
def coded_objects() -> pd.DataFrame:
    """Made-up values with an object column: decoded as a whole, not a row group at a time."""
    return pd.DataFrame({"code": pd.Categorical(["x", "y"]), "label": pd.array(["p", None], dtype=object)})


def test_categoricals_of_an_asset_storing_them_as_texts_are_written_as_its_decoded_frame_would_be(
    tmp_path, monkeypatch
):
    """The file is byte for byte the decoded frame's (several row groups: two rows each here) and reads as texts."""
    import pipeline.defs.storage as storage

    monkeypatch.setattr(storage, "ROW_GROUP_ROWS", 2)
    manager = ColumnarIOManager(base_dir=str(tmp_path / "io"))
    assert dg.materialize([coded_values, coded_objects], resources={"io_manager": manager}).success
    decoded = decoded_texts(coded_values())
    expected = io.BytesIO()
    pq.write_table(parquet_table(decoded), expected, row_group_size=2)
    stored = (tmp_path / "io" / "coded_values").read_bytes()
    assert stored == expected.getvalue()
    assert pq.ParquetFile(io.BytesIO(stored)).metadata.num_row_groups == 3
    got = parquet_frame(pq.read_table(io.BytesIO(stored)))
    pd.testing.assert_frame_equal(got, decoded)
    assert (
        got["indicator_code"].dtype == "str"
        and got["indicator_code"].isna().tolist() == [False] * 2 + [True] + [False] * 2
    )
    objects = parquet_frame(pq.read_table(tmp_path / "io" / "coded_objects"))
    assert objects["code"].tolist() == ["x", "y"] and objects["code"].dtype == "str"
