"""The data dictionary (dictionary.csv, dictionary.md) built from the pandera models and the descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.publish.documents.card import markdown_cell
from pipeline.publish.documents.comments import column_descriptions, model_description

if TYPE_CHECKING:
    import pandera.pandas as pa


DICTIONARY_COLUMNS = [
    "table",
    "position",
    "column",
    "type",
    "nullable",
    "primary_key",
    "unit",
    "description_zh",
    "description_en",
]
# Words in a pandera dtype's name → Table Schema type (as in datapackage.json), first match wins.
DICTIONARY_TYPES = [("bool", "boolean"), ("int", "integer"), ("float", "number"), ("str", "string")]


def data_dictionary(
    models: dict[str, type[pa.DataFrameModel]],
    primary_keys: dict[str, list[str]],
    metadata_dir: Path = PACKAGE_METADATA_DIR,
) -> pd.DataFrame:
    """One row per column of every release table: position, type, nullability, key, unit, meaning in zh and en."""
    descriptions = column_descriptions(models, metadata_dir).set_index(["table", "column"])
    rows = []
    for table, model in models.items():
        for position, (column, schema_column) in enumerate(model.to_schema().columns.items(), start=1):
            described = descriptions.loc[(table, column)] if (table, column) in descriptions.index else None
            rows.append(
                {
                    "table": table,
                    "position": position,
                    "column": column,
                    "type": table_schema_type(str(schema_column.dtype)),
                    "nullable": bool(schema_column.nullable),
                    "primary_key": column in primary_keys.get(table, []),
                    "unit": "" if described is None else described["unit"],
                    "description_zh": "" if described is None else described["description_zh"],
                    "description_en": model_description(model, column)
                    if described is None
                    else described["description_en"],
                }
            )
    return pd.DataFrame(rows, columns=DICTIONARY_COLUMNS)


def table_schema_type(dtype: str) -> str:
    """The Table Schema type of a pandera dtype name (`string[pyarrow]` → string, `Int64` → integer)."""
    lowered = dtype.lower()
    return next((kind for word, kind in DICTIONARY_TYPES if word in lowered), "any")


def dictionary_markdown(
    dictionary: pd.DataFrame, models: dict[str, type[pa.DataFrameModel]], metadata_dir: Path = PACKAGE_METADATA_DIR
) -> str:
    """The data dictionary as Markdown: one section per table with its description and a column table."""
    descriptions = column_descriptions(models, metadata_dir)
    table_texts = {row.table: row for row in descriptions.itertuples() if not row.column}
    lines = [
        "# 数据字典 / Data dictionary",
        "",
        "Every column of every table in this release. Types are Table Schema types (as in `datapackage.json`);",
        "`key` marks the primary key. The same texts are the `COMMENT ON` comments in the DuckDB warehouse.",
        "",
    ]
    for table, columns in dictionary.groupby("table", sort=False):
        file_name = f"{table}.csv" if table == "coverage" else f"{table}.parquet"
        lines += [f"## `{table}` ({file_name})", ""]
        if table in table_texts:
            lines += [table_texts[table].description_zh, "", table_texts[table].description_en, ""]
        lines += ["| # | column | type | key | null | unit | 说明 | meaning |", "|---:|---|---|---|---|---|---|---|"]
        for row in columns.itertuples():
            cells = [
                str(row.position),
                f"`{row.column}`",
                row.type,
                "key" if row.primary_key else "",
                "yes" if row.nullable else "",
                markdown_cell(row.unit),
                markdown_cell(row.description_zh),
                markdown_cell(row.description_en),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
