"""Asset group publish: write–audit–publish of warehouse and release, coverage, documents, charts and the report."""

from __future__ import annotations

import datetime as dt
import hashlib

import dagster as dg
import pandas as pd

from pipeline.core.metadata import load_questions
from pipeline.core.reading import TableReader, table_reader
from pipeline.core.tables import ParquetSource
from pipeline.defs.convergence import VALUE_COLUMNS_READ
from pipeline.defs.ingest import METADATA_FILES
from pipeline.defs.resources import ProjectPaths
from pipeline.defs.storage import read_in_parts, read_input
from pipeline.publish.documents.answers import answer_rows, dataset_answers
from pipeline.publish.documents.card import CAVEAT_COLUMNS, flagged_statuses
from pipeline.publish.documents.card import dataset_card as card_text
from pipeline.publish.documents.charts import (
    CJK_FONT_FAMILY,
    DISTRICT_UNIT_LEVEL,
    GUANGZHOU,
    INCOME_RATIO_INDICATOR,
    INCOME_RATIO_REGIONS,
    URBANISATION_INDICATOR,
    chart_png,
    district_urbanisation_figure,
    income_ratio_figure,
    paired_city_figure,
    png_data_uri,
)
from pipeline.publish.documents.coverage import coverage_table, largest_gaps
from pipeline.publish.documents.dictionary import data_dictionary as dictionary_table
from pipeline.publish.documents.dictionary import dictionary_markdown
from pipeline.publish.documents.economy_charts import (
    CITY_UNIT_LEVEL,
    DISTRICT_ECONOMY_PANELS,
    GUANGDONG,
    city_dispersion_figure,
    district_economy_figure,
)
from pipeline.publish.documents.report import report_html
from pipeline.publish.publication import publish_tables
from pipeline.publish.registry import (
    PUBLISHED_TABLES,
    RELEASE_FILES,
    RELEASE_MODELS,
    RELEASE_PRIMARY_KEYS,
    TABLE_MODELS,
)
from pipeline.publish.release.write import PACKAGE_TITLE, file_bytes
from pipeline.validate.schemas import CoverageSchema

GROUP = "publish"
# Small tables the documents use whole; every other published table is read in parts (TableReader): its row count
# from the Parquet footer, and only the rows the answers and caveats use (issue 17).
WHOLE_TABLES = ["regions", "sources", "indicator_catalog"]
CARD_INPUTS = {
    **{name: dg.AssetIn(name) if name in WHOLE_TABLES else read_in_parts(name) for name in PUBLISHED_TABLES},
    "coverage": dg.AssetIn("coverage"),
}
# Every table comes as a ParquetSource (storage.STREAMING_CONSUMERS): the published ones are hashed, loaded into
# DuckDB and written to the release a column or a row group at a time, never whole in pandas; coverage is read whole.
PUBLICATION_INPUTS = {name: dg.AssetIn(name) for name in dict.fromkeys([*PUBLISHED_TABLES, *RELEASE_FILES.values()])}
# The rows the report's and the charts' fixed selections use (the constants of pipeline/publish/documents/charts.py).
INCOME_RATIO_READ = read_input(
    "indicators", rows_where_in={"indicator_code": [INCOME_RATIO_INDICATOR], "region_code": INCOME_RATIO_REGIONS}
)
DISTRICT_CV_ROWS: dict[str, list[str]] = {
    "indicator_code": [URBANISATION_INDICATOR],
    "parent_region_code": [GUANGZHOU],
    "unit_level": [DISTRICT_UNIT_LEVEL],
}
URBANISATION_READ = read_input(
    "preferred_values", VALUE_COLUMNS_READ, rows_where_in={"indicator_code": [URBANISATION_INDICATOR]}
)
DISTRICT_ECONOMY_READ = read_input(
    "observations", rows_where_in={"indicator_code": [code for code, _zh, _en in DISTRICT_ECONOMY_PANELS]}
)
CITY_DISPERSION_READ = read_input(
    "dispersion", rows_where_in={"parent_region_code": [GUANGDONG], "unit_level": [CITY_UNIT_LEVEL]}
)


