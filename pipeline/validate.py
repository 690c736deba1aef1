"""Validate: pandera schemas run as blocking asset checks whose metadata lists the failing rows."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from pipeline.frames import categorical_texts, ordered_codes, packed_keys
from pipeline.ingest import indicator_catalog, regions, sources, staged_observations
from pipeline.metadata import METADATA_DIR
from pipeline.reader import STAGED_COLUMNS, TEXT_COLUMNS
from pipeline.schemas import (
    IndicatorCatalogSchema,
    RegionSchema,
    SourceSchema,
    StagedObservationSchema,
    describe_failure,
    observation_schema,
    schema_failures,
    with_known_codes,
)

GROUP = "validate"
MAX_LISTED_FAILURES = 50


@dg.asset(group_name=GROUP)
def observations(staged_observations: pd.DataFrame) -> pd.DataFrame:
    """Staged observations in a stable order, the table that validation guards and the warehouse publishes."""
    return ordered_observations(staged_observations)


def ordered_observations(staged: pd.DataFrame) -> pd.DataFrame:
    """Staged observations sorted by indicator, region, year and source (stable), with a fresh index.

    Text columns are categoricals with sorted categories (categorical_texts), so sorting by their codes is
    sorting by their texts: one stable argsort of the four columns' codes packed into an int64 (np.lexsort when
    they do not fit), then one take of the rows; no string is compared or moved.
    """
    staged = categorical_texts(staged[STAGED_COLUMNS], TEXT_COLUMNS)
    keys = ["indicator_code", "region_code", "year", "source_id"]
    packed = packed_keys(staged, keys)
    if packed is not None:
        order = np.argsort(packed, kind="stable")
    else:
        order = np.lexsort([sort_key(staged[column]) for column in reversed(keys)])
    return staged.take(order).reset_index(drop=True)


def sort_key(values: pd.Series) -> np.ndarray:
    """Integers that sort like the column: a categorical's codes (categories sorted), else the values."""
    codes = ordered_codes(values)
    return values.to_numpy() if codes is None else codes


def schema_check_result(schema, frame: pd.DataFrame, table: str) -> dg.AssetCheckResult:
    """Validate lazily; pass, or fail with every failing row (file, row, column, rule) in the metadata.

    inplace=True: pandera would otherwise copy the whole frame first; its only in-place change is the dtype
    coercion the schema declares, which leaves frames of the published dtypes as they are.
    """
    schema = schema_for_frame(schema, frame)
    try:
        schema.validate(frame, lazy=True, inplace=True)
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


def schema_for_frame(schema, frame: pd.DataFrame) -> pa.DataFrameSchema:
    """The schema with each text column that the frame holds as a categorical declared as that categorical.

    The staged tables keep text as categoricals in memory (frames.categorical_texts); coercing them to text
    would copy every string. The checks (isin, patterns, uniqueness) run on the categories and codes instead.
    """
    if isinstance(schema, type):
        schema = schema.to_schema()
    updates = {
        name: {"dtype": frame[name].dtype}
        for name, column in schema.columns.items()
        if name in frame.columns
        and isinstance(frame[name].dtype, pd.CategoricalDtype)
        and str(column.dtype).lower().startswith("str")
    }
    return schema.update_columns(updates) if updates else schema


def known_codes_schema_check(
    table: str, model: type[pa.DataFrameModel], region_columns: list[str], description: str
) -> dg.AssetChecksDefinition:
    """A blocking check `<table>_schema`: the table's pandera model, with region and indicator codes that must exist."""
    # Dagster passes the checked asset to the one parameter not named in additional_ins (here `frame`).

    @dg.asset_check(
        name=f"{table}_schema",
        asset=table,
        blocking=True,
        additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
        description=description,
    )
    def check(frame: pd.DataFrame, regions: pd.DataFrame, indicator_catalog: pd.DataFrame) -> dg.AssetCheckResult:
        schema = with_known_codes(model, region_columns, list(regions["region_code"]), indicator_catalog)
        return schema_check_result(schema, frame, table)

    return check


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


@dg.asset_check(asset=observations, blocking=True, additional_ins={"regions": dg.AssetIn("regions")})
def observations_parts_within_totals(observations: pd.DataFrame, regions: pd.DataFrame) -> dg.AssetCheckResult:
    """For additive indicators, the districts a table prints do not add up to more than the city total it prints."""
    excesses = parts_exceeding_totals(observations, regions, additive_indicator_codes())
    if excesses:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(describe_excess(record) for record in excesses[:MAX_LISTED_FAILURES]),
            metadata={
                "failure_count": len(excesses),
                "failures": dg.MetadataValue.json(excesses[:MAX_LISTED_FAILURES]),
            },
        )
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": len(observations)})


