"""Running the job in process and reporting what failed and why: the one runner of `make run` and `make nightly`."""

from __future__ import annotations

import logging
import socket
import sys

import dagster as dg

from pipeline.defs.automation import JOB_NAME
from pipeline.defs.run_monitoring import HOST_TAG, fail_dead_runs


def execute_job(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    log_level: str,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run the build job in this process on the instance; failures are in the result, never raised."""
    return definitions.resolve_job_def(JOB_NAME).execute_in_process(
        instance=instance,
        asset_selection=asset_selection,
        raise_on_error=False,
        tags={**(tags or {}), HOST_TAG: socket.gethostname()},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def run_pipeline(scheduler: str | None = None, workers: int | None = None) -> int:
    """Materialise every asset in the Dagster instance of DAGSTER_HOME; print what failed and why.

    In this process by default; on a dask.distributed cluster when given its scheduler's address (tcp://host:port)
    or a number of local workers.
    """
    from pipeline.definitions import build_definitions
    from pipeline.defs.resources import default_io_dir, default_project_paths

    instance = dg.DagsterInstance.get()
    announce_dead_runs(instance)
    if scheduler or workers:
        result = execute_on_dask(instance, scheduler, workers or 2)
    else:
        definitions = build_definitions(default_project_paths(), default_io_dir())
        result = execute_job(definitions, instance, log_level="CRITICAL")
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.path[-1] in ("warehouse", "release"):
            metadata = event.step_materialization_data.materialization.metadata
            summary = ", ".join(f"{key}={value.value}" for key, value in metadata.items())
            print(f"{event.asset_key.to_user_string()}: {summary}")
    if result.success:
        print(f"run {result.run_id} succeeded")
        return 0
    return reported_failure(result, "nothing was published.")


def announce_dead_runs(instance: dg.DagsterInstance) -> None:
    """Mark runs of killed workers failed before starting (they would hold the daemon's one-run queue); say so."""
    for message in fail_dead_runs(instance):
        print(f"note: {message}", file=sys.stderr)


def execute_on_dask(instance: dg.DagsterInstance, scheduler: str | None, workers: int):
    """Run the same job with Dagster's Dask executor: each step a task on the cluster, outputs on shared storage.

    The workers rebuild the job from pipeline.definitions.build_everything_for with this process's folders, so
    they must reach the same raw, metadata, warehouse and I/O folders (or URL) and the same Dagster instance.
    """
    from pipeline.defs.executors import dask_run_config
    from pipeline.defs.resources import default_io_dir, default_project_paths

    # dask estimates the size of each step's list of events and warns that it cannot: noise, not a problem.
    logging.getLogger("distributed.sizeof").setLevel(logging.ERROR)
    paths = default_project_paths()
    job = dg.build_reconstructable_job(
        "pipeline.definitions",
        "build_everything_for",
        reconstructable_kwargs={
            "raw_dir": str(paths.raw_path.resolve()),
            "warehouse_dir": str(paths.warehouse_path.resolve()),
            "metadata_dir": str(paths.metadata_path.resolve()),
            "io_dir": default_io_dir(),
        },
    )
    run_config = {
        **dask_run_config(scheduler, workers),
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    return dg.execute_job(job, instance=instance, run_config=run_config, raise_on_error=False)


def reported_failure(result: dg.ExecuteInProcessResult, advice: str) -> int:
    """Print that the run failed, with advice and a readable line per failed step or check; the exit code 1."""
    print(f"run {result.run_id} FAILED; {advice}", file=sys.stderr)
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
            text = cause.message.strip() if cause else ""
            if cause and text.split(": ", 1)[0].endswith(f".{cause.cls_name}"):
                text = text.split(": ", 1)[1]  # Dagster prefixes the message with the exception's dotted name
            messages.append(f"step {event.step_key} failed: {cause.cls_name if cause else ''}\n{text}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                messages.append(
                    f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed:\n{evaluation.description or ''}"
                )
    return messages
