"""Command line: `python -m pipeline run | verify | rehash SIDECAR…`; an error is one line, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.core.fs import MEBIBYTE, free_space_problem, os_error_line, tree_size, writable_folder_problem
from pipeline.core.locks import BUSY_EXIT_CODE
from pipeline.core.paths import WAREHOUSE_FILE_NAME, ProjectFolders, folders_from_environment
from pipeline.operate.runs import run_pipeline

DEBUG_ENVIRONMENT_VARIABLE = "PIPELINE_DEBUG"  # set to 1 to see the traceback of an unexpected error
# Free space a run needs besides a copy of the warehouse and of the newest release: Dagster's run storage, logs.
MINIMUM_FREE_BYTES = 64 * MEBIBYTE
EXECUTOR_VARIABLE = "PIPELINE_EXECUTOR"
SCHEDULER_VARIABLE = "PIPELINE_DASK_SCHEDULER"


def nightly_main() -> int:
    """`python -m pipeline.automation`: the nightly run, after the same start checks as `run`; errors in one line."""
    return without_traceback(nightly_command)


def nightly_command() -> int:
    """Check that a run can start (folders writable, disk space), then run the nightly."""
    folders = folders_from_environment()
    home = os.environ.get("DAGSTER_HOME")
    problem = start_problem(folders, Path(home) if home else None)
    if problem:
        print(f"error: {problem}; nothing was changed", file=sys.stderr)
        return 1
    from pipeline.operate.nightly import run_nightly

    return run_nightly()


def run_command(
    wait: bool, scheduler: str | None = None, workers: int | None = None, machine_readable: bool = False
) -> int:
    """Run the pipeline while holding the warehouse folder's lock; a second run exits (or waits, with --wait)."""
    from pipeline.core.locks import PipelineBusyError, pipeline_lock

    folders = folders_from_environment()
    warehouse_dir = folders.warehouse_path
    home = os.environ.get("DAGSTER_HOME")
    problem = start_problem(folders, Path(home) if home else None)
    if problem:
        print(f"error: {problem}; nothing was changed", file=sys.stderr)
        return 1
    if scheduler or workers:
        # The publication step takes the same lock on the worker that runs it (one writer of the warehouse and the
        # releases); held here too, that worker, another process, could never get it.
        return run_pipeline(scheduler, workers, machine_readable)
    try:
        with pipeline_lock(warehouse_dir, wait=wait, announce=lambda message: print(message, file=sys.stderr)):
            return run_pipeline(machine_readable=machine_readable)
    except PipelineBusyError as error:
        print(error, file=sys.stderr)
        return BUSY_EXIT_CODE


def start_problem(folders: ProjectFolders, dagster_home: Path | None) -> str | None:
    """Why a run cannot start (a folder it writes is read-only, the disk is full), as one line; None when it can."""
    releases = folders.releases_path
    newest = max((path for path in releases.iterdir() if path.is_dir()), default=None) if releases.is_dir() else None
    needed = MINIMUM_FREE_BYTES + tree_size(folders.warehouse_file) + (tree_size(newest) if newest else 0)
    checks: list[Callable[[], str | None]] = [
        lambda: None if folders.raw_path.is_dir() else f"the raw folder {folders.raw_path} does not exist",
        lambda: writable_folder_problem(folders.warehouse_path, "warehouse folder"),
        lambda: writable_folder_problem(releases, "releases folder") if releases.is_dir() else None,
        lambda: writable_folder_problem(dagster_home, "Dagster home (DAGSTER_HOME)") if dagster_home else None,
        lambda: free_space_problem(folders.warehouse_path, needed, "warehouse folder"),
        lambda: free_space_problem(dagster_home, MINIMUM_FREE_BYTES, "Dagster home") if dagster_home else None,
    ]
    return next((problem for check in checks if (problem := check())), None)


def verify_command(releases_dir: Path | None, run_frictionless: bool) -> int:
    """Check every release (checksums.csv, datapackage.json) and the live warehouse; print each mismatch; 1 if any."""
    from pipeline.publish.release.verify import verify_releases
    from pipeline.publish.release.versions import LATEST, latest_version

    if releases_dir is None:
        releases_dir = folders_from_environment().releases_path
    results = verify_releases(releases_dir)
    failures = warehouse_failures(releases_dir.parent / WAREHOUSE_FILE_NAME)
    if not results:
        print(f"no releases in {releases_dir}")
        return 1 if failures else 0
    for version, problems in results.items():
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        failures += len(problems)
        if not problems:
            print(f"{version}: ok" if version != LATEST else f"{LATEST} -> {(releases_dir / LATEST).readlink()}: ok")
    versions = [version for version in results if version != LATEST]
    if versions and latest_version(releases_dir) not in (None, versions[-1]):
        print(
            f"note: {LATEST} points at {latest_version(releases_dir)}, the newest release is {versions[-1]} (a run was interrupted; the next run repoints it)"
        )
    if run_frictionless:
        failures += frictionless_failures(releases_dir, versions)
    verdict = f"{failures} problem(s)" if failures else "all releases verify"
    print(f"{releases_dir}: {verdict}", file=sys.stderr if failures else sys.stdout)
    return 1 if failures else 0


