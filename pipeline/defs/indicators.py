"""Asset group indicators: derived and preferred values, group aggregates, paired-city ratios and their checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.core.metadata import load_indicator_catalog
from pipeline.core.reading import TableReader, table_reader
from pipeline.defs.convergence import VALUE_COLUMNS_READ
from pipeline.defs.storage import STORE_CATEGORIES_AS_TEXTS, read_in_parts, read_input
from pipeline.defs.tables import table_output
from pipeline.defs.validate import known_codes_schema_check, schema_check_result
from pipeline.indicators.aggregates import PAIRING_REFERENCE_REGION, aggregate_groups, pair_ratios, region_groups
from pipeline.indicators.choices import (
    EQUAL_AUTHORITY_COLUMNS_READ,
    OBSERVATION_COLUMNS_READ,
    equal_authority_disagreements,
    preferred_table,
)
from pipeline.indicators.derive import indicator_table
from pipeline.indicators.reconcile import reconcile_ratio
from pipeline.validate.chunks import TableChunks
from pipeline.validate.schemas import (
    GroupAggregateSchema,
    IndicatorSchema,
    PairedCityRatioSchema,
    PreferredValueSchema,
    indicator_schema,
)

GROUP = "indicators"


@dg.asset(
    group_name=GROUP,
    ins={"sources": dg.AssetIn("sources"), "regions": dg.AssetIn("regions")},
    # Its text columns stay categoricals (no string per row) and are stored as texts.
    metadata={STORE_CATEGORIES_AS_TEXTS: True},
)
def indicators(
    observations: pd.DataFrame, sources: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Derived indicators for every region-year whose inputs exist, and published values carried as published."""
    return table_output(
        indicator_table(observations, sources, indicator_catalog, regions, texts_as_categories=True),
        IndicatorSchema,
        "indicators",
        categories_as_texts=True,
    )


