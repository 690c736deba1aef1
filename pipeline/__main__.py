"""Command line: `python -m pipeline run | verify | rehash SIDECAR…`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    commands.add_parser("run", help="build the warehouse and a release from raw/")
    rehash = commands.add_parser("rehash", help="write the data file's sha256 into one or more sidecars")
    rehash.add_argument("sidecars", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        return run_pipeline()
    if arguments.command == "rehash":
        from pipeline.sidecar import rehash_sidecar

        for path in arguments.sidecars:
            print(f"{path}: {rehash_sidecar(path)}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
