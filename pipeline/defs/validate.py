"""Asset group validate: the observations table and pandera schemas run as blocking asset checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from pipeline.core.errors import InputError
from pipeline.core.metadata import load_units
from pipeline.defs.resources import ProjectPaths
from pipeline.defs.storage import TABLE_CHUNKS_TYPE
from pipeline.defs.tables import table_output
from pipeline.ingest.sidecar import read_sidecar_fields
from pipeline.ingest.sources import sidecar_path_of
from pipeline.validate.chunks import CHUNK_ROWS, FrameChunks, TableChunks, chunked_failure_cases
from pipeline.validate.failures import describe_failure, failure_records, schema_failures, schema_for_frame
from pipeline.validate.grades import graded_observations
from pipeline.validate.observations import (
    additive_indicator_codes,
    describe_excess,
    ordered_observations,
    parts_exceeding_totals,
)
from pipeline.validate.pairs import describe_pair_violation, ratio_pair_violations
from pipeline.validate.range_units import with_unit_notes
from pipeline.validate.schemas import (
    IndicatorCatalogSchema,
    ObservationSchema,
    RegionSchema,
    SourceSchema,
    StagedObservationSchema,
    observation_schema,
    with_known_codes,
)

GROUP = "validate"
# The checks below annotate the checked table TableChunks: its Dagster type (storage.py) must be registered first.
assert TABLE_CHUNKS_TYPE.typing_type is TableChunks
MAX_LISTED_FAILURES = 50


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources")})
def observations(staged_observations: pd.DataFrame, sources: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Staged observations in a stable order, graded by rule (publisher kind, reliability, `u`): the published table."""
    graded = graded_observations(ordered_observations(staged_observations), sources)
    return table_output(graded, ObservationSchema, "observations")


def schema_check_result(
    schema,
    frame: pd.DataFrame | TableChunks,
    table: str,
    annotate: Callable[[list[dict]], list[dict]] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dg.AssetCheckResult:
    """Validate lazily; pass, or fail with every failing row (file, row, column, rule) in the metadata.

    A table of more than chunk_rows rows, or one read from storage, is validated chunk by chunk
    (pipeline/validate/chunks.py), with the same failure records as a whole-table run.
    """
    chunks = FrameChunks(frame) if isinstance(frame, pd.DataFrame) else frame
    if chunks.row_count <= chunk_rows:
        return whole_check_result(schema, chunks.as_stored(), table, annotate)
    whole_schema = schema.to_schema() if isinstance(schema, type) else schema
    found = chunked_failure_cases(whole_schema, chunks, chunk_rows)
    if found is None:  # a rule that needs every row at once
        return whole_check_result(schema, chunks.as_stored(), table, annotate)
    failure_cases, lineage = found
    if failure_cases is None:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": chunks.row_count})
    failures = failure_records(failure_cases, lineage, table)
    if annotate is not None:
        failures = annotate(failures)
    return records_check_result(failures, describe_failure, chunks.row_count)


def whole_check_result(
    schema, frame: pd.DataFrame, table: str, annotate: Callable[[list[dict]], list[dict]] | None
) -> dg.AssetCheckResult:
    """Validate the whole frame at once.

    inplace=True: pandera would otherwise copy the whole frame first; its only in-place change is the dtype
    coercion the schema declares, which leaves frames of the published dtypes as they are.
    """
    schema = schema_for_frame(schema, frame)
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        failures = schema_failures(errors, frame, table)
        if annotate is not None:
            failures = annotate(failures)
        return records_check_result(failures, describe_failure, len(frame))
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": len(frame)})


def records_check_result(
    records: list[dict], describe: Callable[[dict], str], rows_checked: int
) -> dg.AssetCheckResult:
    """Pass when there are no failing records; else fail, describing the first ones and keeping them in the metadata."""
    if not records:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": rows_checked})
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(describe(record) for record in records[:MAX_LISTED_FAILURES]),
        metadata={
            "failure_count": len(records),
            "failures": dg.MetadataValue.json(records[:MAX_LISTED_FAILURES]),
            "rows_checked": rows_checked,
        },
    )


