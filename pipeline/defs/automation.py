"""Automation: the job, the nightly schedule, the raw-files sensor and the plan of an incremental run."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import extract_data_provenance_from_entry, extract_data_version_from_entry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from pipeline.core.hashing import file_version
from pipeline.core.paths import PACKAGE_METADATA_DIR
from pipeline.defs.executors import in_process_or_dask_executor
from pipeline.defs.ingest import (
    METADATA_FILES,
    RAW_SIDECAR_PREFIX,
    RAW_TABLE_PREFIX,
    metadata_version,
    raw_file_versions,
)
from pipeline.defs.resources import ProjectPaths
from pipeline.ingest.sidecar import SIDECAR_SUFFIX, sidecar_paths

NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_TIMEZONE = "Asia/Shanghai"
SENSOR_INTERVAL_SECONDS = 60
JOB_NAME = "build_everything"
TRIGGER_TAG = "pipeline/trigger"


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # include_sources: observing raw files is part of every run
    build_everything = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(include_sources=True),
        description="Observe raw/ and build everything from it: warehouse and release.",
        # The tables are small: one process is much faster than a process per step, and retries work the same.
        # The same job runs on a dask.distributed cluster with `dask:` execution config (pipeline.defs.executors).
        executor_def=in_process_or_dask_executor,
    )


@dataclass
class UpdatePlan:
    """What an incremental run does: observe the changed sources, rebuild the out-of-date assets, run the checks."""

    observe: list[dg.AssetKey]
    out_of_date: dict[dg.AssetKey, str]
    checks: list[dg.AssetCheckKey] = field(default_factory=list)

    @property
    def asset_selection(self) -> list[dg.AssetKey]:
        """Sources to observe plus assets to rebuild, in a stable order."""
        return sorted({*self.observe, *self.out_of_date})

    def describe(self) -> str:
        """The plan as readable lines: each out-of-date asset with its reason."""
        if not self.out_of_date:
            observed = f"observing {len(self.observe)} changed source(s) and " if self.observe else ""
            return f"nothing is out of date: {observed}checking freshness only"
        return "\n".join(f"rebuild {key.to_user_string()}: {reason}" for key, reason in self.out_of_date.items())


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=NIGHTLY_TIMEZONE,
    job=build_everything,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 Shanghai time: observe raw/, rebuild what changed (nothing, if nothing did).",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, project_paths: ProjectPaths) -> dg.RunRequest:
    """The nightly run: every source observed and freshness-checked; out-of-date assets rebuilt."""
    plan = plan_update(
        context.instance, context.repository_def.asset_graph, project_paths.raw_path, project_paths.metadata_path
    )
    context.log.info(plan.describe())
    return run_request(plan, run_key=None, trigger="nightly_schedule")


@dg.sensor(
    job=build_everything,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts one run when a raw table or sidecar is added or changed.",
)
def raw_files_sensor(
    context: dg.SensorEvaluationContext, project_paths: ProjectPaths
) -> dg.SensorResult | dg.SkipReason:
    """One run per new state of raw/: the cursor holds every file's sha256, the run key the state's digest."""
    raw_dir = project_paths.raw_path
    state = raw_folder_state(raw_dir)
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(path for path in state.keys() | previous.keys() if state.get(path) != previous.get(path))
    if not changed:
        return dg.SkipReason("no raw table or sidecar was added or changed")
    asset_graph = context.repository_def.asset_graph
    unknown = unknown_tables(raw_dir, asset_graph)
    if unknown:
        # The cursor stays where it was, so the change starts a run once the code location is reloaded.
        return dg.SkipReason(
            f"new table(s) {', '.join(unknown)} are not in the loaded definitions: reload the code location "
            "(UI: Deployment → Reload, or restart the daemon service); the sensor then starts the run"
        )
    cursor = json.dumps(state, sort_keys=True)
    plan = plan_update(context.instance, asset_graph, raw_dir, project_paths.metadata_path)
    if not plan.out_of_date:
        return dg.SensorResult(
            skip_reason=f"{', '.join(changed)} changed, but every asset is already up to date with them",
            cursor=cursor,
        )
    context.log.info(f"changed: {', '.join(changed)}\n{plan.describe()}")
    request = run_request(plan, run_key=state_digest(state), trigger="raw_files_sensor")
    return dg.SensorResult(run_requests=[request], cursor=cursor)


def plan_update(
    instance: dg.DagsterInstance, asset_graph, raw_dir: Path, metadata_dir: Path = PACKAGE_METADATA_DIR
) -> UpdatePlan:
    """Which assets a run must rebuild: missing, new code version, an input whose version changed, or a failed check."""
    sources = sorted(asset_graph.observable_asset_keys)
    current = current_source_versions(instance, sources, raw_dir, metadata_dir)
    # Only a source whose version differs from its last observation is observed again: an unchanged night then
    # records no observation events (they were most of its time), while the freshness checks of every source run.
    observe = [key for key in sources if current[key] is None or current[key] != last_observed_version(instance, key)]
    out_of_date: dict[dg.AssetKey, str] = {}
    for key in asset_graph.toposorted_asset_keys:
        node = asset_graph.get(key)
        if not node.is_materializable:
            continue
        reason, version = out_of_date_reason(instance, asset_graph, key, current, out_of_date)
        current[key] = version
        if reason:
            out_of_date[key] = reason
    checks = sorted(
        check_key
        for check_key in asset_graph.asset_check_keys
        if check_key.asset_key in out_of_date or check_key.asset_key in sources
    )
    return UpdatePlan(observe=observe, out_of_date=out_of_date, checks=checks)


def last_observed_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version a source was last observed with, None if it never was."""
    record = instance.get_latest_data_version_record(key, is_source=True)
    observed = extract_data_version_from_entry(record.event_log_entry) if record else None
    return observed.value if observed else None


