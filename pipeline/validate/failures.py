"""pandera failures as records that name the file, row, column and rule of every failing figure."""

from __future__ import annotations

import copy

import pandas as pd
import pandera.pandas as pa


def schema_for_frame(schema: pa.DataFrameSchema | type[pa.DataFrameModel], frame: pd.DataFrame) -> pa.DataFrameSchema:
    """The schema with each text column that the frame holds as a categorical declared as that categorical.

    The staged tables keep text as categoricals in memory (frames.categorical_texts); coercing them to text
    would copy every string. The checks (isin, patterns, uniqueness) run on the categories and codes instead.
    """
    if isinstance(schema, type):
        schema = schema.to_schema()
    updates = {
        name: {"dtype": frame[name].dtype}
        for name, column in schema.columns.items()
        if name in frame.columns
        and isinstance(frame[name].dtype, pd.CategoricalDtype)
        and str(column.dtype).lower().startswith("str")
    }
    if not updates:
        return schema
    # A shallow copy with new Column objects for the changed columns only: update_columns would deep-copy every
    # column and its checks (the 30,000-code isin lists of a village-scale schema), once per chunk.
    adapted = copy.copy(schema)
    adapted.columns = dict(schema.columns)
    for name, update in updates.items():
        column = copy.copy(schema.columns[name])
        column.dtype = update["dtype"]
        adapted.columns[name] = column
    return adapted


# The columns a failure record quotes from its row (where the table has them).
LINEAGE_KEYS = (
    "source_id",
    "source_file",
    "source_row",
    "source_column",
    "printed_label",
    "region_code",
    "year",
    "indicator_code",
    "value",
)

# What each named rule expects, for error messages that say what would have been right.
RULE_EXPECTATIONS = {
    "known_region_code": "a region_code listed in pipeline/metadata/regions.csv",
    "known_indicator_code": "an indicator_code listed in pipeline/metadata/indicators.yaml",
    "value_in_plausible_range": "a value within the indicator's valid_min..valid_max in indicators.yaml",
    "unit_matches_catalog": "the indicator's unit in indicators.yaml",
    "missing_value_has_status": "a status saying why the value is missing (':' not available, 'c' confidential)",
}


def schema_failures(errors: pa.errors.SchemaErrors, frame: pd.DataFrame, table: str) -> list[dict]:
    """Each failure as a record naming the file, row and column where the figure came from, and the rule."""
    return failure_records(errors.failure_cases, frame, table)


def failure_records(failure_cases: pd.DataFrame, frame: pd.DataFrame, table: str) -> list[dict]:
    """pandera's failure cases as records; frame holds (at least) the failing rows' lineage columns, by index."""
    records = []
    seen = set()
    for case in failure_cases.to_dict("records"):
        index = case.get("index")
        rule = str(case.get("check"))
        row_level = case.get("schema_context") == "DataFrameSchema"
        if row_level and (index, rule) in seen:
            continue  # a row-level check lists every column of a failing row; report the row once
        seen.add((index, rule))
        lineage = lineage_of(frame, index)
        column = lineage.get("source_column") if row_level or case.get("column") is None else case.get("column")
        records.append(
            {
                "table": table,
                **{key: str(lineage[key]) for key in ("source_id", "printed_label") if present(lineage.get(key))},
                "file": lineage.get("source_file"),
                "row": None if lineage.get("source_row") is None else int(lineage["source_row"]),
                "column": column,
                "rule": rule,
                "expected": RULE_EXPECTATIONS.get(rule.split("(")[0]),
                "failure_case": None
                if row_level or case.get("failure_case") is None
                else str(case.get("failure_case")),
                "figure": {
                    key: (None if pd.isna(value) else str(value))
                    for key, value in lineage.items()
                    if key not in ("source_file", "source_row", "source_column", "source_id", "printed_label")
                },
            }
        )
    return records


def lineage_of(frame: pd.DataFrame, index) -> dict:
    """Where a row of a frame came from (file, row, column) and what it says, when the frame carries lineage."""
    if index is None or pd.isna(index) or index not in frame.index:
        return {}
    row = frame.loc[index]
    if isinstance(row, pd.DataFrame):
        row = row.iloc[0]
    return {key: row.get(key) for key in LINEAGE_KEYS if key in row}


def describe_failure(record: dict) -> str:
    """A failure record as one readable line."""
    where = record.get("file") or record["table"]
    if record.get("row") is not None:
        where += f", row {record['row']}"
    if record.get("column"):
        where += f", column {record['column']!r}"
    text = f"{where}: [{record['rule']}]"
    if record.get("failure_case") is not None:
        text += f" failing value {record['failure_case']!r}"
    if record.get("figure"):
        text += f" {record['figure']}"
    if record.get("expected"):
        text += f" (expected {record['expected']})"
    if record.get("note"):
        text += f": {record['note']}"
    return text


def present(value: object) -> bool:
    """A lineage value that is there (not None, NaN or empty)."""
    return value is not None and not (isinstance(value, float) and value != value) and str(value) != ""
