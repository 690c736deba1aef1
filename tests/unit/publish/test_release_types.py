"""Release files: Parquet columns typed by the pandera model even when all null; binary extra files kept byte for byte."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest
from pandera.typing import Series

from pipeline.defs.resources import ProjectPaths
from pipeline.publish.publication import publish_tables
from pipeline.publish.registry import PublishedTable
from pipeline.publish.release.verify import verify_release
from pipeline.publish.release.write import RELEASE_VERSION_PLACEHOLDER, arrow_type, typed_arrow_table


class GappySchema(pa.DataFrameModel):
    """A MADE-UP table whose optional columns are empty in this release."""

    region_code: Series[str] = pa.Field(description="region code")
    note: Series[str] = pa.Field(nullable=True, description="an optional text")
    count: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="an optional whole number")
    share: Series[float] = pa.Field(nullable=True, description="an optional number")
    listed: Series[bool] = pa.Field(description="a flag")

    class Config:
        strict = True
        coerce = True


GAPPY = pd.DataFrame(
    {"region_code": ["440100", "440103"], "note": [None, None], "count": [None, None], "share": [None, None]}
).assign(listed=[True, False])


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("str", arrow.large_string()),
        ("string[pyarrow]", arrow.large_string()),
        ("int64", arrow.int64()),
        ("Int64", arrow.int64()),
        ("float64", arrow.float64()),
        ("bool", arrow.bool_()),
        ("datetime64[ns]", None),
    ],
)
def test_a_pandera_dtype_maps_to_its_arrow_type(dtype, expected):
    assert arrow_type(dtype) == expected


def test_all_null_columns_get_their_model_types_not_the_null_type():
    untyped = arrow.Table.from_pandas(GAPPY, preserve_index=False)
    assert arrow.types.is_null(untyped.schema.field("note").type)  # what the release wrote before
    typed = typed_arrow_table(GAPPY, GappySchema)
    assert [field.type for field in typed.schema] == [
        arrow.large_string(),
        arrow.large_string(),
        arrow.int64(),
        arrow.float64(),
        arrow.bool_(),
    ]
    assert typed.column("note").null_count == 2 and typed.column("listed").to_pylist() == [True, False]


def test_a_value_that_does_not_fit_its_model_type_is_an_error_not_a_silent_change():
    with pytest.raises(arrow.ArrowInvalid):
        typed_arrow_table(GAPPY.assign(count=[1.5, None]), GappySchema)


def test_the_release_declares_model_types_and_keeps_binary_files_byte_for_byte(tmp_path):
    paths = ProjectPaths(raw_dir=str(tmp_path / "raw"), warehouse_dir=str(tmp_path / "warehouse"))
    # A binary file that happens to hold the placeholder's bytes must not be rewritten; a text file is.
    binary = b"\x89PNG\r\n\x1a\n" + RELEASE_VERSION_PLACEHOLDER.encode() + bytes(range(256))
    extra = {"picture.png": binary, "page.html": f"<p>{RELEASE_VERSION_PLACEHOLDER}</p>".encode()}
    specs = {"gappy": PublishedTable(GappySchema, ("region_code",))}
    outcome = publish_tables({"gappy": GAPPY}, extra, paths, dt.date(2026, 11, 28), specs=specs)

    release = outcome.release_path
    assert verify_release(release) == []
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    resources = {resource["path"]: resource for resource in package["resources"]}
    fields = {field["name"]: field["type"] for field in resources["gappy.parquet"]["schema"]["fields"]}
    assert fields == {
        "region_code": "string",
        "note": "string",
        "count": "integer",
        "share": "number",
        "listed": "boolean",
    }
    assert pq.read_schema(release / "gappy.parquet").field("count").type == arrow.int64()
    assert (release / "picture.png").read_bytes() == binary
    assert resources["picture.png"]["mediatype"] == "image/png" and resources["picture.png"]["type"] == "file"
    assert (release / "page.html").read_text(encoding="utf-8") == f"<p>{outcome.version}</p>"
    assert resources["page.html"]["mediatype"] == "text/html"
