"""Command line: `python -m pipeline run | verify | rehash SIDECAR…`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.core.locks import BUSY_EXIT_CODE
from pipeline.core.paths import folders_from_environment
from pipeline.operate.runs import run_pipeline


def run_command(wait: bool) -> int:
    """Run the pipeline while holding the warehouse folder's lock; a second run exits (or waits, with --wait)."""
    from pipeline.core.locks import PipelineBusyError, pipeline_lock

    warehouse_dir = folders_from_environment().warehouse_path
    try:
        with pipeline_lock(warehouse_dir, wait=wait, announce=lambda message: print(message, file=sys.stderr)):
            return run_pipeline()
    except PipelineBusyError as error:
        print(error, file=sys.stderr)
        return BUSY_EXIT_CODE


def verify_command(releases_dir: Path | None, run_frictionless: bool) -> int:
    """Check every release's files against its datapackage.json; print each mismatch; non-zero if any."""
    from pipeline.publish.release.verify import verify_releases
    from pipeline.publish.release.versions import LATEST, latest_version

    if releases_dir is None:
        releases_dir = folders_from_environment().releases_path
    results = verify_releases(releases_dir)
    if not results:
        print(f"no releases in {releases_dir}")
        return 0
    failures = 0
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


def frictionless_failures(releases_dir: Path, versions: list[str]) -> int:
    """Run frictionless validate on each release's datapackage.json; print each error; the number of invalid releases."""
    import frictionless

    from pipeline.publish.release.versions import DATAPACKAGE

    invalid = 0
    for version in versions:
        report = frictionless.validate(str(releases_dir / version / DATAPACKAGE), skip_errors=["byte-count"])
        if report.valid:
            print(f"{version}: frictionless valid")
            continue
        invalid += 1
        for task in report.tasks:
            for error in task.errors:
                print(f"MISMATCH {version}/{task.name}: frictionless {error.type}: {error.note}", file=sys.stderr)
    return invalid


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="build the warehouse and a release from raw/")
    run.add_argument(
        "--wait", action="store_true", help="if another run holds the lock, wait for it instead of exiting"
    )
    verify = commands.add_parser("verify", help="check every release's files against its datapackage.json")
    verify.add_argument("--releases-dir", type=Path, help="releases folder (default: the warehouse folder's releases/)")
    verify.add_argument("--frictionless", action="store_true", help="also run frictionless validate on each release")
    rehash = commands.add_parser("rehash", help="write the data file's sha256 into one or more sidecars")
    rehash.add_argument("sidecars", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        return run_command(arguments.wait)
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
