"""Running the job in process and reporting what failed and why: the one runner of `make run` and `make nightly`."""

from __future__ import annotations

import logging
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

import dagster as dg

from pipeline.defs.automation import JOB_NAME
from pipeline.defs.event_log import pool_event_log_connections
from pipeline.defs.run_monitoring import HOST_TAG, fail_dead_runs

CHANGES_FILE = "CHANGES.md"
# Assets named on one progress line at most (the raw files' observation step covers every raw table and sidecar).
MAX_ASSETS_PER_LINE = 4
MAX_LISTED_WARNINGS = 5


def execute_job(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    log_level: str,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
    asset_check_keys: list[dg.AssetCheckKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run the build job in this process on the instance; failures are in the result, never raised.

    With asset_check_keys, the run is the subset of those assets and exactly those checks (as a RunRequest with
    asset_check_keys is), so a check runs even when its asset is not observed or rebuilt in this run.
    """
    pool_event_log_connections(instance)  # Dagster's SQLite event log, its connections kept (pipeline.defs.event_log)
    job = definitions.resolve_job_def(JOB_NAME)
    if asset_check_keys is not None:
        job = job.get_subset(asset_selection=set(asset_selection or []), asset_check_selection=set(asset_check_keys))
        asset_selection = None
    return execute_in_process_without_capture(
        job,
        instance=instance,
        asset_selection=asset_selection,
        tags={**(tags or {}), HOST_TAG: socket.gethostname()},
        run_id=run_id,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def execute_in_process_without_capture(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    asset_selection: list[dg.AssetKey] | None,
    tags: dict[str, str],
    run_id: str | None,
    run_config: dict,
) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(raise_on_error=False, …)`, without holding every step's output until the run ends.

    JobDefinition.execute_in_process keeps each output value in a dict, for `result.output_for_node`: an
    in-process run held every table it had computed until its end (at SCALE=1.0 the run's memory rose to 20 GB by
    the last step). The runner needs only the run's events; the outputs are in the I/O manager's files. So this
    makes the same calls as execute_in_process (Dagster 1.13) with output capturing off; the result has no outputs.
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags

    selection = list(asset_selection or [])
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=selection)
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=False,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=None,
            tags=tags,
            asset_selection=selection,
            instance=instance,
            run_config=run_config,
        ),
        run_id=run_id,
        asset_selection=frozenset(selection),
    )


def run_pipeline(
    scheduler: str | None = None,
    workers: int | None = None,
    machine_readable: bool = False,
    stream: TextIO | None = None,
) -> int:
    """Materialise every asset in the Dagster instance of DAGSTER_HOME, showing progress; a summary or what failed.

    In this process by default; on a dask.distributed cluster when given its scheduler's address (tcp://host:port)
    or a number of local workers.
    """
    from pipeline.definitions import build_definitions
    from pipeline.defs.resources import default_io_dir, default_project_paths

    stream = stream or sys.stdout
    instance = dg.DagsterInstance.get()
    pool_event_log_connections(instance)
    paths = default_project_paths()
    definitions = build_definitions(paths, default_io_dir())
    run_id = str(uuid.uuid4())
    progress = RunProgress(len(definitions.resolve_job_def(JOB_NAME).graph.nodes), stream)
    print(f"building {paths.warehouse_path} from {paths.raw_path} (run {run_id})", file=stream, flush=True)
    announce_dead_runs(instance)
    if scheduler or workers:
        result = execute_on_dask(instance, scheduler, workers or 2)
        for event in result.all_events:  # the cluster's steps report to the instance: their lines come at the end
            progress.handle(SimpleNamespace(dagster_event=event))
    else:
        instance.add_event_listener(run_id, progress.handle)
        result = execute_job(definitions, instance, log_level="CRITICAL", run_id=run_id)
    if machine_readable:
        for line in machine_readable_lines(result.all_events):
            print(line, file=stream)
    if result.success:
        for line in progress.summary(result.all_events):
            print(line, file=stream)
        print(f"run {result.run_id} succeeded in {progress.elapsed():.1f} s", file=stream, flush=True)
        return 0
    return reported_failure(result, "nothing was published.")


class RunProgress:
    """Prints a line per finished step (elapsed seconds, step k of n, its assets and row counts) as events arrive."""

    def __init__(self, total_steps: int, stream: TextIO) -> None:
        """Start the clock; nothing is printed until a step finishes."""
        self.total_steps = total_steps
        self.stream = stream
        self.started = time.perf_counter()
        self.finished_steps = 0
        self.steps: dict[str, StepProgress] = {}
        self.warnings: list[str] = []
        self.check_outcomes: dict[str, int] = {"passed": 0, "warned": 0, "failed": 0}

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def handle(self, record) -> None:
        """Consume one event of the run's event stream (the instance's event listener)."""
        event = record.dagster_event
        if event is None:
            return
        kind = event.event_type_value
        step = self.steps.setdefault(event.step_key or "", StepProgress())
        if kind == "ASSET_MATERIALIZATION":
            step.materialised.append(asset_line(event))
        elif kind == "ASSET_OBSERVATION":
            step.observed += 1
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            outcome = "passed" if evaluation.passed else "failed"
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
                outcome = "warned"
            self.check_outcomes[outcome] += 1
            if outcome == "warned":
                self.warnings.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
            step.checks[outcome] = step.checks.get(outcome, 0) + 1
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            self.finished_steps += 1
            finished = self.steps.pop(event.step_key or "", step)
            status = "" if kind == "STEP_SUCCESS" else " FAILED"
            width = len(str(self.total_steps))
            print(
                f"[{self.elapsed():6.1f} s] {self.finished_steps:{width}}/{self.total_steps} "
                f"{finished.describe(event.step_key or '')}{status}",
                file=self.stream,
                flush=True,
            )

    def summary(self, events) -> list[str]:
        """The closing summary: release version or no change, row counts, where the outputs are, what changed."""
        metadata = {
            event.asset_key.path[-1]: {
                key: value.value for key, value in event.step_materialization_data.materialization.metadata.items()
            }
            for event in events
            if event.event_type_value == "ASSET_MATERIALIZATION"
            and event.asset_key.path[-1] in ("warehouse", "release")
        }
        checks = ", ".join(f"{count} {outcome}" for outcome, count in self.check_outcomes.items())
        lines = [f"checks: {checks}"]
        if self.warnings:
            shown = ", ".join(self.warnings[:MAX_LISTED_WARNINGS])
            more = (
                f" and {len(self.warnings) - MAX_LISTED_WARNINGS} more"
                if len(self.warnings) > MAX_LISTED_WARNINGS
                else ""
            )
            lines.append(f"  warnings (details in the Dagster UI, `make dev`): {shown}{more}")
        release, warehouse = metadata.get("release"), metadata.get("warehouse")
        if release:
            changed = bool(release.get("changed"))
            lines.append(
                f"release: {release['summary']}" if changed else f"release: no change (still {release['version']})"
            )
            lines.append(f"release folder: {release['path']}")
            if changed:
                lines += [f"  changed: {line}" for line in table_changes(Path(str(release["path"])) / CHANGES_FILE)]
        if warehouse:
            swapped = "replaced" if warehouse.get("swapped") else "unchanged"
            lines.append(f"warehouse: {warehouse['path']} ({swapped})")
            rows = [
                f"{key.removeprefix('rows_')} {value}" for key, value in warehouse.items() if key.startswith("rows_")
            ]
            lines.append(f"rows: {', '.join(rows)}")
        return lines


@dataclass
class StepProgress:
    """What one step has done so far: assets materialised (with rows), assets observed, check outcomes."""

    materialised: list[str] = field(default_factory=list)
    observed: int = 0
    checks: dict[str, int] = field(default_factory=dict)

    def describe(self, step_key: str) -> str:
        """One line: the materialised assets (the first few), then observation and check counts."""
        parts = self.materialised[:MAX_ASSETS_PER_LINE]
        if len(self.materialised) > MAX_ASSETS_PER_LINE:
            parts.append(f"… {len(self.materialised) - MAX_ASSETS_PER_LINE} more")
        if self.observed:
            parts.append(f"{step_key}: {self.observed} file(s) observed")
        if self.checks:
            counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.checks.items()))
            parts.append(f"{'' if parts else step_key + ': '}check(s) {counts}")
        return "; ".join(parts) or step_key


def asset_line(event) -> str:
    """An asset's short name with its row count when its materialisation states one."""
    name = event.asset_key.to_user_string()
    data = event.event_specific_data
    metadata = getattr(getattr(data, "materialization", None), "metadata", {}) or {}
    rows = metadata.get("dagster/row_count") or metadata.get("rows")
    return f"{name} ({rows.value} rows)" if rows is not None else name


def table_changes(changes_path: Path) -> list[str]:
    """Per table with rows added, removed or changed, a line from the release's CHANGES.md summary table."""
    if not changes_path.exists():
        return []
    lines = []
    in_summary = False  # only the "Rows by primary key" table: the value-change tables after it have 6 columns too
    for line in changes_path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("First release"):
            return ["first release: nothing to compare with"]
        if line.startswith("## "):
            in_summary = line.startswith("## Rows by primary key")
        if in_summary and len(cells) == 6 and cells[1] not in ("rows before", "---:") and cells[3:] != ["0", "0", "0"]:
            name, before, after, added, removed, changed = cells
            lines.append(f"{name}: {before} → {after} rows, {added} added, {removed} removed, {changed} changed")
    return lines or ["no row added, removed or changed (an extra file changed)"]


def machine_readable_lines(events) -> list[str]:
    """`warehouse: key=value, …` and `release: key=value, …` lines (--machine-readable), for scripts."""
    lines = []
    for event in events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key.path[-1] in ("warehouse", "release"):
            metadata = event.step_materialization_data.materialization.metadata
            summary = ", ".join(f"{key}={value.value}" for key, value in metadata.items())
            lines.append(f"{event.asset_key.to_user_string()}: {summary}")
    return lines


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
                outcome = "warned" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed"
                messages.append(
                    f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} {outcome}:\n"
                    f"{evaluation.description or ''}"
                )
    return messages
