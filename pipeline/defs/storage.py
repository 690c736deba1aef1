"""The I/O manager between assets: DataFrames as Parquet columns, other values pickled, on storage every worker reaches.

Each asset output is one file at `<base>/<asset key path>` (the path Dagster's default fs_io_manager uses, so that
the nightly's "is the output still there?" test and an instance holding pickles from before keep working: a file
is read as Parquet when it starts with Parquet's magic bytes, else unpickled). `base` is a local folder or an
fsspec URL (`s3://bucket/prefix`, `gcs://…`, `file:///shared/…`); by default the Dagster instance's storage folder
(DAGSTER_HOME/storage, as before). A DataFrame is written as Parquet only when it comes back identical: flat
column types, string column names, dtypes that survive the round trip; categorical columns keep their categories
and their order (stored in the file's metadata). Anything else is pickled, as by the default I/O manager.
An asset whose metadata sets STORE_CATEGORIES_AS_TEXTS has its categorical columns stored as texts instead, decoded
a row group at a time (the file its decoded frame would give; the step holds codes, not a string per row).
A downstream input reads only some columns or rows of a Parquet file when its `AssetIn` metadata says so
(`read_input(columns=…, rows_where_in=…)`: the input's own declaration of what its asset or check uses), or when
COLUMNS_READ names it.
"""

from __future__ import annotations

import json
import pickle
import uuid

import dagster as dg
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from pydantic import PrivateAttr

from pipeline.core.frames import decoded_texts
from pipeline.core.memory import release_free_memory
from pipeline.core.reading import TableReader, is_text, read_rows_where_in
from pipeline.core.tables import ParquetSource
from pipeline.validate.chunks import FrameChunks, ParquetChunks, TableChunks

PARQUET_MAGIC = b"PAR1"
CATEGORIES_KEY = b"pipeline.categories"
# (consuming asset's op name, input name) → the only columns it reads of that input: read from the file, not the whole table.
# Keep in step with the function the asset calls (here: pipeline.publish.documents.coverage.coverage_table).
COLUMNS_READ: dict[tuple[str, str], list[str]] = {
    ("coverage", "observations"): ["indicator_code", "region_code", "year", "value"],
}


# Ops whose table inputs are handed over as ParquetSource (pipeline/core/tables.py): the publication hashes, loads
# into DuckDB and writes every published table a column or a row group at a time (issue 17).
STREAMING_CONSUMERS = {"publication"}

# Asset metadata: the output's categorical columns are stored as texts, decoded a row group at a time, so that the
# step never holds a string per row (issue 17: preferred_values). The file is the one its decoded frame would give.
# Under another I/O manager the consumers get the categoricals themselves.
STORE_CATEGORIES_AS_TEXTS = "pipeline/categories_stored_as_texts"
# pyarrow's default row group (pq.write_table): the row groups written one at a time are those it would write.
ROW_GROUP_ROWS = 1024 * 1024

COLUMNS_KEY = "pipeline/columns_read"
ROWS_KEY = "pipeline/rows_where_in"
TEXTS_AS_CATEGORIES_KEY = "pipeline/texts_as_categories"


def read_input(
    asset: str,
    columns: list[str] | None = None,
    rows_where_in: dict[str, list[str]] | None = None,
    texts_as_categories: bool = False,
) -> dg.AssetIn:
    """An AssetIn that loads only these columns and the rows whose column value is in the given list (from Parquet).

    texts_as_categories: text columns come as categoricals (read as Parquet dictionaries: no string per row), for a
    consumer that works on their codes.
    """
    metadata: dict[str, object] = {}
    if columns is not None:
        metadata[COLUMNS_KEY] = list(columns)
    if rows_where_in:
        metadata[ROWS_KEY] = {column: sorted(set(values)) for column, values in rows_where_in.items()}
    if texts_as_categories:
        metadata[TEXTS_AS_CATEGORIES_KEY] = True
    return dg.AssetIn(asset, metadata=metadata)


