"""Dagster's standard table metadata for assets that are tables: row count, column schema, table name, a preview."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa

# No pipeline import here: this module is imported by every asset module, and what it imports enters their code
# versions (pipeline.defs.code_versions); the caller passes the pandera model whose descriptions the columns get.

# The warehouse is `indicators.duckdb`: DuckDB names its catalogue after the file, its tables sit in schema `main`.
WAREHOUSE_CATALOG = "indicators.main"
PREVIEW_ROWS = 5
PREVIEW_CELL_CHARACTERS = 60


def table_output(
    frame: pd.DataFrame,
    model: type[pa.DataFrameModel] | None = None,
    warehouse_table: str | None = None,
    categories_as_texts: bool = False,
) -> dg.Output[pd.DataFrame]:
    """The frame as an asset output carrying its table metadata (see table_metadata)."""
    return dg.Output(frame, metadata=table_metadata(frame, model, warehouse_table, categories_as_texts))


def table_metadata(
    frame: pd.DataFrame,
    model: type[pa.DataFrameModel] | None = None,
    warehouse_table: str | None = None,
    categories_as_texts: bool = False,
) -> dict[str, object]:
    """dagster/row_count, dagster/column_schema (types; descriptions from the pandera model), dagster/table_name
    for a table the warehouse holds, and the first rows as a Markdown preview.

    categories_as_texts: a categorical column's type is its texts' (the output is stored decoded).
    """
    descriptions = (
        {name: column.description or "" for name, column in model.to_schema().columns.items()} if model else {}
    )
    columns = [
        dg.TableColumn(
            name=str(column),
            type=stored_type(frame[column].dtype, categories_as_texts),
            description=descriptions.get(str(column)) or None,
        )
        for column in frame.columns
    ]
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": dg.MetadataValue.table_schema(dg.TableSchema(columns=columns)),
        "preview": dg.MetadataValue.md(preview_markdown(frame)),
    }
    if warehouse_table:
        metadata["dagster/table_name"] = dg.MetadataValue.text(f"{WAREHOUSE_CATALOG}.{warehouse_table}")
    return metadata


def stored_type(dtype: object, categories_as_texts: bool) -> str:
    """A column's type as the metadata names it: a categorical's texts' type when it is stored decoded."""
    if categories_as_texts and isinstance(dtype, pd.CategoricalDtype):
        return str(dtype.categories.dtype)
    return str(dtype)


def preview_markdown(frame: pd.DataFrame) -> str:
    """The first rows as a Markdown table, long texts shortened, pipes escaped (an empty table says so)."""
    if frame.empty:
        return "(no rows)"
    head = frame.head(PREVIEW_ROWS).astype(object).map(preview_cell)
    return head.to_markdown(index=False)


def preview_cell(value: object) -> str:
    """A cell as preview text: missing as empty, one line, at most PREVIEW_CELL_CHARACTERS characters."""
    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= PREVIEW_CELL_CHARACTERS else text[: PREVIEW_CELL_CHARACTERS - 1] + "…"
