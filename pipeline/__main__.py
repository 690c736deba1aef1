"""Command line: `python -m pipeline run | verify | rehash SIDECAR…`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: another run holds the lock; try again later


def run_command(wait: bool) -> int:
    """Run the pipeline while holding the warehouse folder's lock; a second run exits (or waits, with --wait)."""
    from pipeline.resources import default_project_paths
    from pipeline.warehouse import PipelineBusyError, pipeline_lock

    warehouse_dir = default_project_paths().warehouse_path
    try:
        with pipeline_lock(warehouse_dir, wait=wait, announce=lambda message: print(message, file=sys.stderr)):
            return run_pipeline()
    except PipelineBusyError as error:
        print(error, file=sys.stderr)
        return BUSY_EXIT_CODE


def verify_command(releases_dir: Path | None, run_frictionless: bool) -> int:
    """Check every release's files against its datapackage.json; print each mismatch; non-zero if any."""
    from pipeline.release import DATAPACKAGE, LATEST, latest_version, verify_releases

    if releases_dir is None:
        from pipeline.resources import default_project_paths

        releases_dir = default_project_paths().releases_path
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
        import frictionless

        for version in results:
            if version == LATEST:
                continue
            report = frictionless.validate(str(releases_dir / version / DATAPACKAGE), skip_errors=["byte-count"])
            if not report.valid:
                failures += 1
                for task in report.tasks:
                    for error in task.errors:
                        print(
                            f"MISMATCH {version}/{task.name}: frictionless {error.type}: {error.note}", file=sys.stderr
                        )
            else:
                print(f"{version}: frictionless valid")
    verdict = f"{failures} problem(s)" if failures else "all releases verify"
    print(f"{releases_dir}: {verdict}", file=sys.stderr if failures else sys.stdout)
    return 1 if failures else 0


def run_pipeline() -> int:
    """Materialise every asset in the Dagster instance of DAGSTER_HOME; print what failed and why."""
    import dagster as dg

    from pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("build_everything")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.path[-1] in ("warehouse", "release"):
            metadata = event.step_materialization_data.materialization.metadata
            summary = ", ".join(f"{key}={value.value}" for key, value in metadata.items())
            print(f"{event.asset_key.to_user_string()}: {summary}")
    if result.success:
        print(f"run {result.run_id} succeeded")
        return 0
    print(f"run {result.run_id} FAILED; nothing was published.", file=sys.stderr)
    for message in failure_messages(result.all_events):
        print(message, file=sys.stderr)
    return 1


def failure_messages(events) -> list[str]:
    """Readable lines for failed steps and failed blocking checks of a run."""
    messages = []
    for event in events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            cause = (
                error.cause
                if error and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause
                else error
            )
            if cause and cause.cls_name == "DagsterAssetCheckFailedError":
                continue
            messages.append(
                f"step {event.step_key} failed: {cause.cls_name if cause else ''}\n{cause.message.strip() if cause else ''}"
            )
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                messages.append(
                    f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed:\n{evaluation.description or ''}"
                )
    return messages


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
        from pipeline.sidecar import rehash_sidecar

        for path in arguments.sidecars:
            print(f"{path}: {rehash_sidecar(path)}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