def known_codes_schema_check(
    table: str, model: type[pa.DataFrameModel], region_columns: list[str], description: str
) -> dg.AssetChecksDefinition:
    """A blocking check `<table>_schema`: the table's pandera model, with region and indicator codes that must exist."""
    # Dagster passes the checked asset to the one parameter not named in additional_ins (here `frame`); annotated
    # TableChunks, the Parquet I/O manager hands over the stored file to be read a row group at a time.

    @dg.asset_check(
        name=f"{table}_schema",
        asset=table,
        blocking=True,
        additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
        description=description,
    )
    def check(frame: TableChunks, regions: pd.DataFrame, indicator_catalog: pd.DataFrame) -> dg.AssetCheckResult:
        schema = with_known_codes(model, region_columns, list(regions["region_code"]), indicator_catalog)
        return schema_check_result(schema, frame, table)

    return check


def schema_check(table: str, model: type[pa.DataFrameModel], description: str) -> dg.AssetChecksDefinition:
    """A blocking check `<table>_schema`: the table's pandera model, failing rows in the metadata."""

    @dg.asset_check(name=f"{table}_schema", asset=table, blocking=True, description=description)
    def check(frame: TableChunks) -> dg.AssetCheckResult:
        return schema_check_result(model, frame, table)

    return check


regions_schema = schema_check(
    "regions", RegionSchema, "Region codes are unique and well-formed, with known levels and district groups."
)
indicator_catalog_schema = schema_check(
    "indicator_catalog", IndicatorCatalogSchema, "Every catalogue entry has names, unit, definition and a valid code."
)
sources_schema = schema_check("sources", SourceSchema, "Every raw table has complete provenance with a sha256.")
staged_observations_schema = schema_check(
    "staged_observations",
    StagedObservationSchema,
    "Staged observations have the tidy shape with lineage, and missing values carry a status.",
)


@dg.asset_check(
    asset=observations,
    blocking=True,
    additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
)
def observations_schema(
    observations: TableChunks, regions: pd.DataFrame, indicator_catalog: pd.DataFrame, project_paths: ProjectPaths
) -> dg.AssetCheckResult:
    """Observations are unique per region, year, indicator and source, with known codes, units and plausible values."""
    schema = observation_schema(list(regions["region_code"]), indicator_catalog)

    def annotate(failures: list[dict]) -> list[dict]:
        """A value out of its plausible range is explained by the unit its sidecar declares."""
        fields = sidecar_fields_of(project_paths.raw_path, {str(record.get("source_id")) for record in failures})
        return with_unit_notes(failures, indicator_catalog, fields, load_units(project_paths.metadata_path))

    return schema_check_result(schema, observations, "observations", annotate)


def sidecar_fields_of(raw_dir: Path, source_ids: set[str]) -> dict[str, dict]:
    """The sidecar fields of these tables (those that read as a mapping), by source id."""
    found = {}
    for source_id in sorted(source_ids):
        try:
            fields = read_sidecar_fields(sidecar_path_of(raw_dir, source_id))
        except InputError:
            continue
        if isinstance(fields, dict):
            found[source_id] = fields
    return found


@dg.asset_check(asset=observations, blocking=True, additional_ins={"regions": dg.AssetIn("regions")})
def observations_parts_within_totals(
    observations: pd.DataFrame, regions: pd.DataFrame, project_paths: ProjectPaths
) -> dg.AssetCheckResult:
    """For additive indicators, the districts a table prints do not add up to more than the city total it prints."""
    excesses = parts_exceeding_totals(
        observations, regions, additive_indicator_codes(project_paths.metadata_path / "indicators.yaml")
    )
    return records_check_result(excesses, describe_excess, len(observations))


@dg.asset_check(
    asset=observations, blocking=True, additional_ins={"indicator_catalog": dg.AssetIn("indicator_catalog")}
)
def observations_ratio_inputs_in_range(
    observations: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.AssetCheckResult:
    """Two figures one table prints for a bounded derived ratio keep its range (urban ≥ rural), named on their rows."""
    violations = ratio_pair_violations(observations, indicator_catalog)
    return records_check_result(violations, describe_pair_violation, len(observations))
