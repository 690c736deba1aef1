"""The pipeline's Dagster definitions, assembled from the asset-group modules of pipeline.defs."""

import dagster as dg

from pipeline.defs import automation, connector_checks, convergence, indicators, ingest, publish, validate
from pipeline.defs.automation import JOB_NAME
from pipeline.defs.code_versions import with_code_versions
from pipeline.defs.resources import ProjectPaths, columnar_io_manager, default_io_dir, default_project_paths

GROUP_MODULES = [ingest, validate, indicators, convergence, publish]
CHECK_MODULES = [validate, indicators, convergence, connector_checks]


def build_definitions(project_paths: ProjectPaths, io_dir: str | None = None) -> dg.Definitions:
    """The whole pipeline for one raw folder: one observed raw asset and one staged asset per table in it.

    io_dir: where asset outputs are stored between steps (a folder or fsspec URL; None: the instance's storage).
    """
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
        resources={"project_paths": project_paths, "io_manager": columnar_io_manager(io_dir)},
    )


def build_everything_for(
    raw_dir: str, warehouse_dir: str, metadata_dir: str, io_dir: str | None = None
) -> dg.JobDefinition:
    """The job for these folders: what a Dask worker rebuilds (dg.build_reconstructable_job) to run its steps."""
    paths = ProjectPaths(raw_dir=raw_dir, warehouse_dir=warehouse_dir, metadata_dir=metadata_dir)
    return build_definitions(paths, io_dir).resolve_job_def(JOB_NAME)


defs = build_definitions(default_project_paths(), default_io_dir())
