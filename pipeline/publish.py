"""Publish: write–audit–publish of the DuckDB warehouse analysts query and the versioned release people download."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pandas as pd

from pipeline.documentation import warehouse_statements
from pipeline.release import (
    commit_release,
    content_hash,
    file_bytes,
    latest_version,
    newest_release,
    next_version,
    point_latest_at,
    prepare_release,
    remove_stale_temporaries,
    verify_release,
)
from pipeline.resources import ProjectPaths
from pipeline.schemas import (
    ConvergenceSchema,
    DispersionSchema,
    GroupAggregateSchema,
    IndicatorCatalogSchema,
    IndicatorSchema,
    ObservationSchema,
    PairedCityRatioSchema,
    RegionSchema,
    SourceSchema,
    TargetProgressSchema,
)
from pipeline.warehouse import (
    PUBLICATION_TABLE,
    PublishedTable,
    WarehouseAuditError,
    audit_warehouse,
    discard_staging,
    live_publication,
    pause_point,
    pipeline_lock,
    remove_stale_staging,
    stage_warehouse,
    staging_path_for,
    swap_in,
)

T = TypeVar("T")
U = TypeVar("U")
GROUP = "publish"
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
    "report.html": "report",
}
TABLE_MODELS = {name: table.model for name, table in PUBLISHED_TABLES.items()}
PRIMARY_KEYS = {name: list(table.primary_key) for name, table in PUBLISHED_TABLES.items()}
PUBLICATION_INPUTS = {name: dg.AssetIn(name) for name in dict.fromkeys([*PUBLISHED_TABLES, *RELEASE_FILES.values()])}


@dataclass(frozen=True)
class PublicationOutcome:
    """What one write–audit–publish did."""

    version: str
    changed: bool
    release_path: Path
    content_hash: str
    warehouse_swapped: bool
    row_counts: dict[str, int] = field(default_factory=dict)
    previous_version: str | None = None


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "warehouse",
            group_name=GROUP,
            deps=list(PUBLICATION_INPUTS),
            description="The DuckDB warehouse analysts open read-only: built in a staging file, audited, then swapped in atomically.",
        ),
        dg.AssetSpec(
            "release",
            group_name=GROUP,
            deps=list(PUBLICATION_INPUTS),
            description="A write-once versioned release (Parquet, CHANGES.md, datapackage.json), cut only when the content changed.",
        ),
    ],
    ins=PUBLICATION_INPUTS,
    can_subset=True,  # an incremental run may select one of the two; both are always published together
)
def publication(context, project_paths: ProjectPaths, **inputs):
    """Stage and audit the warehouse and the release, then publish both; on any failure nothing changes."""
    tables = {name: inputs[name] for name in PUBLISHED_TABLES}
    extra_files = {file_name: file_bytes(inputs[asset_name]) for file_name, asset_name in RELEASE_FILES.items()}
    outcome = publish_tables(tables, extra_files, project_paths, dt.datetime.now(dt.UTC).date())
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "warehouse" in selected:
        yield dg.MaterializeResult(
            asset_key="warehouse",
            metadata={
                "path": str(project_paths.warehouse_file),
                "release_version": outcome.version,
                "content_hash": outcome.content_hash,
                "swapped": outcome.warehouse_swapped,
                **{f"rows_{name}": count for name, count in outcome.row_counts.items()},
            },
        )
    summary = (
        f"new release {outcome.version} (previous: {outcome.previous_version or 'none'})"
        if outcome.changed
        else f"no change: content identical to release {outcome.version}"
    )
    if "release" in selected:
        yield dg.MaterializeResult(
            asset_key="release",
            metadata={
                "version": outcome.version,
                "changed": outcome.changed,
                "summary": summary,
                "path": str(outcome.release_path),
                "content_hash": outcome.content_hash,
            },
        )


def publish_tables(
    tables: dict[str, pd.DataFrame],
    extra_files: dict[str, bytes],
    project_paths: ProjectPaths,
    today: dt.date,
    specs: dict[str, PublishedTable] | None = None,
) -> PublicationOutcome:
    """Write the staging warehouse and the release, audit both, then publish: release, `latest`, warehouse swap."""
    # The views and comments describe the registry's tables; a test's own registry gets plain tables.
    statements = [] if specs else warehouse_statements(TABLE_MODELS, [PUBLICATION_TABLE])
    specs = specs or PUBLISHED_TABLES
    live = project_paths.warehouse_file
    releases_dir = project_paths.releases_path
    with pipeline_lock(project_paths.warehouse_path):
        remove_stale_staging(live)
        remove_stale_temporaries(releases_dir)
        releases_dir.mkdir(parents=True, exist_ok=True)
        content = content_hash(tables, extra_files)
        previous = newest_release(releases_dir)
        changed = previous is None or previous.content_hash != content
        version = next_version(releases_dir, today) if changed else previous.version
        publication_row = {
            "release_version": version,
            "content_hash": content,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        staging = staging_path_for(live)
        temporary = None

        def warehouse() -> dict[str, int]:
            """The staging warehouse, written and audited."""
            stage_warehouse(tables, staging, publication_row, statements)
            return audit_warehouse(staging, tables, specs, publication_row, require_comments=bool(statements))

        def release() -> Path:
            """The release, written into its temporary folder."""
            descriptions = {name: spec.column_descriptions() for name, spec in specs.items()}
            keys = {name: list(spec.primary_key) for name, spec in specs.items()}
            models = {name: spec.model for name, spec in specs.items()}
            return prepare_release(
                tables, extra_files, releases_dir, version, content, descriptions, keys, previous, models
            )

        try:
            counts, temporary = alongside(warehouse, release if changed else None, discard=remove_folder)
            if changed:
                problems = verify_release(temporary, expected_version=version)
                if problems:
                    raise WarehouseAuditError([f"release {problem}" for problem in problems])
            pause_point("swap", live.parent)
            if changed:
                commit_release(temporary, releases_dir, version)
                temporary = None
            pause_point("latest", live.parent)
            if latest_version(releases_dir) != version:
                point_latest_at(releases_dir, version)
            pause_point("warehouse-swap", live.parent)
            current = live_publication(live)
            swapped = current is None or (current["release_version"], current["content_hash"]) != (version, content)
            if swapped:
                swap_in(staging, live)
        finally:
            discard_staging(staging)
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
    return PublicationOutcome(
        version=version,
        changed=changed,
        release_path=releases_dir / version,
        content_hash=content,
        warehouse_swapped=swapped,
        row_counts=counts,
        previous_version=previous.version if previous and changed else None,
    )


def alongside(
    foreground: Callable[[], T], background: Callable[[], U] | None, discard: Callable[[U], None]
) -> tuple[T, U | None]:
    """Run `background` in a thread while `foreground` runs here; both results, or the first error.

    The warehouse (DuckDB) and the release (Parquet) are written this way: both spend their time in native code
    that releases the GIL, so on two cores they overlap. When the foreground fails, the background is waited for
    and its result discarded, so a failed audit leaves no release folder behind.
    """
    if background is None:
        return foreground(), None
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(background)
        try:
            result = foreground()
        except BaseException:
            if pending.exception() is None:
                discard(pending.result())
            raise
        return result, pending.result()


def remove_folder(path: Path) -> None:
    """Delete a folder written for nothing (a release whose warehouse failed its audit)."""
    shutil.rmtree(path, ignore_errors=True)
