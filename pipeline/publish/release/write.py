"""Writing a release: content hash, Parquet files typed from the pandera models and the datapackage.json."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.fs import fsync_directory, fsync_file, pause_point
from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import load_dataset_metadata
from pipeline.core.reading import is_text
from pipeline.core.tables import ParquetSource, table_source
from pipeline.publish.release.changes import changes_markdown
from pipeline.publish.release.versions import (
    CHANGES,
    CHECKSUM_COLUMNS,
    CHECKSUMS,
    DATAPACKAGE,
    TEMPORARY_PREFIX,
    Release,
)

if TYPE_CHECKING:
    import pandera.pandas as pandera


DATASET = load_dataset_metadata()  # pipeline/metadata/dataset.yaml: title, compiler, URL, licences
PACKAGE_NAME = DATASET["name"]
PACKAGE_TITLE = DATASET["title"]
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".json": "application/json",
    ".txt": "text/plain",
    ".yaml": "application/yaml",
    ".html": "text/html",
    ".png": "image/png",
}
# Extra files whose text may hold the release version placeholder; any other file (a PNG) is written byte for byte.
TEXT_SUFFIXES = {".csv", ".md", ".json", ".txt", ".yaml", ".html"}
# Words in a pandera dtype's name → the Arrow type a release column gets, first match wins (as in the dictionary).
ARROW_TYPES = [("bool", pa.bool_()), ("int", pa.int64()), ("float", pa.float64()), ("str", pa.large_string())]
# Where a release states each source's terms (the dataset card's "Sources and licences"); a licence's path.
SOURCE_TERMS_PATH = "README.md"
# Resources holding figures transcribed from a source: they keep each source's terms besides the project's licence
# for its own part (selection, lineage, codes, derived values).
TRANSCRIBED_RESOURCES = {
    "observations": "Each figure keeps its source's terms (sources.licence, joined on source_id)",
    "indicators": "Published values (method = 'published') keep their source's terms (sources.licence)",
    "sources": "Titles and descriptions quoted from each source, under its terms (the licence column)",
    "preferred_values": "Values taken from a source keep its terms (sources.licence)",
    "regions": "Codes and names from public compilations: leiii/census (MIT), modood/Administrative-divisions-of-China"
    " (WTFPL), as pipeline/metadata/README.md of the project states",
}
# pyarrow's default maximum rows per Parquet row group (pq.write_table's row_group_size).
ROW_GROUP_ROWS = 1024 * 1024
# Extra files may hold this placeholder (e.g. the dataset card's "how to cite"): it is replaced by the version when
# the release is written, after the content hash was taken, so the hash stays independent of the version.
RELEASE_VERSION_PLACEHOLDER = "{{release_version}}"
# Likewise the release date (the UTC date of the version, YYYY-MM-DD), for "how to cite".
RELEASE_DATE_PLACEHOLDER = "{{release_date}}"


def content_hash(tables: dict[str, ParquetSource | pd.DataFrame], extra_files: dict[str, bytes]) -> str:
    """A hash of the published content (table names, columns, types and values in row order; extra files' bytes).

    Values are hashed column by column from their Arrow form, never rendered as text, so it is fast on millions of
    rows; it does not depend on file bytes, Parquet settings, chunking or on how a text column is held in memory
    (plain text or categorical): numbers as a validity bitmap then their bytes, text as its sorted distinct values
    then each row's position among them (int32, -1 missing).
    Rows are hashed in the order the tables have (every published table is sorted). A stored table is read one
    column at a time, its text columns dictionary-encoded (a third of the time of reading them as strings).
    """
    digest = hashlib.sha256()
    for name, table in tables.items():
        source = table_source(table)
        columns = source.columns
        digest.update(f"table {name} {columns} {source.num_rows}\n".encode())
        for column_name in columns:
            update_with_column(digest, source.column(column_name, texts_as_dictionary=True))
    for name in sorted(extra_files):
        digest.update(f"file {name} {len(extra_files[name])}\n".encode())
        digest.update(extra_files[name])
    return digest.hexdigest()


def update_with_column(digest, column: pa.Array | pa.ChunkedArray) -> None:
    """Feed one column to a hash: its normalised type, which values are present, then the values themselves."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    fixed_width = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    if fixed_width or pa.types.is_boolean(column.type):
        digest.update(f"column {column.type} {len(column)}\n".encode())
        digest.update(np.packbits(pc.is_valid(column).to_numpy(zero_copy_only=False)))
        zero = False if pa.types.is_boolean(column.type) else 0
        digest.update(np.ascontiguousarray(column.fill_null(zero).to_numpy(zero_copy_only=False)))
        return
    distinct, positions = sorted_distinct_texts(column)
    digest.update(f"column {pa.large_string()} {len(column)} {len(distinct)}\n".encode())
    digest.update(pc.binary_length(distinct).to_numpy(zero_copy_only=False).astype("int64"))
    offsets = np.frombuffer(distinct.buffers()[1], dtype="int64")[distinct.offset : distinct.offset + len(distinct) + 1]
    if len(offsets) and distinct.buffers()[2] is not None:
        digest.update(memoryview(distinct.buffers()[2])[offsets[0] : offsets[-1]])
    digest.update(positions)


def sorted_distinct_texts(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A text column's sorted distinct values and each row's position among them (-1 missing), however it is held.

    Plain or dictionary-encoded text (a pandas categorical, with unused categories dropped) give the same result
    for the same texts; anything else (dates, all-null columns) is taken as its text.
    """
    if not pa.types.is_dictionary(column.type):
        if not pa.types.is_large_string(column.type):
            column = column.cast(pa.large_string())  # strings; dates, nulls and anything else as their text
        column = pc.dictionary_encode(column)
    dictionary = column.dictionary.cast(pa.large_string())
    indices = column.indices.fill_null(-1).to_numpy(zero_copy_only=False)  # its own integer width; -1 missing
    used = np.zeros(len(dictionary) + 1, dtype=bool)
    used[indices] = True  # index -1 marks the extra last slot
    used_positions = np.flatnonzero(used[:-1])
    distinct = dictionary.take(pa.array(used_positions))
    order = pc.sort_indices(distinct).to_numpy()
    rank = np.full(len(dictionary) + 1, -1, dtype="int32")  # a column has fewer than 2**31 distinct texts
    rank[used_positions[order]] = np.arange(len(order), dtype="int32")
    return distinct.take(pa.array(order)), rank[indices]


def file_bytes(content: bytes | str | pd.DataFrame) -> bytes:
    """The bytes of an extra release file: bytes as given, text as UTF-8, a frame as UTF-8 CSV without index."""
    if isinstance(content, pd.DataFrame):
        return content.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


def prepare_release(
    tables: dict[str, ParquetSource | pd.DataFrame],
    extra_files: dict[str, bytes],
    releases_dir: Path,
    version: str,
    content: str,
    descriptions: dict[str, dict[str, str]],
    primary_keys: dict[str, list[str]],
    previous: Release | None,
    models: dict[str, type[pandera.DataFrameModel]] | None = None,
) -> Path:
    """Write a complete release (tables, extra files, CHANGES.md, datapackage.json) into a temporary folder."""
    models = models or {}
    check_extra_file_names(extra_files, tables)
    temporary = releases_dir / f"{TEMPORARY_PREFIX}{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    resources = []
    for name, table in tables.items():
        path = temporary / f"{name}.parquet"
        source = table_source(table)
        schema = write_table_file(source, models.get(name), path)
        resources.append(
            {
                "name": name,
                "type": "table",
                "path": path.name,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "rows": source.num_rows,
                "schema": table_schema(schema, descriptions.get(name, {}), primary_keys.get(name, [])),
            }
        )
        if len(resources) == 1:
            pause_point("release", releases_dir)
    changes = changes_markdown(tables, primary_keys, version, previous)
    for file_name, data in {**extra_files, CHANGES: changes.encode("utf-8")}.items():
        path = temporary / file_name
        if path.suffix.lower() in TEXT_SUFFIXES:
            data = data.replace(RELEASE_VERSION_PLACEHOLDER.encode("utf-8"), version.encode("utf-8"))
            data = data.replace(RELEASE_DATE_PLACEHOLDER.encode("utf-8"), release_date(version).encode("utf-8"))
        path.write_bytes(data)
        resources.append(file_resource(path))
    package = {
        "name": PACKAGE_NAME,
        "title": PACKAGE_TITLE,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "content_hash": content,
        "previous_version": previous.version if previous else None,
        "licenses": package_licenses(),
        "contributors": [{"title": DATASET["compiler"], "role": "author"}],
        "resources": [{**resource, "licenses": resource_licenses(str(resource["name"]))} for resource in resources],
    }
    package["resources"].append(
        {**checksums_resource(len(package["resources"]) + 1), "licenses": resource_licenses(CHECKSUMS)}
    )
    if DATASET.get("url"):
        package["homepage"] = DATASET["url"]
    (temporary / DATAPACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_checksums(temporary)
    for path in temporary.iterdir():
        fsync_file(path)
    fsync_directory(temporary)
    return temporary


def checksums_resource(listed_files: int) -> dict:
    """The data package resource of checksums.csv: one row per other file of the release (datapackage.json too)."""
    return {
        "name": "checksums",
        "type": "table",
        "path": CHECKSUMS,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {"delimiter": ","},
        "description": "sha256 and byte size of every other file of the release; `make verify` checks them.",
        "rows": listed_files,
        "schema": {
            "fields": [
                {"name": "file", "type": "string", "description": "file name in the release folder"},
                {"name": "bytes", "type": "integer", "description": "size in bytes"},
                {"name": "sha256", "type": "string", "description": "sha256 of the file, hexadecimal"},
            ],
            "primaryKey": ["file"],
        },
    }


def write_checksums(folder: Path) -> None:
    """Write checksums.csv: file, bytes and sha256 of every other file in the folder, by name."""
    with (folder / CHECKSUMS).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CHECKSUM_COLUMNS)
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != CHECKSUMS:
                writer.writerow([path.name, path.stat().st_size, sha256_of(path)])


def release_date(version: str) -> str:
    """The date a release version stands for: 2026.11.28.1 → 2026-11-28."""
    year, month, day = version.split(".")[:3]
    return f"{year}-{month}-{day}"


def package_licenses() -> list[dict[str, str]]:
    """The package's licences: the project's own licence for what it derives, and the sources' terms for the rest."""
    licence = DATASET["data_licence"]
    return [
        {"name": licence["name"], "path": licence["path"], "title": f"{licence['title']}: the project's derived data"},
        {"path": SOURCE_TERMS_PATH, "title": " ".join(str(DATASET["source_terms"]).split())},
    ]


def resource_licenses(resource_name: str) -> list[dict[str, str]]:
    """A resource's licences: transcribed figures keep their source's terms, everything else is the project's own."""
    licence = DATASET["data_licence"]
    own = {"name": licence["name"], "path": licence["path"], "title": licence["title"]}
    if resource_name in TRANSCRIBED_RESOURCES:
        return [own, {"path": SOURCE_TERMS_PATH, "title": TRANSCRIBED_RESOURCES[resource_name]}]
    return [own]


def typed_arrow_table(frame: pd.DataFrame, model: type[pandera.DataFrameModel] | None) -> pa.Table:
    """The frame as an Arrow table, each column cast to its pandera model's type (an all-null column is not `null`)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.cast(published_schema(frame, table.schema, model))


def published_schema(frame: pd.DataFrame, schema: pa.Schema, model: type[pandera.DataFrameModel] | None) -> pa.Schema:
    """The Arrow schema a table is published with: the model's column types, categoricals as text."""
    categorical = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
    metadata = schema.metadata
    if categorical:
        # Categoricals are an in-memory form: published as text, with the pandas metadata of text columns too
        # (pandas reading the file gets text, and the file's bytes do not depend on how the frame was held).
        plain = frame.iloc[:0].astype(dict.fromkeys(categorical, "str"))
        metadata = pa.Schema.from_pandas(plain, preserve_index=False).metadata
    types = {name: arrow_type(str(column.dtype)) for name, column in model.to_schema().columns.items()} if model else {}
    fields = [
        pa.field(field.name, types.get(field.name) or (pa.large_string() if field.name in categorical else field.type))
        for field in schema
    ]
    return pa.schema(fields, metadata=metadata)


def write_table_file(
    table: ParquetSource | pd.DataFrame, model: type[pandera.DataFrameModel] | None, path: Path
) -> pa.Schema:
    """Write a table as a zstd Parquet file in its published schema, one row group's worth at a time; its schema.

    Each slice is read (a stored table: from its row groups) and cast (categoricals decoded to text) just before
    it is written, so a table of millions of rows is never held whole. Slices of pyarrow's default row-group size
    give the file pq.write_table would write.
    """
    source = table_source(table)
    schema = published_schema(source.empty_frame(), source.pandas_schema(), model)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for part in source.slices(ROW_GROUP_ROWS):
            writer.write_table(part.cast(schema))
    return schema


def arrow_type(dtype: str) -> pa.DataType | None:
    """The Arrow type of a pandera dtype name ('int64', 'Int64', 'float64', 'string[pyarrow]', 'bool'), or None."""
    lowered = dtype.lower()
    return next((arrow for word, arrow in ARROW_TYPES if word in lowered), None)


def check_extra_file_names(extra_files: dict[str, bytes], tables: dict[str, ParquetSource | pd.DataFrame]) -> None:
    """Extra files are plain names that collide with no table file, CHANGES.md or datapackage.json."""
    reserved = {DATAPACKAGE, CHANGES, CHECKSUMS, *(f"{name}.parquet" for name in tables)}
    for name in extra_files:
        if name in reserved or "/" in name or "\\" in name or name.startswith(".") or not name:
            raise ValueError(f"release file name {name!r} is reserved or not a plain file name")


def file_resource(path: Path) -> dict:
    """A data package resource for an extra file: a CSV is a table (columns as strings), anything else a file."""
    resource: dict[str, object] = {
        "name": path.name.lower(),
        "path": path.name,
        "format": path.suffix.lstrip(".").lower(),
        "mediatype": MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
    }
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        resource.update(
            type="table",
            encoding="utf-8",
            dialect={"delimiter": ","},  # stated: sniffing misreads a file whose texts hold ';' (dictionary.csv)
            rows=csv_row_count(path),
            schema={"fields": [{"name": name, "type": "string"} for name in header]},
        )
    else:
        resource["type"] = "file"
    return resource


def table_schema(arrow_schema: pa.Schema, descriptions: dict[str, str], primary_key: list[str]) -> dict:
    """A Frictionless table schema for a table of this Arrow schema."""
    fields = [
        {"name": field.name, "type": frictionless_type(field.type), "description": descriptions.get(field.name, "")}
        for field in arrow_schema
    ]
    schema: dict[str, object] = {"fields": fields}
    if primary_key:
        schema["primaryKey"] = list(primary_key)
    return schema


def frictionless_type(arrow_type: pa.DataType) -> str:
    """The Table Schema type of an Arrow type."""
    if is_text(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "datetime"
    return "any"


def csv_row_count(path: Path) -> int:
    """Data rows of a UTF-8 CSV file (records, not lines; the header excluded)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
