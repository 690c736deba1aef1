"""The pipeline's Dagster definitions, assembled from the stage modules."""

import dagster as dg

from pipeline import convergence, coverage, dispersion, indicators, ingest, publish, targets, validate
from pipeline.resources import default_project_paths

all_assets = dg.load_assets_from_modules(
    [ingest, validate, indicators, dispersion, convergence, targets, publish, coverage]
)
all_checks = [
    *dg.load_asset_checks_from_modules([validate, indicators, dispersion, convergence, targets]),
    *indicators.ratio_reconciliation_checks(),
]

build_everything = dg.define_asset_job(
    "build_everything", selection=dg.AssetSelection.all(), description="Raw tables → warehouse and release."
)

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[build_everything],
    resources={"project_paths": default_project_paths()},
)
