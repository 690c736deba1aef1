"""Asset groups raw and ingest: raw files observed by sha256, each table staged on its own, then combined."""

from __future__ import annotations

import datetime as dt
import errno
import functools
import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.hashing import file_version, folder_digest
from pipeline.core.metadata import (
    BOUNDARY_CHANGES_FILE,
    default_indicator_catalog,
    load_boundary_changes,
    load_indicator_catalog,
    load_regions,
    load_units,
    region_name_lookup,
)
from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.defs.resources import ProjectPaths
from pipeline.defs.tables import table_output
from pipeline.ingest.reader import combined_staged_tables, read_source_table
from pipeline.ingest.reader.model import STAGED_COLUMNS
from pipeline.ingest.sidecar import (
    SIDECAR_SUFFIX,
    is_plain_file_name,
    load_sidecar,
    read_sidecar_fields,
    sidecar_paths,
)
from pipeline.ingest.sources import (
    DEFAULT_UPDATE_PERIOD,
    add_period,
    loadable_source_ids,
    raw_folder_problems,
    require_loaded_tables,
    sidecar_path_of,
    source_records,
)

GROUP = "ingest"
RAW_GROUP = "raw"
RAW_TABLE_PREFIX = "raw_table"
RAW_SIDECAR_PREFIX = "raw_sidecar"
STAGED_TABLE_PREFIX = "staged_table"
METADATA_FILES = dg.AssetKey("metadata_files")
FRESHNESS_CHECK = "update_period_freshness"
# Errors worth retrying: the file system or network share hiccuped, not the table's content.
TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE, errno.ENFILE}
TRANSIENT_RETRIES = 3
TRANSIENT_WAIT_SECONDS = 10
# Names the other stages use to refer to the combined ingest assets, which are built per raw folder.
sources = dg.AssetKey("sources")
staged_observations = dg.AssetKey("staged_observations")


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # observable source assets are beta in Dagster 1.13

    @dg.multi_observable_source_asset(
        name="metadata_files",
        specs=[
            dg.AssetSpec(
                METADATA_FILES,
                group_name=RAW_GROUP,
                description="The metadata files in pipeline/metadata (regions, aliases, units, indicators), versioned by their sha256.",
            )
        ],
        required_resource_keys={"project_paths"},
    )
    def metadata_files(context):
        """One sha256 over every metadata file (of the package, and of ProjectPaths' metadata folder if another)."""
        return dg.ObserveResult(
            data_version=dg.DataVersion(metadata_version(context.resources.project_paths.metadata_path))
        )


@dg.asset(group_name=GROUP, deps=[METADATA_FILES])
def regions(project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
    """The region dimension: China, Guangdong, its cities and Guangzhou's districts with their groups."""
    return table_output(load_regions(project_paths.metadata_path), warehouse_table="regions")


@dg.asset(group_name=GROUP, deps=[METADATA_FILES])
def indicator_catalog(project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
    """The indicator catalogue: code, names, unit, definition, formula and plausible range of every indicator."""
    return table_output(load_indicator_catalog(project_paths.metadata_path), warehouse_table="indicator_catalog")


def raw_table_assets(raw_dir: Path) -> list:
    """Every ingest asset for the tables of one raw folder: observed raw files, one staged asset per table, the combined ones."""
    source_ids = loadable_source_ids(raw_dir)
    return [
        raw_files_asset(source_ids),
        *[staged_table_asset(source_id) for source_id in source_ids],
        sources_asset(source_ids),
        staged_observations_asset(source_ids),
    ]


def raw_files_asset(source_ids: list[str]) -> dg.AssetsDefinition:
    """One observation step for every raw table and sidecar: data version = the file's sha256, plus freshness checks."""
    specs = [
        spec
        for source_id in source_ids
        for spec in (
            dg.AssetSpec(
                raw_table_key(source_id),
                group_name=RAW_GROUP,
                description=f"The raw table {source_id} exactly as published; its data version is the file's sha256.",
            ),
            dg.AssetSpec(
                raw_sidecar_key(source_id),
                group_name=RAW_GROUP,
                description=f"The provenance sidecar {source_id}{SIDECAR_SUFFIX}; its data version is the file's sha256.",
            ),
        )
    ]
    check_specs = [
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=raw_table_key(source_id),
            blocking=False,
            description="The table was read from its source within its declared update period (warning only).",
        )
        for source_id in source_ids
    ]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)

        @dg.multi_observable_source_asset(
            name="raw_files",
            specs=specs,
            check_specs=check_specs,
            can_subset=True,
            required_resource_keys={"project_paths"},
        )
        def raw_files(context):
            raw_dir = context.resources.project_paths.raw_path
            for key in sorted(context.selected_asset_keys):
                path = raw_file_path(raw_dir, key)
                version = file_version(path)
                yield dg.ObserveResult(
                    asset_key=key,
                    data_version=dg.DataVersion(version),
                    metadata={"path": str(path), "sha256": version},
                )
            for check_key in sorted(context.selected_asset_check_keys):
                source_id = check_key.asset_key.path[-1]
                yield freshness_result(sidecar_path_of(raw_dir, source_id), dt.date.today(), check_key.asset_key)

    return raw_files