class ColumnarIOManager(dg.ConfigurableIOManager):
    """Asset outputs as files under base_dir (a folder or fsspec URL; default: the instance's storage folder)."""

    base_dir: str | None = None
    _base: str = PrivateAttr(default="")
    _last_step: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """The base folder or URL: base_dir, else the instance's storage folder (as Dagster's fs_io_manager)."""
        if self.base_dir:
            self._base = self.base_dir
        elif context.instance is not None:
            self._base = context.instance.storage_directory()
        else:
            raise dg.DagsterInvariantViolationError("ColumnarIOManager needs base_dir or a Dagster instance")

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        """Write the output: Parquet for a DataFrame that round-trips exactly, else a pickle; record where and how."""
        filesystem, path = self.location(context)
        filesystem.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        decoding = isinstance(obj, pd.DataFrame) and bool(
            (context.definition_metadata or {}).get(STORE_CATEGORIES_AS_TEXTS)
        )
        schema = decoded_schema(obj) if decoding else None
        if decoding and schema is None:  # not decodable part by part: decode the whole frame
            obj = decoded_texts(obj)
        table = parquet_table(obj) if isinstance(obj, pd.DataFrame) and schema is None else None
        temporary = f"{path}.{uuid.uuid4().hex}.partial"
        with filesystem.open(temporary, "wb") as handle:
            if schema is not None:
                write_decoded(obj, schema, handle)
            elif table is not None:
                pq.write_table(table, handle)
            else:
                pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        filesystem.mv(temporary, path)
        stored_as = "parquet" if table is not None or schema is not None else "pickle"
        del table
        release_free_memory()  # the Arrow copy just written, and what the step freed
        context.add_output_metadata({"path": dg.MetadataValue.path(path), "stored_as": stored_as})

    def load_input(self, context: dg.InputContext):
        """Read an upstream output: only the columns the consumer needs when it is Parquet and COLUMNS_READ says so."""
        upstream = context.upstream_output
        if upstream is None:
            raise dg.DagsterInvariantViolationError(f"input {context.name} has no upstream output to load")
        filesystem, path = self.location(upstream)
        step = step_key(context)
        if step != self._last_step:  # a new step: what the one before freed goes back to the OS
            self._last_step = step
            release_free_memory()
        with filesystem.open(path, "rb") as handle:
            is_parquet = handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
            handle.seek(0)
            if not is_parquet:
                loaded = pickle.load(handle)
                if reads_in_parts(context) and isinstance(loaded, pd.DataFrame):
                    return TableReader(frame=loaded)
                if reads_as_source(context) and isinstance(loaded, pd.DataFrame):
                    return ParquetSource(frame=loaded)
                return FrameChunks(loaded) if reads_in_chunks(context) and isinstance(loaded, pd.DataFrame) else loaded
            if reads_in_parts(context):
                return TableReader(open_file=lambda: filesystem.open(path, "rb"), to_frame=parquet_frame)
            if reads_as_source(context):
                local = path if isinstance(filesystem, LocalFileSystem) else None
                return ParquetSource(
                    open_file=lambda: filesystem.open(path, "rb"), to_frame=parquet_frame, local_path=local
                )
            if reads_in_chunks(context):
                return ParquetChunks(lambda: filesystem.open(path, "rb"), parquet_frame)
            declared = context.definition_metadata or {}
            # The consuming step's op: for an @asset, the asset's name (context.asset_key is the upstream's).
            columns = declared.get(COLUMNS_KEY) or COLUMNS_READ.get((consumer_name(context), context.name))
            rows = declared.get(ROWS_KEY) or {}
            dictionary = stored_texts(handle, columns) if declared.get(TEXTS_AS_CATEGORIES_KEY) else None
            return parquet_frame(read_rows_where_in(handle, columns, rows, read_dictionary=dictionary))

    def location(self, context: dg.OutputContext) -> tuple[fsspec.AbstractFileSystem, str]:
        """The file system and path of one output: <base>/<asset key path> (op outputs: <base>/<run>/<step>/<name>)."""
        filesystem, root = fsspec.core.url_to_fs(self._base)
        if context.has_asset_key:
            parts = list(context.asset_key.path)
        else:
            parts = [context.run_id, context.step_key, context.name]
        return filesystem, "/".join([root.rstrip("/"), *parts])


# --- schema checks chunk by chunk (issue 17): an input annotated TableChunks gets the stored table, read lazily ---

TABLE_CHUNKS_TYPE = dg.DagsterType(
    name="TableChunks",
    description="a table read a row group at a time (pipeline/validate/chunks.py), or an in-memory DataFrame",
    type_check_fn=lambda _context, value: isinstance(value, (TableChunks, pd.DataFrame)),
    typing_type=TableChunks,
)
dg.make_python_type_usable_as_dagster_type(TableChunks, TABLE_CHUNKS_TYPE)


def reads_in_chunks(context: dg.InputContext) -> bool:
    """Whether the consumer declared the input as TableChunks (a schema check reading the table a chunk at a time)."""
    return getattr(context.dagster_type, "key", None) == TABLE_CHUNKS_TYPE.key


# --- documents reading parts of a table (issue 17): an input typed TableReader gets a handle to the stored file ---

TABLE_READER_TYPE = dg.DagsterType(
    name="TableReader",
    description="a stored table read in parts: row count from its footer, only the columns and rows used",
    type_check_fn=lambda _context, value: isinstance(value, (TableReader, pd.DataFrame)),
    typing_type=TableReader,
)


def read_in_parts(asset: str) -> dg.AssetIn:
    """An AssetIn handing over a TableReader of the stored output (or the DataFrame, from other I/O managers)."""
    return dg.AssetIn(asset, dagster_type=TABLE_READER_TYPE)


def reads_in_parts(context: dg.InputContext) -> bool:
    """Whether the consumer declared the input as TableReader (a document reading only the rows it uses)."""
    return getattr(context.dagster_type, "key", None) == TABLE_READER_TYPE.key