def out_of_date_reason(
    instance: dg.DagsterInstance,
    asset_graph,
    key: dg.AssetKey,
    current: dict[dg.AssetKey, str | None],
    out_of_date: dict[dg.AssetKey, str],
) -> tuple[str | None, str | None]:
    """Why one asset must be rebuilt (None if it need not), and its current data version."""
    record = instance.get_latest_data_version_record(key, is_source=False)
    if record is None:
        return "never materialised", None
    version = extract_data_version_from_entry(record.event_log_entry)
    version = version.value if version else None
    provenance = extract_data_provenance_from_entry(record.event_log_entry)
    node = asset_graph.get(key)
    missing = missing_output(instance, key, record)
    if missing:
        return f"its output {missing} is gone", version
    if provenance is None:
        return "no data provenance recorded", version
    if node.code_version != provenance.code_version:
        return f"code version changed ({provenance.code_version} → {node.code_version})", version
    rebuilt = [parent.to_user_string() for parent in sorted(node.parent_keys) if parent in out_of_date]
    if rebuilt:
        return f"upstream {', '.join(rebuilt)} rebuilt", version
    changed = [
        parent.to_user_string()
        for parent in sorted(node.parent_keys)
        if provenance.input_data_versions.get(parent) is None
        or provenance.input_data_versions[parent].value != current.get(parent)
    ]
    if changed:
        return f"input {', '.join(changed)} changed", version
    for check_key in sorted(asset_graph.get_check_keys_for_assets({key})):
        if not asset_graph.get_check_spec(check_key).blocking:
            continue
        check_record = instance.get_latest_asset_check_evaluation_record(check_key)
        if check_record is None or check_record.status != AssetCheckExecutionRecordStatus.SUCCEEDED:
            return f"its blocking check {check_key.name} has not passed since it was last built", version
    return None, version


def missing_output(instance: dg.DagsterInstance, key: dg.AssetKey, record) -> str | None:
    """The asset's output if it no longer exists: the file its `path` metadata names, else its stored value."""
    path_entry = record.asset_materialization.metadata.get("path")
    if path_entry is not None:
        path = Path(str(path_entry.value))
    else:
        path = Path(instance.storage_directory()).joinpath(*key.path)
    return None if path.exists() else str(path)


def current_source_versions(
    instance: dg.DagsterInstance, keys: list[dg.AssetKey], raw_dir: Path, metadata_dir: Path = PACKAGE_METADATA_DIR
) -> dict[dg.AssetKey, str | None]:
    """The version each observable source would be observed with now (file hashes), or its last observed one."""
    files = [key for key in keys if key.path[0] in (RAW_TABLE_PREFIX, RAW_SIDECAR_PREFIX) and len(key.path) == 2]
    versions: dict[dg.AssetKey, str | None] = dict(raw_file_versions(raw_dir, files))
    for key in keys:
        if key == METADATA_FILES:
            versions[key] = metadata_version(metadata_dir)
        elif key not in versions:
            versions[key] = last_observed_version(instance, key)
    return versions


def run_request(plan: UpdatePlan, run_key: str | None, trigger: str) -> dg.RunRequest:
    """A run request that observes the changed sources, rebuilds only the out-of-date assets and runs the checks."""
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=plan.asset_selection,
        asset_check_keys=plan.checks,
        tags={TRIGGER_TAG: trigger, "pipeline/rebuilds": str(len(plan.out_of_date))},
    )


def raw_folder_state(raw_dir: Path) -> dict[str, str]:
    """Every file in the raw folder (relative path → sha256), hidden files excepted."""
    if not raw_dir.is_dir():
        return {}
    return {
        path.relative_to(raw_dir).as_posix(): file_version(path)
        for path in sorted(raw_dir.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(raw_dir).parts)
    }


def state_digest(state: dict[str, str]) -> str:
    """One sha256 naming a state of the raw folder, used as the run key."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def unknown_tables(raw_dir: Path, asset_graph) -> list[str]:
    """Sidecars in raw/ whose table has no asset in the loaded definitions."""
    known = {key.path[1] for key in asset_graph.observable_asset_keys if key.path[0] == RAW_SIDECAR_PREFIX}
    return [
        path.relative_to(raw_dir).as_posix()
        for path in sidecar_paths(raw_dir)
        if path.name.removesuffix(SIDECAR_SUFFIX) not in known
    ]
