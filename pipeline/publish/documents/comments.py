"""Bilingual COMMENT ON statements for every warehouse table, view and column."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.core.sql import literal, quoted

if TYPE_CHECKING:
    import pandera.pandas as pa


# The documentation metadata, in the metadata folder (ProjectPaths.metadata_dir; pipeline/metadata by default).
COLUMN_DESCRIPTIONS_FILE = "column_descriptions.csv"
DISTRICT_GROUPS_FILE = "district_groups.csv"
VIEWS_FILE = "views.sql"
DESCRIPTION_COLUMNS = ["table", "column", "description_zh", "description_en", "unit"]
# Placeholders in column_descriptions.csv filled from district_groups.csv, so the group names live in one file.
DISTRICT_GROUPS_PLACEHOLDER_ZH = "@DISTRICT_GROUPS_ZH@"
DISTRICT_GROUPS_PLACEHOLDER_EN = "@DISTRICT_GROUPS_EN@"
VIEW_PATTERN = re.compile(r"^CREATE VIEW (\w+)", re.MULTILINE)


def column_descriptions(
    models: dict[str, type[pa.DataFrameModel]], metadata_dir: Path = PACKAGE_METADATA_DIR
) -> pd.DataFrame:
    """The descriptions file with English texts of modelled tables filled from their pandera models."""
    descriptions_path = metadata_dir / COLUMN_DESCRIPTIONS_FILE
    frame = pd.read_csv(descriptions_path, dtype=str, keep_default_na=False)
    if list(frame.columns) != DESCRIPTION_COLUMNS:
        raise ValueError(f"{descriptions_path}: columns must be {DESCRIPTION_COLUMNS}, not {list(frame.columns)}")
    groups_zh, groups_en = district_group_texts(metadata_dir)
    frame["description_zh"] = frame["description_zh"].str.replace(DISTRICT_GROUPS_PLACEHOLDER_ZH, groups_zh)
    frame["description_en"] = frame["description_en"].str.replace(DISTRICT_GROUPS_PLACEHOLDER_EN, groups_en)
    for index, row in frame.iterrows():
        model = models.get(row["table"])
        if model is None or row["description_en"]:
            continue
        frame.at[index, "description_en"] = model_description(model, row["column"])
    return frame


def model_description(model: type[pa.DataFrameModel], column: str) -> str:
    """The English description of a model's column (its Field description) or, for '', of the table (docstring)."""
    if not column:
        return (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    schema_column = model.to_schema().columns.get(column)
    return (schema_column.description or "") if schema_column is not None else ""


def district_group_texts(metadata_dir: Path = PACKAGE_METADATA_DIR) -> tuple[str, str]:
    """The 一区一策 group codes with their Chinese and English names, as two sentences."""
    groups = pd.read_csv(metadata_dir / DISTRICT_GROUPS_FILE, dtype=str, keep_default_na=False)
    zh = "；".join(f"{row.district_group} = {row.name_zh}" for row in groups.itertuples())
    en = "; ".join(f"{row.district_group} = {row.name_en}" for row in groups.itertuples())
    return f"“一区一策”分组：{zh}", f"一区一策 group: {en}"


def missing_descriptions(descriptions: pd.DataFrame, columns: dict[str, list[str]]) -> list[str]:
    """Every table or column without a Chinese or English description, and rows describing nothing that exists."""
    described = {(row.table, row.column): row for row in descriptions.itertuples()}
    problems = []
    for table, names in columns.items():
        for column in ["", *names]:
            label = f"{table}.{column}" if column else table
            row = described.get((table, column))
            if row is None:
                problems.append(f"{label}: not in {COLUMN_DESCRIPTIONS_FILE}")
                continue
            for field in ("description_zh", "description_en"):
                if not getattr(row, field).strip():
                    problems.append(f"{label}: empty {field}")
    for table, column in described:
        if table in columns and column and column not in columns[table]:
            problems.append(f"{table}.{column}: described in {COLUMN_DESCRIPTIONS_FILE} but no such column")
    return problems


def comment_text(row) -> str:
    """A bilingual comment: Chinese / English, with the unit in brackets."""
    text = f"{row.description_zh} / {row.description_en}"
    return f"{text} [{row.unit}]" if row.unit else text


def warehouse_statements(
    models: dict[str, type[pa.DataFrameModel]], extra_tables: list[str], metadata_dir: Path = PACKAGE_METADATA_DIR
) -> list[str]:
    """The views, then COMMENT ON every modelled table, extra table, view and column (zh / en)."""
    descriptions = column_descriptions(models, metadata_dir)
    sql = (metadata_dir / VIEWS_FILE).read_text(encoding="utf-8")
    kinds = {name: "TABLE" for name in [*models, *extra_tables]} | {name: "VIEW" for name in view_names(metadata_dir)}
    statements = [sql]
    for row in descriptions.itertuples():
        if row.table not in kinds:
            continue  # described but not in this warehouse (coverage ships only as a release file)
        # COMMENT ON takes no bound parameters; the texts come from our metadata file and are quoted as literals.
        target = (
            f"COLUMN {quoted(row.table)}.{quoted(row.column)}"
            if row.column
            else f"{kinds[row.table]} {quoted(row.table)}"
        )
        statements.append(f"COMMENT ON {target} IS {literal(comment_text(row))}")
    return statements


def view_names(metadata_dir: Path = PACKAGE_METADATA_DIR) -> list[str]:
    """The views the metadata folder's views.sql creates, in order."""
    return VIEW_PATTERN.findall((metadata_dir / VIEWS_FILE).read_text(encoding="utf-8"))
