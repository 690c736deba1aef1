"""Write–audit–publish of the warehouse and the release, together and atomically."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from pipeline.core.fs import pause_point
from pipeline.core.locks import pipeline_lock
from pipeline.core.paths import FolderProperties
from pipeline.core.tables import ParquetSource, table_source
from pipeline.publish.documents.comments import warehouse_statements
from pipeline.publish.registry import PUBLISHED_TABLES, TABLE_MODELS, PublishedTable
from pipeline.publish.release.verify import verify_release
from pipeline.publish.release.versions import (
    Release,
    commit_release,
    latest_version,
    newest_release,
    next_version,
    point_latest_at,
    release_versions,
    remove_stale_temporaries,
)
from pipeline.publish.release.write import content_hash, prepare_release
from pipeline.publish.warehouse import (
    PUBLICATION_TABLE,
    WarehouseAuditError,
    audit_warehouse,
    definitions_hash,
    discard_staging,
    file_fingerprint,
    live_publication,
    read_warehouse_record,
    read_write_holder,
    remove_stale_staging,
    stage_warehouse,
    staging_path_for,
    swap_in,
    warehouse_problems,
    write_warehouse_record,
)

T = TypeVar("T")
U = TypeVar("U")


class PublishedStateError(RuntimeError):
    """What is already published no longer matches its recorded hashes (or is held open); nothing was published."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(
            "the published warehouse or release does not match what was recorded when it was published; "
            "nothing was published:\n"
            + "\n".join(f"- {problem}" for problem in problems)
            + "\nA release is write-once: restore the named file from a copy (or move the release folder out of "
            "releases/); a changed warehouse file can be deleted, the next run rebuilds it. `make verify` lists "
            "every mismatch."
        )


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


def publish_tables(
    tables: dict[str, ParquetSource | pd.DataFrame],
    extra_files: dict[str, bytes],
    project_paths: FolderProperties,
    today: dt.date,
    specs: dict[str, PublishedTable] | None = None,
) -> PublicationOutcome:
    """Write the staging warehouse and the release, audit both, then publish: release, `latest`, warehouse swap.

    A table is a stored Parquet file (a ParquetSource: hashed, loaded and written a column or a row group at a
    time) or a DataFrame.
    """
    sources = {name: table_source(table) for name, table in tables.items()}
    # The views and comments describe the registry's tables; a test's own registry gets plain tables.
    statements = [] if specs else warehouse_statements(TABLE_MODELS, [PUBLICATION_TABLE], project_paths.metadata_path)
    specs = specs or PUBLISHED_TABLES
    live = project_paths.warehouse_file
    releases_dir = project_paths.releases_path
    with pipeline_lock(project_paths.warehouse_path):
        remove_stale_staging(live)
        remove_stale_temporaries(releases_dir)
        releases_dir.mkdir(parents=True, exist_ok=True)
        problems = published_state_problems(live, releases_dir)
        if problems:
            raise PublishedStateError(problems)
        previous = newest_release(releases_dir)
        definitions = definitions_hash(statements)
        staging = staging_path_for(live)
        temporary: Path | None = None
        decided: Future[Decision] = Future()

        def release() -> Path | None:
            """The content hash and the version, then (content changed) the release in its temporary folder."""
            decision = settle(decided, lambda: decide(sources, extra_files, releases_dir, today, previous, definitions))
            if not decision.changed:
                return None
            descriptions = {name: spec.column_descriptions() for name, spec in specs.items()}
            keys = {name: list(spec.primary_key) for name, spec in specs.items()}
            models = {name: spec.model for name, spec in specs.items()}
            return prepare_release(
                sources,
                extra_files,
                releases_dir,
                decision.version,
                decision.content,
                descriptions,
                keys,
                previous,
                models,
            )

        def warehouse() -> dict[str, int]:
            """The staging warehouse: its tables written while the content is hashed, then its publication row, audited."""
            stage_warehouse(sources, staging, lambda: decided.result().publication_row, statements)
            row = decided.result().publication_row
            return audit_warehouse(staging, sources, specs, row, require_comments=bool(statements))

        try:
            # The hash and the release on one core, the warehouse (DuckDB) on the other: the hash no longer runs
            # before both (issue 17). Unpacked apart: unpacking the call itself makes mypy infer U as Path | None (python/mypy#20219).
            results = alongside(warehouse, release, discard=remove_folder)
            counts, temporary = results
            decision = decided.result()
            version, changed, content = decision.version, decision.changed, decision.content
            if changed:
                assert temporary is not None  # changed: alongside ran release(), which returns its folder
                problems = verify_release(temporary, expected_version=version)
                if problems:
                    raise WarehouseAuditError([f"release {problem}" for problem in problems])
            holder = read_write_holder(live) if live.exists() else None
            if holder:  # opened since the check at the start: stop before anything is published
                raise PublishedStateError([f"{live}: open read-write in another process ({holder}); close it"])
            pause_point("swap", live.parent)
            if changed:
                assert temporary is not None  # as above: the release folder, not yet committed
                commit_release(temporary, releases_dir, version)
                temporary = None
            pause_point("latest", live.parent)
            if latest_version(releases_dir) != version:
                point_latest_at(releases_dir, version)
            pause_point("warehouse-swap", live.parent)
            current = live_publication(live)
            identity = ("release_version", "content_hash", "definitions_hash")
            swapped = current is None or any(current[key] != decision.publication_row[key] for key in identity)
            fingerprint = None
            if swapped:
                fingerprint = file_fingerprint(staging)
                write_warehouse_record(live, (read_warehouse_record(live) or {}).get("current"), pending=fingerprint)
                swap_in(staging, live)
            record_live_warehouse(live, fingerprint)
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


