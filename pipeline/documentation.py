"""Documentation of the published data: warehouse views and comments, the data dictionary and the dataset card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.release import RELEASE_VERSION_PLACEHOLDER

if TYPE_CHECKING:
    import pandera.pandas as pa

METADATA_DIR = Path(__file__).parent / "metadata"
COLUMN_DESCRIPTIONS_FILE = METADATA_DIR / "column_descriptions.csv"
DISTRICT_GROUPS_FILE = METADATA_DIR / "district_groups.csv"
VIEWS_FILE = METADATA_DIR / "views.sql"
DESCRIPTION_COLUMNS = ["table", "column", "description_zh", "description_en", "unit"]
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
# Placeholders in column_descriptions.csv filled from district_groups.csv, so the group names live in one file.
DISTRICT_GROUPS_PLACEHOLDER_ZH = "@DISTRICT_GROUPS_ZH@"
DISTRICT_GROUPS_PLACEHOLDER_EN = "@DISTRICT_GROUPS_EN@"
# Words in a pandera dtype's name → Table Schema type (as in datapackage.json), first match wins.
DICTIONARY_TYPES = [("bool", "boolean"), ("int", "integer"), ("float", "number"), ("str", "string")]
VIEW_PATTERN = re.compile(r"^CREATE VIEW (\w+)", re.MULTILINE)
STATUS_FLAGS = {
    "b": ("口径断裂", "series break"),
    "e": ("估计值", "estimated"),
    "p": ("初步数", "provisional"),
    "u": ("可靠性低", "low reliability"),
    ":": ("无数据", "not available"),
    "c": ("保密", "confidential"),
}
MAX_LISTED_FLAGGED = 30


def column_descriptions(models: dict[str, type[pa.DataFrameModel]]) -> pd.DataFrame:
    """The descriptions file with English texts of modelled tables filled from their pandera models."""
    frame = pd.read_csv(COLUMN_DESCRIPTIONS_FILE, dtype=str, keep_default_na=False)
    if list(frame.columns) != DESCRIPTION_COLUMNS:
        raise ValueError(
            f"{COLUMN_DESCRIPTIONS_FILE}: columns must be {DESCRIPTION_COLUMNS}, not {list(frame.columns)}"
        )
    groups_zh, groups_en = district_group_texts()
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


def district_group_texts() -> tuple[str, str]:
    """The 一区一策 group codes with their Chinese and English names, as two sentences."""
    groups = pd.read_csv(DISTRICT_GROUPS_FILE, dtype=str, keep_default_na=False)
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
                problems.append(f"{label}: not in {COLUMN_DESCRIPTIONS_FILE.name}")
                continue
            for field in ("description_zh", "description_en"):
                if not getattr(row, field).strip():
                    problems.append(f"{label}: empty {field}")
    for table, column in described:
        if table in columns and column and column not in columns[table]:
            problems.append(f"{table}.{column}: described in {COLUMN_DESCRIPTIONS_FILE.name} but no such column")
    return problems


def comment_text(row) -> str:
    """A bilingual comment: Chinese / English, with the unit in brackets."""
    text = f"{row.description_zh} / {row.description_en}"
    return f"{text} [{row.unit}]" if row.unit else text


def warehouse_statements(models: dict[str, type[pa.DataFrameModel]], extra_tables: list[str]) -> list[str]:
    """The views, then COMMENT ON every modelled table, extra table, view and column (zh / en)."""
    descriptions = column_descriptions(models)
    sql = VIEWS_FILE.read_text(encoding="utf-8")
    kinds = {name: "TABLE" for name in [*models, *extra_tables]} | {name: "VIEW" for name in view_names()}
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


def view_names() -> list[str]:
    """The views pipeline/metadata/views.sql creates, in order."""
    return VIEW_PATTERN.findall(VIEWS_FILE.read_text(encoding="utf-8"))


def data_dictionary(models: dict[str, type[pa.DataFrameModel]], primary_keys: dict[str, list[str]]) -> pd.DataFrame:
    """One row per column of every release table: position, type, nullability, key, unit, meaning in zh and en."""
    descriptions = column_descriptions(models).set_index(["table", "column"])
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


def dictionary_markdown(dictionary: pd.DataFrame, models: dict[str, type[pa.DataFrameModel]]) -> str:
    """The data dictionary as Markdown: one section per table with its description and a column table."""
    descriptions = column_descriptions(models)
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


def dataset_card(
    tables: dict[str, pd.DataFrame],
    coverage: pd.DataFrame,
    models: dict[str, type[pa.DataFrameModel]],
    title: str,
) -> str:
    """The release's README.md: what it is, files, coverage, sources and licences, how to cite, caveats, changes."""
    catalog = tables["indicator_catalog"].set_index("indicator_code")
    lines = [
        f"# {title}",
        "",
        f"Release `{RELEASE_VERSION_PLACEHOLDER}`. 城乡融合发展指标数据集（广州、广东，百县千镇万村高质量发展工程）.",
        "",
        "## What this is",
        "",
        "Official Chinese statistical tables (yearbooks, statistical communiqués, survey releases; where no official",
        "copy could be read, news reports and compilations quoting them, marked in `sources.url_kind` and",
        "`sources.authority`) transcribed as published, checked, and turned into urban–rural convergence",
        "indicators for Guangzhou, its districts, Guangdong",
        "and China: urban and rural income and consumption, urban–rural ratios, urbanisation, group aggregates for the",
        "一区一策 district groups, Guangzhou ÷ paired-city ratios, dispersion across units and β-convergence.",
        "Every figure keeps the raw table it came from (`source_id`, file, row, column). A gap stays a gap: nothing is",
        "imputed or estimated here.",
        "",
        "## Files",
        "",
        "| file | rows | what it holds |",
        "|---|---:|---|",
    ]
    for name, frame in tables.items():
        lines.append(f"| `{name}.parquet` | {len(frame)} | {markdown_cell(model_description(models[name], ''))} |")
    lines += [
        f"| `coverage.csv` | {len(coverage)} | regions with a value out of regions at each level, per indicator and year |",
        "| `dictionary.csv`, `dictionary.md` | | every column of every table: type, unit, meaning in Chinese and English |",
        "| `report.html` | | one self-contained page: key indicators, the charts, coverage and how to cite (no network) |",
        "| `chart_*.png` | | the charts: income ratios, Guangzhou district urbanisation and its CV, paired cities |",
        "| `CHANGES.md` | | what changed against the previous release |",
        "| `datapackage.json` | | Frictionless descriptor: sha256, bytes, rows and schema of every file |",
        "",
        "## Coverage",
        "",
        "Years with at least one value, by indicator and region level, and the share of the level's regions with a",
        "value in the latest such year (from `coverage.csv`).",
        "",
        "| indicator | 指标 | level | years | latest year coverage |",
        "|---|---|---|---|---:|",
        *coverage_lines(coverage, catalog),
        "",
        "## Sources and licences",
        "",
        f"{len(tables['sources'])} raw tables. Each figure keeps its source's terms, as the sources state them below.",
        "The `sources` table has the URL, edition, access date and sha256 of every raw table.",
        "",
        "| licence | raw tables | publishers |",
        "|---|---:|---|",
        *licence_lines(tables["sources"]),
        "",
        "## How to cite",
        "",
        "> Urban–rural convergence indicators for Guangzhou and Guangdong (百千万工程), release",
        f"> {RELEASE_VERSION_PLACEHOLDER}. Compiled from the official sources listed in `sources.parquet`.",
        "",
        "Cite the release version: releases are write-once, so the same version always holds the same figures. Cite",
        "the original publisher (see `sources`) for any figure you reproduce.",
        "",
        "## Caveats",
        "",
        *caveat_lines(tables, catalog),
        "",
        "## Changes",
        "",
        "`CHANGES.md` lists the rows added, removed and changed against the previous release, the largest value",
        "changes and new or retired codes.",
        "",
    ]
    return "\n".join(lines)


