"""Validate: pandera schemas run as blocking asset checks whose metadata lists the failing rows."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from pipeline.ingest import indicator_catalog, regions, sources, staged_observations
from pipeline.reader import STAGED_COLUMNS
from pipeline.schemas import (
    IndicatorCatalogSchema,
    RegionSchema,
    SourceSchema,
    StagedObservationSchema,
    describe_failure,
    observation_schema,
    schema_failures,
)

GROUP = "validate"
MAX_LISTED_FAILURES = 50


@dg.asset(group_name=GROUP)
def observations(staged_observations: pd.DataFrame) -> pd.DataFrame:
    """Staged observations in a stable order, the table that validation guards and the warehouse publishes."""
    ordered = staged_observations.sort_values(["indicator_code", "region_code", "year", "source_id"], kind="stable")
    return ordered.reset_index(drop=True)[STAGED_COLUMNS]


def schema_check_result(schema, frame: pd.DataFrame, table: str) -> dg.AssetCheckResult:
    """Validate lazily; pass, or fail with every failing row (file, row, column, rule) in the metadata."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = schema_failures(errors, frame, table)
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(describe_failure(record) for record in failures[:MAX_LISTED_FAILURES]),
            metadata={
                "failure_count": len(failures),
                "failures": dg.MetadataValue.json(failures[:MAX_LISTED_FAILURES]),
                "rows_checked": len(frame),
            },
        )
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": len(frame)})


@dg.asset_check(asset=regions, blocking=True)
def regions_schema(regions: pd.DataFrame) -> dg.AssetCheckResult:
    """Region codes are unique and well-formed, with known levels and district groups."""
    return schema_check_result(RegionSchema, regions, "regions")


@dg.asset_check(asset=indicator_catalog, blocking=True)
def indicator_catalog_schema(indicator_catalog: pd.DataFrame) -> dg.AssetCheckResult:
    """Every catalogue entry has names, unit, definition and a valid code."""
    return schema_check_result(IndicatorCatalogSchema, indicator_catalog, "indicator_catalog")


@dg.asset_check(asset=sources, blocking=True)
def sources_schema(sources: pd.DataFrame) -> dg.AssetCheckResult:
    """Every raw table has complete provenance with a sha256."""
    return schema_check_result(SourceSchema, sources, "sources")


@dg.asset_check(asset=staged_observations, blocking=True)
def staged_observations_schema(staged_observations: pd.DataFrame) -> dg.AssetCheckResult:
    """Staged observations have the tidy shape with lineage, and missing values carry a status."""
    return schema_check_result(StagedObservationSchema, staged_observations, "staged_observations")


@dg.asset_check(
    asset=observations,
    blocking=True,
    additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
)
def observations_schema(
    observations: pd.DataFrame, regions: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.AssetCheckResult:
    """Observations are unique per region, year, indicator and source, with known codes, units and plausible values."""
    schema = observation_schema(list(regions["region_code"]), indicator_catalog)
    return schema_check_result(schema, observations, "observations")