def step_key(context: dg.InputContext) -> str | None:
    """The key of the step loading the input, or None if the context has none (an input context built in a test)."""
    try:
        return context.step_context.step.key
    except (dg.DagsterInvariantViolationError, AttributeError):
        return None


def stored_texts(handle, columns: list[str] | None) -> list[str]:
    """The text columns of a Parquet file (among these columns, if given); the handle is left at its start."""
    schema = pq.read_schema(handle)
    handle.seek(0)
    return [field.name for field in schema if is_text(field.type) and (columns is None or field.name in columns)]


# --- the publication streams the stored tables (issue 17): these inputs get a ParquetSource of the stored file ---


def reads_as_source(context: dg.InputContext) -> bool:
    """Whether the consumer streams its tables (STREAMING_CONSUMERS): a ParquetSource, not a DataFrame, is handed over.

    Named by op, as COLUMNS_READ: the publication's inputs are also its assets' deps, and Dagster allows no
    dagster_type on an AssetIn that is a dep too.
    """
    return consumer_name(context) in STREAMING_CONSUMERS


def consumer_name(context: dg.InputContext) -> str | None:
    """The name of the op loading the input (for an @asset, the asset's name), or None if the context has none."""
    try:
        return context.op_def.name
    except dg.DagsterInvariantViolationError:
        return None


def parquet_table(frame: pd.DataFrame) -> pa.Table | None:
    """The frame as an Arrow table that reads back with the same columns and dtypes, or None (then it is pickled)."""
    if not all(isinstance(name, str) for name in frame.columns) or frame.columns.has_duplicates:
        return None
    if not isinstance(frame.index, pd.RangeIndex):
        return None
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if any(pa.types.is_nested(field.type) for field in table.schema):
        return None
    categories = {
        name: {"categories": frame[name].cat.categories.tolist(), "ordered": bool(frame[name].cat.ordered)}
        for name in frame.columns
        if isinstance(frame[name].dtype, pd.CategoricalDtype)
    }
    metadata = {**(table.schema.metadata or {}), CATEGORIES_KEY: json.dumps(categories, ensure_ascii=False).encode()}
    table = table.replace_schema_metadata(metadata)
    probe = parquet_frame(table.slice(0, 0))
    if list(probe.columns) != list(frame.columns) or not probe.dtypes.equals(frame.dtypes):
        return None
    return table


def decoded_schema(frame: pd.DataFrame) -> pa.Schema | None:
    """The schema parquet_table gives the frame with its categoricals decoded (decoded_texts), or None if a part's
    types could differ from the whole's (an object column) or that frame would not be stored as Parquet."""
    if any(frame[column].dtype == object for column in frame.columns) or not isinstance(frame.index, pd.RangeIndex):
        return None
    empty = parquet_table(decoded_texts(frame.iloc[:0]))
    if empty is None:
        return None
    # The pandas metadata of the whole frame: only its range index differs from the empty frame's.
    pandas_metadata = json.loads(empty.schema.metadata[b"pandas"])
    (index,) = pandas_metadata["index_columns"]
    index.update(start=frame.index.start, stop=frame.index.stop, step=frame.index.step)
    return empty.schema.with_metadata({**empty.schema.metadata, b"pandas": json.dumps(pandas_metadata).encode()})


def write_decoded(frame: pd.DataFrame, schema: pa.Schema, handle) -> None:
    """Write the frame as Parquet of this schema (decoded_schema), decoding its categoricals one row group at a time."""
    with pq.ParquetWriter(handle, schema) as writer:
        for start in range(0, max(len(frame), 1), ROW_GROUP_ROWS):
            part = pa.Table.from_pandas(decoded_texts(frame.iloc[start : start + ROW_GROUP_ROWS]), preserve_index=False)
            writer.write_table(pa.Table.from_arrays(part.columns, schema=schema))
            del part


def single_chunk_texts(table: pa.Table) -> pa.Table:
    """The table with each text column in one chunk (a column read from several row groups comes in as many).

    pandas keeps a text column as the Arrow chunks it was given, and a row selection on many chunks (a boolean
    mask, `take`) costs several times one on a single chunk: at SCALE=0.3 dispersion spent 4.6 of its 8.2 s there.
    """
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if column.num_chunks > 1 and is_text(field.type):
            table = table.set_column(index, field, pa.chunked_array([column.combine_chunks()], type=field.type))
    return table


def parquet_frame(table: pa.Table) -> pd.DataFrame:
    """The DataFrame of a stored table, with categorical columns given back their categories in their order."""
    frame = single_chunk_texts(table).to_pandas()
    stored = json.loads((table.schema.metadata or {}).get(CATEGORIES_KEY, b"{}"))
    for name, categorical in stored.items():
        if name in frame.columns:
            dtype = pd.CategoricalDtype(
                pd.Index(categorical["categories"], dtype=frame[name].dtype.categories.dtype),
                ordered=categorical["ordered"],
            )
            frame[name] = frame[name].astype(dtype)
    return frame