def coverage_lines(coverage: pd.DataFrame, catalog: pd.DataFrame) -> list[str]:
    """Markdown rows: per indicator and level with values, the year span and the latest year's coverage."""
    lines = [
        f"| `{row['indicator_code']}` | {markdown_cell(row['name_zh'])} | {row['level']} | {row['years']} | {row['latest']} |"
        for row in coverage_summary(coverage, catalog)
    ]
    return lines or ["| – | – | – | – | – |"]


def coverage_summary(coverage: pd.DataFrame, catalog: pd.DataFrame) -> list[dict[str, str]]:
    """Per indicator and level with values: Chinese name, year span and the latest year's regions with a value."""
    present = coverage[coverage["regions_with_value"] > 0]
    summary = []
    for (indicator, level), rows in present.groupby(["indicator_code", "level"], sort=True):
        latest = rows.sort_values("year").iloc[-1]
        count = rows["year"].nunique()
        summary.append(
            {
                "indicator_code": str(indicator),
                "name_zh": str(catalog["name_zh"].get(indicator, "")),
                "level": str(level),
                "years": f"{rows['year'].min()}–{rows['year'].max()} ({count} year{'s' if count > 1 else ''})",
                "latest": f"{latest['regions_with_value']}/{latest['regions_at_level']} in {latest['year']}",
            }
        )
    return summary


