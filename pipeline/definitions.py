"""The pipeline's Dagster definitions, assembled from the stage modules."""

import dagster as dg

from pipeline import (
    automation,
    charts,
    convergence,
    coverage,
    dispersion,
    indicators,
    ingest,
    publish,
    release_documents,
    report,
    targets,
    validate,
)
from pipeline.connectors import checks as connector_checks
from pipeline.resources import ProjectPaths, default_project_paths

STAGE_MODULES = [
    ingest,
    validate,
    indicators,
    dispersion,
    convergence,
    targets,
    publish,
    coverage,
    release_documents,
    charts,
    report,
]
CHECK_MODULES = [validate, indicators, dispersion, convergence, targets, connector_checks]


def build_definitions(project_paths: ProjectPaths) -> dg.Definitions:
    """The whole pipeline for one raw folder: one observed raw asset and one staged asset per table in it."""
    assets = automation.with_code_versions(
        [
            *dg.load_assets_from_modules(STAGE_MODULES),
            *ingest.raw_table_assets(project_paths.raw_path),
        ]
    )
    checks = [*dg.load_asset_checks_from_modules(CHECK_MODULES), *indicators.ratio_reconciliation_checks()]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[automation.build_everything],
        schedules=[automation.nightly_schedule],
        sensors=[automation.raw_files_sensor],
        resources={"project_paths": project_paths},
    )


defs = build_definitions(default_project_paths())
