"""The published tables and release files: names, pandera models, primary keys and references."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.pandas as pa

from pipeline.validate.schemas import (
    ConvergenceSchema,
    CoverageSchema,
    DispersionSchema,
    GroupAggregateSchema,
    IndicatorCatalogSchema,
    IndicatorSchema,
    ObservationSchema,
    PairedCityRatioSchema,
    PreferredValueSchema,
    RegionSchema,
    SigmaConvergenceSchema,
    SourceSchema,
    TargetProgressSchema,
    TheilDecompositionSchema,
    UrbanRuralTheilSchema,
)


@dataclass(frozen=True)
class PublishedTable:
    """A table the warehouse and every release hold: its pandera model, primary key and references."""

    model: type[pa.DataFrameModel]
    primary_key: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)  # column → "table.column" it must exist in

    def column_descriptions(self) -> dict[str, str]:
        """Column name → description, from the pandera model."""
        return {name: column.description or "" for name, column in self.model.to_schema().columns.items()}


# The published tables, in their published order: name (= upstream asset = warehouse table = release file stem)
# → pandera model, primary key and references checked in the staging warehouse. Add a table with one entry here.
PUBLISHED_TABLES: dict[str, PublishedTable] = {
    "regions": PublishedTable(RegionSchema, ("region_code",)),
    "sources": PublishedTable(SourceSchema, ("source_id",)),
    "indicator_catalog": PublishedTable(IndicatorCatalogSchema, ("indicator_code",)),
    "observations": PublishedTable(
        ObservationSchema,
        ("region_code", "year", "indicator_code", "source_id"),
        references={
            "region_code": "regions.region_code",
            "indicator_code": "indicator_catalog.indicator_code",
            "source_id": "sources.source_id",
        },
    ),
    "indicators": PublishedTable(
        IndicatorSchema,
        ("indicator_code", "region_code", "year", "method"),
        references={"region_code": "regions.region_code", "indicator_code": "indicator_catalog.indicator_code"},
    ),
    "preferred_values": PublishedTable(
        PreferredValueSchema,
        ("indicator_code", "region_code", "year"),
        references={"region_code": "regions.region_code", "indicator_code": "indicator_catalog.indicator_code"},
    ),
    "group_aggregates": PublishedTable(GroupAggregateSchema, ("indicator_code", "group_code", "year")),
    "paired_city_ratios": PublishedTable(
        PairedCityRatioSchema, ("indicator_code", "reference_region_code", "region_code", "year")
    ),
    "dispersion": PublishedTable(
        DispersionSchema, ("indicator_code", "parent_region_code", "unit_level", "year", "measure")
    ),
    "convergence": PublishedTable(
        ConvergenceSchema, ("indicator_code", "parent_region_code", "unit_level", "start_year", "end_year")
    ),
    "target_progress": PublishedTable(TargetProgressSchema, ("target_code",)),
    "urban_rural_theil": PublishedTable(
        UrbanRuralTheilSchema, ("region_code", "year"), references={"region_code": "regions.region_code"}
    ),
    "sigma_convergence": PublishedTable(
        SigmaConvergenceSchema, ("indicator_code", "parent_region_code", "unit_level", "measure")
    ),
    "theil_decomposition": PublishedTable(
        TheilDecompositionSchema, ("indicator_code", "parent_region_code", "grouping", "year", "weighting")
    ),
}
# Extra files every release ships besides the Parquet tables: file name → upstream asset whose value is written
# (a DataFrame as UTF-8 CSV, a str as UTF-8, bytes such as a PNG as is). Their content counts in the release's
# content hash, so they must be deterministic (same data → same bytes). Each is listed in datapackage.json.
RELEASE_FILES: dict[str, str] = {
    "coverage.csv": "coverage",
    "README.md": "dataset_card",
    "dictionary.csv": "data_dictionary",
    "dictionary.md": "data_dictionary_markdown",
    "chart_income_ratio.png": "income_ratio_chart",
    "chart_district_urbanisation.png": "district_urbanisation_chart",
    "chart_paired_cities.png": "paired_city_chart",
    "chart_district_economy.png": "district_economy_chart",
    "chart_city_dispersion.png": "city_dispersion_chart",
    "report.html": "report",
}
TABLE_MODELS = {name: table.model for name, table in PUBLISHED_TABLES.items()}
PRIMARY_KEYS = {name: list(table.primary_key) for name, table in PUBLISHED_TABLES.items()}
# Every table a release holds, with its pandera model: the Parquet tables, then the CSV files.
RELEASE_MODELS = {**TABLE_MODELS, "coverage": CoverageSchema}
RELEASE_PRIMARY_KEYS = {**PRIMARY_KEYS, "coverage": ["indicator_code", "level", "year"]}