def licence_lines(sources: pd.DataFrame) -> list[str]:
    """Markdown rows: each distinct licence text with how many raw tables carry it and their publishers."""
    lines = []
    for licence, rows in sources.groupby("licence", sort=True):
        publishers = ", ".join(sorted(set(rows["publisher"])))
        lines.append(f"| {markdown_cell(licence)} | {len(rows)} | {markdown_cell(publishers)} |")
    return lines


def caveat_lines(tables: dict[str, pd.DataFrame], catalog: pd.DataFrame) -> list[str]:
    """Caveat paragraphs: the 2013/2014 survey break, flagged figures (b, u, p, e) listed, catalogue caveats."""
    observations = tables["observations"]
    region_names = tables["regions"].set_index("region_code")["name_zh"]
    lines = [
        "- **Household survey reform (2013/2014).** Rural per-capita net income (纯收入, before the reform) and",
        "  disposable income (可支配收入, integrated survey) are different series and are never joined here.",
        "  Household consumption level (居民消费水平, national accounts) is not survey consumption expenditure.",
        "- **Status flags** on observations and indicators: "
        + "; ".join(f"`{flag}` {zh} {en}" for flag, (zh, en) in STATUS_FLAGS.items())
        + ".",
    ]
    for flag in ("b", "u", "p", "e"):
        flagged = observations[observations["status"].str.contains(flag, regex=False)]
        zh, en = STATUS_FLAGS[flag]
        if flagged.empty:
            lines.append(f"- No observation is flagged `{flag}` ({en}, {zh}).")
            continue
        lines.append(f"- {len(flagged)} observation(s) flagged `{flag}` ({en}, {zh}):")
        ordered = flagged.sort_values(["indicator_code", "region_code", "year", "source_id"])
        for row in ordered.head(MAX_LISTED_FLAGGED).itertuples():
            region = f"{region_names.get(row.region_code, '')} {row.region_code}".strip()
            lines.append(f"  - `{row.indicator_code}` {region} {row.year} (source `{row.source_id}`)")
        if len(flagged) > MAX_LISTED_FLAGGED:
            lines.append(f"  - … and {len(flagged) - MAX_LISTED_FLAGGED} more (filter `observations` on `status`).")
    lines += ["- **Indicator caveats** (from `indicator_catalog`):"]
    for indicator, row in catalog.sort_index().iterrows():
        if str(row["caveats"]).strip():
            lines.append(f"  - `{indicator}` {row['name_zh']}: {' '.join(str(row['caveats']).split())}")
    return lines


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def quoted(identifier: str) -> str:
    """A SQL identifier in double quotes."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (COMMENT ON accepts no bound parameter)."""
    return "'" + text.replace("'", "''") + "'"
