"""The pipeline's Dagster definitions, assembled from the asset-group modules of pipeline.defs."""

import dagster as dg

from pipeline.defs import automation, connector_checks, convergence, indicators, ingest, publish, validate
from pipeline.defs.code_versions import with_code_versions
from pipeline.defs.resources import ProjectPaths, default_project_paths

GROUP_MODULES = [ingest, validate, indicators, convergence, publish]
CHECK_MODULES = [validate, indicators, convergence, connector_checks]


def build_definitions(project_paths: ProjectPaths) -> dg.Definitions:
    """The whole pipeline for one raw folder: one observed raw asset and one staged asset per table in it."""
    assets = with_code_versions(
        [
            *dg.load_assets_from_modules(GROUP_MODULES),
            *ingest.raw_table_assets(project_paths.raw_path),
        ]
    )
    checks = [
        *dg.load_asset_checks_from_modules(CHECK_MODULES),
        *indicators.ratio_reconciliation_checks(project_paths.metadata_path),
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[automation.build_everything],
        schedules=[automation.nightly_schedule],
        sensors=[automation.raw_files_sensor],
        resources={"project_paths": project_paths},
    )


defs = build_definitions(default_project_paths())