def staged_table_asset(source_id: str) -> dg.AssetsDefinition:
    """The asset that stages one raw table through the generic reader."""

    @dg.asset(
        key=staged_table_key(source_id),
        group_name=GROUP,
        deps=[raw_table_key(source_id), raw_sidecar_key(source_id), METADATA_FILES],
        description=f"The raw table {source_id} read through the generic reader into tidy observations with file, row and column.",
    )
    @transient_io_retries
    def staged_table(project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
        raw_dir = project_paths.raw_path
        metadata_dir = project_paths.metadata_path
        sidecar = load_sidecar(sidecar_path_of(raw_dir, source_id), raw_dir)
        staged = read_source_table(
            sidecar,
            raw_dir,
            region_name_lookup(metadata_dir),
            load_units(metadata_dir),
            indicator_catalog=default_indicator_catalog(metadata_dir),
            boundary_changes=load_boundary_changes(metadata_dir / BOUNDARY_CHANGES_FILE.name),
        )
        return table_output(staged[STAGED_COLUMNS])

    return staged_table


def sources_asset(source_ids: list[str]) -> dg.AssetsDefinition:
    """The provenance asset, depending on every raw table and sidecar."""

    @dg.asset(
        key=sources,
        group_name=GROUP,
        deps=[key for source_id in source_ids for key in (raw_table_key(source_id), raw_sidecar_key(source_id))],
    )
    @transient_io_retries
    def sources_table(project_paths: ProjectPaths) -> dg.Output[pd.DataFrame]:
        """Provenance of every raw table, from its sidecar, after checking the data file's sha256."""
        raw_dir = project_paths.raw_path
        paths = sidecar_paths(raw_dir)
        if not paths:
            raise InputError(
                [
                    InputProblem(
                        str(raw_dir),
                        "no_tables",
                        "no sidecars (*.meta.yaml) found",
                        expected="at least one raw table with its sidecar",
                    )
                ]
            )
        problems = raw_folder_problems(raw_dir)
        if problems:
            raise InputError(problems)
        require_loaded_tables(paths, source_ids, raw_dir)
        return table_output(source_records(paths, raw_dir), warehouse_table="sources")

    return sources_table


def staged_observations_asset(source_ids: list[str]) -> dg.AssetsDefinition:
    """The asset combining every staged table, in the order of the raw folder's sidecars."""

    @dg.asset(
        key=staged_observations,
        group_name=GROUP,
        ins={source_id: dg.AssetIn(staged_table_key(source_id)) for source_id in source_ids},
    )
    def combined(**staged_tables: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        """Every raw table's staged observations in one frame, with file, row and column."""
        return table_output(combined_staged_tables([staged_tables[source_id] for source_id in source_ids]))

    return combined


def transient_io_retries(function):
    """Retry an asset body on transient I/O errors (EIO, EBUSY, …); validation errors fail at once."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except OSError as error:
            if error.errno in TRANSIENT_ERRNOS:
                raise dg.RetryRequested(
                    max_retries=TRANSIENT_RETRIES, seconds_to_wait=TRANSIENT_WAIT_SECONDS
                ) from error
            raise

    return wrapper


def raw_table_key(source_id: str) -> dg.AssetKey:
    """The key of a raw table's observable source asset."""
    return dg.AssetKey([RAW_TABLE_PREFIX, source_id])


def raw_sidecar_key(source_id: str) -> dg.AssetKey:
    """The key of a sidecar's observable source asset."""
    return dg.AssetKey([RAW_SIDECAR_PREFIX, source_id])


def staged_table_key(source_id: str) -> dg.AssetKey:
    """The key of one table's staged asset."""
    return dg.AssetKey([STAGED_TABLE_PREFIX, source_id])


def raw_file_path(raw_dir: Path, key: dg.AssetKey) -> Path:
    """The file a raw asset stands for: the sidecar itself, or the data file it names (its stem + .csv if unreadable)."""
    prefix, source_id = key.path
    sidecar_path = sidecar_path_of(raw_dir, source_id)
    if prefix == RAW_SIDECAR_PREFIX:
        return sidecar_path
    try:
        fields = read_sidecar_fields(sidecar_path)
        if is_plain_file_name(fields["file"]):  # type: ignore[index]
            return sidecar_path.parent / str(fields["file"])  # type: ignore[index]
    except (InputError, TypeError, KeyError, ValueError):
        pass
    return sidecar_path.parent / f"{source_id}.csv"


def raw_file_versions(raw_dir: Path, keys) -> dict[dg.AssetKey, str]:
    """The data version each raw asset would be observed with now: its file's sha256, or `absent`."""
    return {key: file_version(raw_file_path(raw_dir, key)) for key in keys}


def freshness_result(sidecar_path: Path, today: dt.date, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """WARN when a table was last read longer ago than its update period, or its next edition is overdue."""
    try:
        fields = read_sidecar_fields(sidecar_path) or {}
        period = str(fields.get("update_period") or DEFAULT_UPDATE_PERIOD)
        declared = "update_period" in fields
        accessed = dt.date.fromisoformat(str(fields["accessed"]))
        due = add_period(accessed, period)
        edition_due = dt.date.fromisoformat(str(fields["next_edition_due"])) if "next_edition_due" in fields else None
    except (InputError, OSError, TypeError, AttributeError, KeyError, ValueError) as error:
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=FRESHNESS_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{sidecar_path}: cannot tell the table's age ({error}); `accessed` and `next_edition_due` must be YYYY-MM-DD and `update_period` an ISO 8601 period such as P1Y",
        )
    overdue = today > due
    description = (
        f"{sidecar_path.name}: read from its source on {accessed}, older than its update period {period}"
        f"{'' if declared else ' (default)'}; a newer edition is due since {due}: check the source and refresh the table"
        if overdue
        else f"{sidecar_path.name}: read on {accessed}; next check due {due} (update period {period}{'' if declared else ', default'})"
    )
    edition_overdue = edition_due is not None and today > edition_due
    if edition_overdue:
        description += (
            f". Its next edition was due by {edition_due} ({(today - edition_due).days} days ago): this edition "
            f"({fields.get('edition')}) is out of date; look for the newer edition and add its table"
        )
    elif edition_due is not None:
        description += f". Next edition due by {edition_due}"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=FRESHNESS_CHECK,
        passed=not overdue and not edition_overdue,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "accessed": str(accessed),
            "update_period": period,
            "update_period_declared": declared,
            "due": str(due),
            "days_overdue": max((today - due).days, 0),
            "edition": str(fields.get("edition")),
            "next_edition_due": str(edition_due) if edition_due else "not stated",
            "edition_days_overdue": max((today - edition_due).days, 0) if edition_due else 0,
        },
    )


def metadata_version(metadata_dir: Path) -> str:
    """The data version of `metadata_files`: the package's metadata folder's digest, and the run's folder's if another."""
    folders = dict.fromkeys([PACKAGE_METADATA_DIR.resolve(), metadata_dir.resolve()])
    return ";".join(folder_digest(folder) for folder in folders)