@dg.asset(
    group_name=GROUP,
    ins={
        "sources": dg.AssetIn("sources"),
        "observations": read_input("observations", OBSERVATION_COLUMNS_READ),
        # Text columns as categoricals: preferred_table works on their codes (no string per row read, issue 17).
        "indicators": read_input("indicators", texts_as_categories=True),
    },
    # Its text columns stay categoricals (a sixth of the memory: no string per row) and are stored as texts.
    metadata={STORE_CATEGORIES_AS_TEXTS: True},
)
def preferred_values(
    observations: pd.DataFrame, sources: pd.DataFrame, indicators: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """One value per indicator, region and year (derived here if possible, else the preferred published figure), published."""
    return table_output(
        preferred_table(observations, sources, indicators, texts_as_categories=True),
        PreferredValueSchema,
        "preferred_values",
        categories_as_texts=True,
    )


@dg.asset(
    group_name=GROUP, ins={"regions": dg.AssetIn("regions"), "preferred_values": read_in_parts("preferred_values")}
)
def group_aggregates(
    preferred_values: TableReader, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Indicator values of the 一区一策 district groups and the typical counties, where every member has a value."""
    groups = region_groups(regions)
    # Only the members' rows (the aggregates use no other): read from the stored file, not the whole table.
    members = sorted({str(code) for code in groups["region_code"]})
    values = table_reader(preferred_values).frame(VALUE_COLUMNS_READ, rows_where_in={"region_code": members})
    return table_output(
        aggregate_groups(values, groups, indicator_catalog),
        GroupAggregateSchema,
        "group_aggregates",
    )


@dg.asset(
    group_name=GROUP, ins={"regions": dg.AssetIn("regions"), "preferred_values": read_in_parts("preferred_values")}
)
def paired_city_ratios(
    preferred_values: TableReader, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Guangzhou's value divided by each paired city's, for every indicator and year both have."""
    paired = [str(code) for code in regions.loc[regions["paired_city"].astype(bool), "region_code"]]
    codes = [
        str(code) for code in indicator_catalog.loc[indicator_catalog["paired_ratio"].astype(bool), "indicator_code"]
    ]
    # Only the rows of Guangzhou and its paired cities for the paired indicators: all the ratios use.
    values = table_reader(preferred_values).frame(
        VALUE_COLUMNS_READ, rows_where_in={"region_code": [PAIRING_REFERENCE_REGION, *paired], "indicator_code": codes}
    )
    return table_output(
        pair_ratios(values, PAIRING_REFERENCE_REGION, paired, codes), PairedCityRatioSchema, "paired_city_ratios"
    )


def ratio_reconciliation_check(
    indicator_code: str, numerator: str, denominator: str, multiplier: float = 1.0
) -> dg.AssetChecksDefinition:
    """A blocking check that derived and published values of one ratio indicator agree within rounding."""

    @dg.asset_check(
        name=f"{indicator_code}_reconciles",
        asset="indicators",
        blocking=True,
        # Only the rows of the ratio and its two inputs: the comparison is per indicator, region and year.
        additional_ins={
            "observations": read_input(
                "observations", rows_where_in={"indicator_code": [indicator_code, numerator, denominator]}
            ),
            "sources": dg.AssetIn("sources"),
        },
        description=f"Derived {indicator_code} equals the published figure wherever both exist, within the rounding of the printed figures.",
    )
    # The checked asset (indicators) is not a parameter: the comparison reads observations only; not loading it
    # saves reading the whole indicators table once per ratio (issue 17).
    def check(observations: pd.DataFrame, sources: pd.DataFrame) -> dg.AssetCheckResult:
        compared = reconcile_ratio(observations, sources, indicator_code, numerator, denominator, multiplier)
        mismatches = compared[~compared["reconciles"].astype(bool)]
        records = [
            {key: (value.item() if hasattr(value, "item") else value) for key, value in record.items()}
            for record in compared.to_dict("records")
        ]
        description = "\n".join(
            f"{row.region_code} {row.year}: derived {row.derived:.4f} [{row.derived_low:.4f}, {row.derived_high:.4f}] from {row.derived_sources} "
            f"does not match published {row.published} [{row.published_low:.4f}, {row.published_high:.4f}) from {row.published_source}"
            for row in mismatches.itertuples(index=False)
        )
        return dg.AssetCheckResult(
            passed=mismatches.empty,
            description=description or f"{len(compared)} published figure(s) reconciled",
            metadata={
                "compared": len(compared),
                "mismatches": len(mismatches),
                "comparisons": dg.MetadataValue.json(records),
            },
        )

    return check


def ratio_reconciliation_checks(metadata_dir: Path) -> list[dg.AssetChecksDefinition]:
    """One reconciliation check per ratio indicator in the metadata folder's catalogue."""
    catalog = load_indicator_catalog(metadata_dir)
    ratios = catalog[(catalog["kind"] == "derived") & (catalog["derivation"] == "ratio")]
    return [
        ratio_reconciliation_check(entry.indicator_code, *entry.inputs.split(";"), entry.multiplier)
        for entry in ratios.itertuples(index=False)
    ]


@dg.asset_check(
    asset=indicators,
    blocking=True,
    additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
)
def indicators_schema(
    indicators: TableChunks, regions: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.AssetCheckResult:
    """Indicators have known codes, one value per method, and plausible values (ratios between 1 and 10)."""
    return schema_check_result(
        indicator_schema(list(regions["region_code"]), indicator_catalog), indicators, "indicators"
    )


group_aggregates_schema = known_codes_schema_check(
    "group_aggregates",
    GroupAggregateSchema,
    ["parent_region_code"],
    "Group aggregates have known codes, a sum or weighted-mean rule, and group codes scoped by their parent.",
)
paired_city_ratios_schema = known_codes_schema_check(
    "paired_city_ratios",
    PairedCityRatioSchema,
    ["reference_region_code", "region_code"],
    "Paired-city ratios have known codes and regions and positive values.",
)
preferred_values_schema = known_codes_schema_check(
    "preferred_values",
    PreferredValueSchema,
    ["region_code"],
    "Preferred values: one per indicator, region and year, with known codes, a choice rule and a reliability grade.",
)


@dg.asset_check(
    asset=preferred_values,
    additional_ins={
        "observations": read_input("observations", EQUAL_AUTHORITY_COLUMNS_READ),
        "sources": dg.AssetIn("sources"),
    },
    description="Sources of equal authority that print different figures (beyond rounding) for one key: listed with "
    "the figures and sources, and resolved by the stated rule (newest access, then finest rounding, then source id).",
)
def equal_authority_sources_agree(observations: pd.DataFrame, sources: pd.DataFrame) -> dg.AssetCheckResult:
    """WARN with every equal-authority disagreement (figures, sources, the chosen one and the rule that chose it)."""
    disagreements = equal_authority_disagreements(observations, sources)
    records = disagreements.to_dict("records")
    description = "\n".join(
        f"{row['indicator_code']} {row['region_code']} {row['year']} ({row['authority']}): "
        + ", ".join(f"{figure['source_id']} {figure['value']:g}" for figure in row["figures"])
        + f"; chosen {row['chosen_source']} by rule {row['choice_rule']}"
        for row in records
    )
    return dg.AssetCheckResult(
        passed=not records,
        severity=dg.AssetCheckSeverity.WARN,
        description=description or "no sources of equal authority disagree",
        metadata={"disagreements": len(records), "figures": dg.MetadataValue.json(records)},
    )