@dataclass(frozen=True)
class Decision:
    """What the content hash decides: the version, whether a release is cut, the warehouse's publication row."""

    content: str
    version: str
    changed: bool
    publication_row: dict[str, str]


def decide(
    sources: dict[str, ParquetSource],
    extra_files: dict[str, bytes],
    releases_dir: Path,
    today: dt.date,
    previous: Release | None,
    definitions: str,
) -> Decision:
    """Hash the content; a new version when it differs from the newest release's, else that release's version."""
    content = content_hash(sources, extra_files)
    changed = previous is None or previous.content_hash != content
    version = next_version(releases_dir, today) if changed or previous is None else previous.version
    publication_row = {
        "release_version": version,
        "content_hash": content,
        "definitions_hash": definitions,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return Decision(content, version, changed, publication_row)


def published_state_problems(live: Path, releases_dir: Path) -> list[str]:
    """The live warehouse, `latest` and the newest release (the one diffed against) against their recorded hashes."""
    problems = warehouse_problems(live)
    versions = {latest_version(releases_dir), *release_versions(releases_dir)[-1:]}
    for version in sorted(version for version in versions if version and (releases_dir / version).is_dir()):
        problems += [f"release {problem}" for problem in verify_release(releases_dir / version)]
    return problems


def record_live_warehouse(live: Path, fingerprint: dict | None = None) -> None:
    """Record the live warehouse's fingerprint as published (after a swap, or the first run that records one)."""
    if not live.is_file():
        return
    fingerprint = fingerprint or file_fingerprint(live)
    recorded = read_warehouse_record(live) or {}
    if recorded.get("current") != fingerprint or recorded.get("pending"):
        write_warehouse_record(live, fingerprint)


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


def settle(future: Future[T], work: Callable[[], T]) -> T:
    """Run `work`, handing its result (or its error) to whoever waits on the future too; its result."""
    try:
        result = work()
    except BaseException as error:
        future.set_exception(error)
        raise
    future.set_result(result)
    return result


def remove_folder(path: Path | None) -> None:
    """Delete a folder written for nothing (a release whose warehouse failed its audit); None: nothing was written."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
