"""Publish: the DuckDB warehouse analysts query and the versioned Parquet release people download."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from pipeline.release import write_release
from pipeline.resources import ProjectPaths
from pipeline.schemas import (
    ConvergenceSchema,
    DispersionSchema,
    GroupAggregateSchema,
    IndicatorCatalogSchema,
    IndicatorSchema,
    ObservationSchema,
    PairedCityRatioSchema,
    RegionSchema,
    SourceSchema,
    TargetProgressSchema,
)
from pipeline.warehouse import build_warehouse

GROUP = "publish"
TABLE_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "regions": RegionSchema,
    "sources": SourceSchema,
    "indicator_catalog": IndicatorCatalogSchema,
    "observations": ObservationSchema,
    "indicators": IndicatorSchema,
    "group_aggregates": GroupAggregateSchema,
    "paired_city_ratios": PairedCityRatioSchema,
    "dispersion": DispersionSchema,
    "convergence": ConvergenceSchema,
    "target_progress": TargetProgressSchema,
}
PRIMARY_KEYS = {
    "regions": ["region_code"],
    "sources": ["source_id"],
    "indicator_catalog": ["indicator_code"],
    "observations": ["region_code", "year", "indicator_code", "source_id"],
    "indicators": ["indicator_code", "region_code", "year", "method"],
    "group_aggregates": ["indicator_code", "group_code", "year"],
    "paired_city_ratios": ["indicator_code", "reference_region_code", "region_code", "year"],
    "dispersion": ["indicator_code", "parent_region_code", "unit_level", "year", "measure"],
    "convergence": ["indicator_code", "parent_region_code", "unit_level", "start_year", "end_year"],
    "target_progress": ["target_code"],
}


@dg.asset(group_name=GROUP)
def warehouse(
    project_paths: ProjectPaths,
    regions: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    observations: pd.DataFrame,
    indicators: pd.DataFrame,
    group_aggregates: pd.DataFrame,
    paired_city_ratios: pd.DataFrame,
    dispersion: pd.DataFrame,
    convergence: pd.DataFrame,
    target_progress: pd.DataFrame,
) -> dg.MaterializeResult:
    """The DuckDB warehouse, built in a staging file, audited, then swapped in for analysts atomically."""
    tables = published_tables(regions, sources, indicator_catalog, observations, indicators)
    tables.update(convergence_tables(group_aggregates, paired_city_ratios, dispersion, convergence, target_progress))
    counts = build_warehouse(tables, project_paths.warehouse_file)
    return dg.MaterializeResult(
        metadata={
            "path": str(project_paths.warehouse_file),
            **{f"rows_{name}": count for name, count in counts.items()},
        }
    )


@dg.asset(group_name=GROUP, deps=[warehouse])
def release(
    project_paths: ProjectPaths,
    regions: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    observations: pd.DataFrame,
    indicators: pd.DataFrame,
    group_aggregates: pd.DataFrame,
    paired_city_ratios: pd.DataFrame,
    dispersion: pd.DataFrame,
    convergence: pd.DataFrame,
    target_progress: pd.DataFrame,
) -> dg.MaterializeResult:
    """A versioned Parquet release with a Frictionless data package, cut only when the content changed."""
    tables = published_tables(regions, sources, indicator_catalog, observations, indicators)
    tables.update(convergence_tables(group_aggregates, paired_city_ratios, dispersion, convergence, target_progress))
    outcome = write_release(tables, project_paths.releases_path, dt.date.today(), column_descriptions(), PRIMARY_KEYS)
    return dg.MaterializeResult(
        metadata={
            "version": outcome.version,
            "changed": outcome.changed,
            "path": str(outcome.path),
            "content_hash": outcome.content_hash,
        }
    )


def published_tables(
    regions: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    observations: pd.DataFrame,
    indicators: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The tables every release and the warehouse hold, in their published order."""
    return {
        "regions": regions,
        "sources": sources,
        "indicator_catalog": indicator_catalog,
        "observations": observations,
        "indicators": indicators,
    }


def convergence_tables(
    group_aggregates: pd.DataFrame,
    paired_city_ratios: pd.DataFrame,
    dispersion: pd.DataFrame,
    convergence: pd.DataFrame,
    target_progress: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The convergence tables every release and the warehouse hold, after the core tables."""
    return {
        "group_aggregates": group_aggregates,
        "paired_city_ratios": paired_city_ratios,
        "dispersion": dispersion,
        "convergence": convergence,
        "target_progress": target_progress,
    }


def column_descriptions() -> dict[str, dict[str, str]]:
    """Column descriptions of each published table, taken from its pandera model."""
    return {
        table: {name: column.description or "" for name, column in model.to_schema().columns.items()}
        for table, model in TABLE_MODELS.items()
    }