def additive_indicator_codes(catalog_path=METADATA_DIR / "indicators.yaml") -> set[str]:
    """Indicators whose parts add up to the whole: `aggregation: sum`, unless marked `parts_can_exceed_total: true`."""
    entries = yaml.load(catalog_path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entries = entries or []
    return {
        str(entry["indicator_code"])
        for entry in entries
        if entry.get("aggregation") == "sum" and entry.get("parts_can_exceed_total") is not True
    }


def parts_exceeding_totals(observations: pd.DataFrame, regions: pd.DataFrame, additive: set[str]) -> list[dict]:
    """Per table, year and additive indicator: child regions whose sum exceeds the parent's printed total."""
    key = ["source_id", "year", "indicator_code"]
    columns = [*key, "region_code", "value", "rounding_radius", "source_row", "source_column", "source_file"]
    figures = observations.loc[observations["indicator_code"].isin(additive) & observations["value"].notna(), columns]
    parent_of = regions.set_index("region_code")["parent_code"]
    figures = figures.assign(
        parent_code=pd.Series(per_distinct_code(figures["region_code"], parent_of), index=figures.index),
        radius=figures["rounding_radius"].fillna(0.0),
    )
    # Only (table, year, indicator) groups that print a parent together with its children can fail: a table of
    # villages without their towns' totals is skipped before any grouping.
    totals = figures[["source_id", "region_code"]].drop_duplicates()
    totals_printed = (
        figures[["source_id", "parent_code"]]
        .drop_duplicates()
        .merge(totals, left_on=["source_id", "parent_code"], right_on=["source_id", "region_code"])
    )
    if totals_printed.empty:
        return []
    figures = figures[
        figures["source_id"].isin(totals_printed["source_id"].unique())
        & (
            figures["parent_code"].isin(totals_printed["parent_code"].unique())
            | figures["region_code"].isin(totals_printed["parent_code"].unique())
        )
    ]
    totals = figures.rename(
        columns={"region_code": "total_region", "value": "total", "radius": "total_radius", "source_row": "total_row"}
    )[[*key, "total_region", "total", "total_radius", "total_row", "source_column", "source_file"]]
    children = figures.dropna(subset=["parent_code"])
    parts = children.groupby([*key, "parent_code"], as_index=False).agg(
        parts_sum=("value", "sum"), parts_radius=("radius", "sum")
    )
    joined = parts.merge(totals, left_on=[*key, "parent_code"], right_on=[*key, "total_region"])
    exceeding = joined[joined["parts_sum"] - joined["parts_radius"] > joined["total"] + joined["total_radius"]]
    part_rows = (
        children.merge(exceeding[[*key, "parent_code"]], on=[*key, "parent_code"])
        .groupby([*key, "parent_code"])["source_row"]
        .agg(list)
    )
    exceeding = exceeding.join(part_rows.rename("part_rows"), on=[*key, "parent_code"])
    return [
        {
            "file": row.source_file,
            "row": int(row.total_row),
            "column": row.source_column,
            "rule": "parts_within_total",
            "indicator_code": row.indicator_code,
            "year": int(row.year),
            "region_code": row.total_region,
            "total": float(row.total),
            "parts_sum": float(row.parts_sum),
            "part_rows": [int(part) for part in row.part_rows],
        }
        for row in exceeding.itertuples(index=False)
    ]


def per_distinct_code(codes: pd.Series, mapping: pd.Series) -> np.ndarray:
    """mapping[code] for every row (None where unknown), looked up once per distinct code."""
    positions, distinct = pd.factorize(codes)
    looked_up = np.append(mapping.reindex(distinct).to_numpy(dtype=object), None)
    return looked_up[positions]  # position -1 (a null code) → None


def describe_excess(record: dict) -> str:
    """One readable line for a total exceeded by its parts."""
    return (
        f"{record['file']}, row {record['row']}, column {record['column']!r}: [parts_within_total] "
        f"the parts of {record['region_code']} (rows {record['part_rows']}) add up to {record['parts_sum']:g}, "
        f"more than the total {record['total']:g} the same table prints for {record['indicator_code']} {record['year']} "
        f"(expected the parts to sum to at most the total, within rounding)"
    )