def warehouse_failures(live: Path) -> int:
    """Check the live warehouse against its recorded sha256 (and for read-write holders); print; problems found."""
    from pipeline.publish.warehouse import read_warehouse_record, record_path_for, warehouse_problems

    if not live.exists():
        return 0
    problems = warehouse_problems(live)
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    if not problems:
        recorded = read_warehouse_record(live) is not None
        print(
            f"{live}: ok" if recorded else f"note: {live} has no {record_path_for(live).name}; the next run records it"
        )
    return len(problems)


def frictionless_failures(releases_dir: Path, versions: list[str]) -> int:
    """Run frictionless validate on each release's datapackage.json; print each error; the number of invalid releases."""
    import frictionless

    from pipeline.publish.release.versions import DATAPACKAGE

    invalid = 0
    for version in versions:
        report = frictionless.validate(str(releases_dir / version / DATAPACKAGE))
        if report.valid:
            print(f"{version}: frictionless valid")
            continue
        invalid += 1
        for task in report.tasks:
            for error in task.errors:
                print(f"MISMATCH {version}/{task.name}: frictionless {error.type}: {error.note}", file=sys.stderr)
    return invalid


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; an error is one line on stderr and a non-zero exit, no traceback."""
    return without_traceback(lambda: command_main(argv))


def without_traceback(command: Callable[[], int]) -> int:
    """Run a command; an error it raises is printed as one line (the traceback only with PIPELINE_DEBUG=1)."""
    try:
        return command()
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written is published (the next run cleans up)", file=sys.stderr)
        return 130
    except Exception as error:  # the last resort: every expected failure is reported by the command itself
        if os.environ.get(DEBUG_ENVIRONMENT_VARIABLE) == "1":
            raise
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 1


def error_line(error: BaseException) -> str:
    """An exception as one line: an OSError's cause and file, else its type and first line of message."""
    if isinstance(error, OSError):
        return f"{os_error_line(error)}; nothing was changed"
    cause = error.__cause__ or error.__context__
    if isinstance(cause, OSError):
        return f"{os_error_line(cause)}; nothing was changed"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''} (set {DEBUG_ENVIRONMENT_VARIABLE}=1 for the traceback)"


def command_main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="build the warehouse and a release from raw/")
    run.add_argument(
        "--wait", action="store_true", help="if another run holds the lock, wait for it instead of exiting"
    )
    run.add_argument(
        "--machine-readable",
        action="store_true",
        help="also print the warehouse's and release's metadata as `key=value` lines (for scripts)",
    )
    run.add_argument(
        "--executor",
        choices=["in_process", "dask"],
        default=os.environ.get(EXECUTOR_VARIABLE, "in_process"),
        help=f"where the steps run: in this process (default) or on a dask.distributed cluster (env {EXECUTOR_VARIABLE})",
    )
    run.add_argument(
        "--scheduler",
        default=os.environ.get(SCHEDULER_VARIABLE),
        help=f"with --executor dask: the running cluster's scheduler, tcp://host:port (env {SCHEDULER_VARIABLE}); "
        "without it a local cluster is started",
    )
    run.add_argument(
        "--workers", type=int, default=2, help="with --executor dask and no --scheduler: local worker processes"
    )
    verify = commands.add_parser(
        "verify", help="check every release and the live warehouse against their recorded hashes"
    )
    verify.add_argument("--releases-dir", type=Path, help="releases folder (default: the warehouse folder's releases/)")
    verify.add_argument("--frictionless", action="store_true", help="also run frictionless validate on each release")
    rehash = commands.add_parser("rehash", help="write the data file's sha256 into one or more sidecars")
    rehash.add_argument("sidecars", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        if arguments.executor != "dask":
            return run_command(arguments.wait, machine_readable=arguments.machine_readable)
        if arguments.workers < 1:
            parser.error("--workers must be at least 1")
        workers = None if arguments.scheduler else arguments.workers
        return run_command(arguments.wait, arguments.scheduler, workers, arguments.machine_readable)
    if arguments.command == "verify":
        return verify_command(arguments.releases_dir, arguments.frictionless)
    if arguments.command == "rehash":
        return rehash_command(arguments.sidecars)
    return 2


def rehash_command(paths: list[Path]) -> int:
    """Write each sidecar's data sha256 and own checksum; refuse paths outside raw/ and symlinks; non-zero on any refusal."""
    from pipeline.core.errors import InputError
    from pipeline.ingest.sidecar import rehash_sidecar

    raw_dir = folders_from_environment().raw_path
    failures = 0
    for path in paths:
        try:
            print(f"{path}: {rehash_sidecar(path, raw_dir)}")
        except InputError as error:
            failures += 1
            print(f"REFUSED {error}", file=sys.stderr)
    return 1 if failures else 0