@dg.asset(group_name=GROUP)
def coverage(observations: pd.DataFrame, regions: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """How many regions of each level have a value for each indicator and year, with the largest gaps listed."""
    table = CoverageSchema.validate(coverage_table(observations, regions), lazy=True)
    gaps = largest_gaps(table)
    return dg.Output(
        table,
        metadata={
            "rows": len(table),
            "indicators": int(table["indicator_code"].nunique()),
            "largest_gaps": dg.MetadataValue.md(gaps.drop(columns="missing_regions").to_markdown(index=False)),
        },
    )


@dg.asset(group_name=GROUP, ins={"indicators": INCOME_RATIO_READ})
def income_ratio_chart(indicators: pd.DataFrame, regions: pd.DataFrame, sources: pd.DataFrame) -> dg.Output[bytes]:
    """PNG: urban–rural income ratio of Guangzhou, Guangdong and China by year, derived and published kept apart."""
    png = chart_png(income_ratio_figure, indicators, regions, sources)
    return chart_output(png, "城乡居民收入比 urban–rural income ratio")


@dg.asset(
    group_name=GROUP,
    ins={"preferred_values": URBANISATION_READ, "dispersion": read_input("dispersion", rows_where_in=DISTRICT_CV_ROWS)},
)
def district_urbanisation_chart(
    preferred_values: pd.DataFrame, regions: pd.DataFrame, dispersion: pd.DataFrame
) -> dg.Output[bytes]:
    """PNG: urbanisation rate of each Guangzhou district by year, and its coefficient of variation across districts."""
    png = chart_png(district_urbanisation_figure, preferred_values, regions, dispersion)
    return chart_output(png, "广州各区城镇化率 Guangzhou district urbanisation")


@dg.asset(group_name=GROUP)
def paired_city_chart(
    paired_city_ratios: pd.DataFrame, regions: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.Output[bytes]:
    """PNG: Guangzhou ÷ each paired city (梅州 湛江 清远 肇庆), one panel per indicator."""
    png = chart_png(paired_city_figure, paired_city_ratios, regions, indicator_catalog)
    return chart_output(png, "广州与对口城市之比 paired cities")


@dg.asset(group_name=GROUP, ins={"observations": DISTRICT_ECONOMY_READ})
def district_economy_chart(
    observations: pd.DataFrame, regions: pd.DataFrame, sources: pd.DataFrame
) -> dg.Output[bytes]:
    """PNG: GDP and industrial output of Guangzhou's districts, from the most authoritative source, `u` hatched."""
    png = chart_png(district_economy_figure, observations, regions, sources)
    return chart_output(png, "广州各区地区生产总值与工业 district GDP and industry")


@dg.asset(group_name=GROUP, ins={"dispersion": CITY_DISPERSION_READ})
def city_dispersion_chart(dispersion: pd.DataFrame, indicator_catalog: pd.DataFrame) -> dg.Output[bytes]:
    """PNG: dispersion (CV and catalogue-weighted CV) across Guangdong's prefecture cities, one panel per indicator."""
    png = chart_png(city_dispersion_figure, dispersion, indicator_catalog)
    return chart_output(png, "广东各市离散程度 dispersion across Guangdong's cities")


def chart_output(png: bytes, title: str) -> dg.Output[bytes]:
    """The PNG as the asset value, shown in the Dagster UI as a Markdown image (a base64 data URI)."""
    return dg.Output(
        png,
        metadata={
            "preview": dg.MetadataValue.md(f"![{title}]({png_data_uri(png)})"),
            "bytes": len(png),
            "sha256": hashlib.sha256(png).hexdigest(),
            "font": CJK_FONT_FAMILY,
        },
    )


@dg.asset(
    group_name=GROUP,
    deps=[METADATA_FILES],
    ins={
        "indicators": INCOME_RATIO_READ,
        **{
            name: read_in_parts(name) for name in ["preferred_values", "dispersion", "convergence", "sigma_convergence"]
        },
    },
)
def report(
    project_paths: ProjectPaths,
    indicators: pd.DataFrame,
    preferred_values: TableReader,
    regions: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    sources: pd.DataFrame,
    dispersion: TableReader,
    convergence: TableReader,
    sigma_convergence: TableReader,
    coverage: pd.DataFrame,
    income_ratio_chart: bytes,
    district_urbanisation_chart: bytes,
    paired_city_chart: bytes,
    district_economy_chart: bytes,
    city_dispersion_chart: bytes,
) -> str:
    """The release's report.html: what the dataset answers, key indicators, the charts, coverage, how to cite."""
    readers = {
        "preferred_values": table_reader(preferred_values),
        "regions": table_reader(regions),
        "indicator_catalog": table_reader(indicator_catalog),
        "sources": table_reader(sources),
        "dispersion": table_reader(dispersion),
        "convergence": table_reader(convergence),
        "sigma_convergence": table_reader(sigma_convergence),
    }
    questions = load_questions(project_paths.metadata_path)
    # The answers' rows, and of dispersion also the rows of the report's district CV line.
    tables = answer_tables(questions, readers, {"dispersion": DISTRICT_CV_ROWS})
    answers = dataset_answers(questions, tables)
    charts = {
        "income_ratio_chart": income_ratio_chart,
        "district_urbanisation_chart": district_urbanisation_chart,
        "paired_city_chart": paired_city_chart,
        "district_economy_chart": district_economy_chart,
        "city_dispersion_chart": city_dispersion_chart,
    }
    return report_html(indicators, regions, indicator_catalog, tables["dispersion"], coverage, charts, sources, answers)


@dg.asset(group_name=GROUP, deps=[METADATA_FILES])
def data_dictionary(project_paths: ProjectPaths) -> pd.DataFrame:
    """Every column of every release table: type, nullability, key, unit and meaning in Chinese and English."""
    return dictionary_table(RELEASE_MODELS, RELEASE_PRIMARY_KEYS, project_paths.metadata_path)


@dg.asset(group_name=GROUP)
def data_dictionary_markdown(data_dictionary: pd.DataFrame, project_paths: ProjectPaths) -> str:
    """The data dictionary as Markdown, one section per table."""
    return dictionary_markdown(data_dictionary, RELEASE_MODELS, project_paths.metadata_path)


@dg.asset(group_name=GROUP, ins=CARD_INPUTS, deps=[METADATA_FILES])
def dataset_card(project_paths: ProjectPaths, **tables: pd.DataFrame) -> str:
    """The release's README.md: what the dataset answers, files, coverage, sources, licences, how to cite, caveats."""
    readers = {name: table_reader(tables[name]) for name in PUBLISHED_TABLES}
    questions = load_questions(project_paths.metadata_path)
    answers = dataset_answers(questions, answer_tables(questions, readers))
    observations = readers["observations"]
    flagged = observations.frame(
        [column for column in CAVEAT_COLUMNS if column in observations.columns],
        rows_where_in={"status": flagged_statuses(observations.distinct("status"))},
    )
    # The Files section's row counts come from the readers; the caveats use only the flagged observations.
    # Of the other large tables the card uses only their row counts.
    parts = {name: readers[name].frame() if name in WHOLE_TABLES else pd.DataFrame() for name in PUBLISHED_TABLES}
    parts["observations"] = flagged
    row_counts = {name: reader.num_rows for name, reader in readers.items()}
    return card_text(parts, tables["coverage"], TABLE_MODELS, PACKAGE_TITLE, answers, row_counts)


def answer_tables(
    questions: tuple, readers: dict[str, TableReader], extra_rows: dict[str, dict[str, list[str]]] | None = None
) -> dict[str, pd.DataFrame]:
    """The tables the answers read: the small ones whole, of the large ones only the rows of the questions."""
    whole = {name: readers[name].frame() for name in WHOLE_TABLES}
    rows = answer_rows(questions, whole["regions"], whole["indicator_catalog"])
    for name, more in (extra_rows or {}).items():
        rows[name] = {column: sorted({*rows[name][column], *values}) for column, values in more.items()}
    return {**whole, **{name: readers[name].frame(rows_where_in=chosen) for name, chosen in rows.items()}}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "warehouse",
            group_name=GROUP,
            deps=list(PUBLICATION_INPUTS),
            description="The DuckDB warehouse analysts open read-only: built in a staging file, audited, then swapped in atomically.",
        ),
        dg.AssetSpec(
            "release",
            group_name=GROUP,
            deps=list(PUBLICATION_INPUTS),
            description="A write-once versioned release (Parquet, CHANGES.md, datapackage.json), cut only when the content changed.",
        ),
    ],
    ins=PUBLICATION_INPUTS,
    can_subset=True,  # an incremental run may select one of the two; both are always published together
)
def publication(context, project_paths: ProjectPaths, **inputs):
    """Stage and audit the warehouse and the release, then publish both; on any failure nothing changes."""
    tables = {name: inputs[name] for name in PUBLISHED_TABLES}
    extra_files = {
        file_name: file_bytes(release_file_content(inputs[asset_name]))
        for file_name, asset_name in RELEASE_FILES.items()
    }
    outcome = publish_tables(tables, extra_files, project_paths, dt.datetime.now(dt.UTC).date())
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "warehouse" in selected:
        yield dg.MaterializeResult(
            asset_key="warehouse",
            metadata={
                "path": str(project_paths.warehouse_file),
                "release_version": outcome.version,
                "content_hash": outcome.content_hash,
                "swapped": outcome.warehouse_swapped,
                **{f"rows_{name}": count for name, count in outcome.row_counts.items()},
            },
        )
    summary = (
        f"new release {outcome.version} (previous: {outcome.previous_version or 'none'})"
        if outcome.changed
        else f"no change: content identical to release {outcome.version}"
    )
    if "release" in selected:
        yield dg.MaterializeResult(
            asset_key="release",
            metadata={
                "version": outcome.version,
                "changed": outcome.changed,
                "summary": summary,
                "path": str(outcome.release_path),
                "content_hash": outcome.content_hash,
            },
        )


def release_file_content(value: object) -> object:
    """An extra release file's content: a table (coverage, handed over as a ParquetSource) as its DataFrame."""
    return value.frame() if isinstance(value, ParquetSource) else value
