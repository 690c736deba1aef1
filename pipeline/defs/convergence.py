"""Asset group convergence: dispersion, convergence, σ trends, urban–rural Theil, decompositions, target progress."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.core.metadata import load_economic_regions, load_targets
from pipeline.core.reading import TableReader, table_reader
from pipeline.defs.resources import ProjectPaths
from pipeline.defs.storage import read_in_parts, read_input
from pipeline.defs.tables import table_output
from pipeline.defs.validate import known_codes_schema_check
from pipeline.indicators.convergence import convergence_codes, convergence_table
from pipeline.indicators.decomposition import decomposition_table, group_memberships
from pipeline.indicators.dispersion import dispersion_codes, dispersion_table
from pipeline.indicators.targets import progress_table
from pipeline.indicators.trends import BOUNDED_TREND_MEASURES, UNBOUNDED_TREND_MEASURES, sigma_convergence_table
from pipeline.indicators.units import unit_sets
from pipeline.indicators.urban_rural import URBAN_RURAL_INPUTS, urban_rural_theil_table
from pipeline.validate.schemas import (
    ConvergenceSchema,
    DispersionSchema,
    SigmaConvergenceSchema,
    TargetProgressSchema,
    TheilDecompositionSchema,
    UrbanRuralTheilSchema,
)

GROUP = "convergence"
# The columns of preferred_values the steps below use: reading only these leaves the other seven on disk.
VALUE_COLUMNS_READ = ["indicator_code", "region_code", "year", "value", "status", "source_ids"]
VALUES_READ = read_input("preferred_values", columns=VALUE_COLUMNS_READ)
# dispersion and convergence read fewer: no sources, and for dispersion no status (issue 17).
DISPERSION_COLUMNS_READ = ["indicator_code", "region_code", "year", "value"]
CONVERGENCE_COLUMNS_READ = [*DISPERSION_COLUMNS_READ, "status"]
# The columns and rows of dispersion the σ trends use.
SIGMA_DISPERSION_READ = read_input(
    "dispersion",
    ["indicator_code", "parent_region_code", "unit_level", "measure", "year", "value", "n_units"],
    rows_where_in={"measure": [*UNBOUNDED_TREND_MEASURES, *BOUNDED_TREND_MEASURES]},
)


@dg.asset(
    group_name=GROUP, ins={"regions": dg.AssetIn("regions"), "preferred_values": read_in_parts("preferred_values")}
)
def dispersion(
    preferred_values: TableReader, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Dispersion (cv, weighted_cv, theil, gini, max_min_ratio) across the units under each parent, years with ≥5 units."""
    # Only the flagged indicators' and their weights' rows, without status and sources: read from the stored file.
    values = table_reader(preferred_values).frame(
        DISPERSION_COLUMNS_READ, rows_where_in={"indicator_code": dispersion_codes(indicator_catalog)}
    )
    return table_output(dispersion_table(values, unit_sets(regions), indicator_catalog), DispersionSchema, "dispersion")


dispersion_schema = known_codes_schema_check(
    "dispersion",
    DispersionSchema,
    ["parent_region_code"],
    "Dispersion rows have known codes and measures, non-negative values and at least 5 units.",
)


@dg.asset(
    group_name=GROUP, ins={"regions": dg.AssetIn("regions"), "preferred_values": read_in_parts("preferred_values")}
)
def convergence(
    preferred_values: TableReader, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """β-convergence across the units under each parent, for the longest window and rolling 5-year windows."""
    # Only the fitted indicators' rows, without sources: read from the stored file.
    values = table_reader(preferred_values).frame(
        CONVERGENCE_COLUMNS_READ, rows_where_in={"indicator_code": convergence_codes(indicator_catalog)}
    )
    return table_output(
        convergence_table(values, unit_sets(regions), indicator_catalog), ConvergenceSchema, "convergence"
    )


convergence_schema = known_codes_schema_check(
    "convergence",
    ConvergenceSchema,
    ["parent_region_code"],
    "β-convergence rows have known codes, windows that move forward, r² in [0, 1] and at least 5 units.",
)


@dg.asset(group_name=GROUP, ins={"preferred_values": read_in_parts("preferred_values")})
def target_progress(preferred_values: TableReader, project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
    """Each target in targets.yaml with the latest value of its indicator, the gap to the target and a status."""
    targets = load_targets(project_paths.metadata_path)
    # Only the targets' indicators and regions: read from the stored file, not the whole table.
    rows = {column: sorted({str(code) for code in targets[column]}) for column in ["indicator_code", "region_code"]}
    return table_output(
        progress_table(targets, table_reader(preferred_values).frame(VALUE_COLUMNS_READ, rows_where_in=rows)),
        TargetProgressSchema,
        "target_progress",
    )


target_progress_schema = known_codes_schema_check(
    "target_progress",
    TargetProgressSchema,
    ["region_code"],
    "Targets name a catalogue indicator and a known region, with a direction, a status and a source.",
)


@dg.asset(
    group_name=GROUP,
    ins={
        "preferred_values": read_input(
            "preferred_values", VALUE_COLUMNS_READ, rows_where_in={"indicator_code": URBAN_RURAL_INPUTS}
        )
    },
)
def urban_rural_theil(preferred_values: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """The urban–rural income Theil index of every region-year with urban and rural incomes and populations."""
    return table_output(urban_rural_theil_table(preferred_values), UrbanRuralTheilSchema, "urban_rural_theil")


urban_rural_theil_schema = known_codes_schema_check(
    "urban_rural_theil",
    UrbanRuralTheilSchema,
    ["region_code"],
    "Urban–rural Theil rows have known regions, shares strictly between 0 and 1 and a stated population basis.",
)


@dg.asset(group_name=GROUP, ins={"dispersion": SIGMA_DISPERSION_READ})
def sigma_convergence(
    dispersion: pd.DataFrame, urban_rural_theil: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """The OLS trend on the year (with SE and p) of each dispersion series and each region's urban–rural Theil."""
    trends = sigma_convergence_table(dispersion, urban_rural_theil, indicator_catalog)
    return table_output(trends, SigmaConvergenceSchema, "sigma_convergence")


sigma_convergence_schema = known_codes_schema_check(
    "sigma_convergence",
    SigmaConvergenceSchema,
    ["parent_region_code"],
    "σ-convergence rows have known codes, at least 3 years and p-values in [0, 1].",
)


@dg.asset(
    group_name=GROUP, ins={"regions": dg.AssetIn("regions"), "preferred_values": read_in_parts("preferred_values")}
)
def theil_decomposition(
    preferred_values: TableReader,
    indicator_catalog: pd.DataFrame,
    regions: pd.DataFrame,
    project_paths: ProjectPaths,
) -> dg.Output[pd.DataFrame]:
    """Theil between/within the 一区一策 district groups and Guangdong's four regions, unweighted and by population."""
    memberships = group_memberships(regions, load_economic_regions(project_paths.metadata_path))
    # Only the groups' members' rows (the decomposition uses no other): read from the stored file, not the whole table.
    members = sorted({str(code) for code in memberships["region_code"]})
    values = table_reader(preferred_values).frame(VALUE_COLUMNS_READ, rows_where_in={"region_code": members})
    decomposition = decomposition_table(values, memberships, indicator_catalog)
    return table_output(decomposition, TheilDecompositionSchema, "theil_decomposition")


theil_decomposition_schema = known_codes_schema_check(
    "theil_decomposition",
    TheilDecompositionSchema,
    ["parent_region_code"],
    "Theil decompositions have known codes, parts that add up and at least 5 units in 2 groups.",
)
