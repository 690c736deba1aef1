"""Asset group convergence: dispersion, convergence and target progress, with their schema checks."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.core.metadata import load_targets
from pipeline.defs.resources import ProjectPaths
from pipeline.defs.tables import table_output
from pipeline.defs.validate import known_codes_schema_check
from pipeline.indicators.convergence import convergence_table
from pipeline.indicators.dispersion import dispersion_table
from pipeline.indicators.targets import progress_table
from pipeline.indicators.units import unit_sets
from pipeline.validate.schemas import ConvergenceSchema, DispersionSchema, TargetProgressSchema

GROUP = "convergence"


@dg.asset(group_name=GROUP, ins={"regions": dg.AssetIn("regions")})
def dispersion(
    preferred_values: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Dispersion (cv, weighted_cv, theil, gini, max_min_ratio) across the units under each parent, years with ≥5 units."""
    return table_output(
        dispersion_table(preferred_values, unit_sets(regions), indicator_catalog), DispersionSchema, "dispersion"
    )


dispersion_schema = known_codes_schema_check(
    "dispersion",
    DispersionSchema,
    ["parent_region_code"],
    "Dispersion rows have known codes and measures, non-negative values and at least 5 units.",
)


@dg.asset(group_name=GROUP, ins={"regions": dg.AssetIn("regions")})
def convergence(
    preferred_values: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """β-convergence across the units under each parent, for the longest window and rolling 5-year windows."""
    return table_output(
        convergence_table(preferred_values, unit_sets(regions), indicator_catalog), ConvergenceSchema, "convergence"
    )


convergence_schema = known_codes_schema_check(
    "convergence",
    ConvergenceSchema,
    ["parent_region_code"],
    "β-convergence rows have known codes, windows that move forward, r² in [0, 1] and at least 5 units.",
)


@dg.asset(group_name=GROUP)
def target_progress(preferred_values: pd.DataFrame, project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
    """Each target in targets.yaml with the latest value of its indicator, the gap to the target and a status."""
    return table_output(
        progress_table(load_targets(project_paths.metadata_path), preferred_values),
        TargetProgressSchema,
        "target_progress",
    )


target_progress_schema = known_codes_schema_check(
    "target_progress",
    TargetProgressSchema,
    ["region_code"],
    "Targets name a catalogue indicator and a known region, with a direction, a status and a source.",
)
