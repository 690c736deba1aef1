"""Automation: the nightly schedule, the raw-files sensor, and incremental runs that rebuild only what is out of date."""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import extract_data_provenance_from_entry, extract_data_version_from_entry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from pipeline import ingest
from pipeline.errors import InputError
from pipeline.ingest import METADATA_FILES, RAW_SIDECAR_PREFIX, RAW_TABLE_PREFIX
from pipeline.metadata import METADATA_DIR
from pipeline.resources import ProjectPaths, default_project_paths

NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_TIMEZONE = "Asia/Shanghai"
SENSOR_INTERVAL_SECONDS = 60
JOB_NAME = "build_everything"
TRIGGER_TAG = "pipeline/trigger"
PACKAGE = "pipeline"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCK_FILE_NAME = "nightly.lock"
EXIT_LOCKED = 75  # EX_TEMPFAIL: another nightly run holds the lock; cron may simply try again

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # include_sources: observing raw files is part of every run
    build_everything = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(include_sources=True),
        description="Observe raw/ and build everything from it: warehouse and release.",
        # The tables are small: one process is much faster than a process per step, and retries work the same.
        executor_def=dg.in_process_executor,
    )


@dataclass
class UpdatePlan:
    """What an incremental run does: observe every source, rebuild the out-of-date assets, run their checks."""

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
            return "nothing is out of date: observing raw files and checking freshness only"
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
    plan = plan_update(context.instance, context.repository_def.asset_graph, project_paths.raw_path)
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
    plan = plan_update(context.instance, asset_graph, raw_dir)
    if not plan.out_of_date:
        return dg.SensorResult(
            skip_reason=f"{', '.join(changed)} changed, but every asset is already up to date with them",
            cursor=cursor,
        )
    context.log.info(f"changed: {', '.join(changed)}\n{plan.describe()}")
    request = run_request(plan, run_key=state_digest(state), trigger="raw_files_sensor")
    return dg.SensorResult(run_requests=[request], cursor=cursor)


def plan_update(instance: dg.DagsterInstance, asset_graph, raw_dir: Path) -> UpdatePlan:
    """Which assets a run must rebuild: missing, new code version, an input whose version changed, or a failed check."""
    sources = sorted(asset_graph.observable_asset_keys)
    current = current_source_versions(instance, sources, raw_dir)
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
    return UpdatePlan(observe=sources, out_of_date=out_of_date, checks=checks)


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
    instance: dg.DagsterInstance, keys: list[dg.AssetKey], raw_dir: Path
) -> dict[dg.AssetKey, str | None]:
    """The version each observable source would be observed with now (file hashes), or its last observed one."""
    files = [key for key in keys if key.path[0] in (RAW_TABLE_PREFIX, RAW_SIDECAR_PREFIX) and len(key.path) == 2]
    versions: dict[dg.AssetKey, str | None] = dict(ingest.raw_file_versions(raw_dir, files))
    for key in keys:
        if key == METADATA_FILES:
            versions[key] = ingest.folder_digest(METADATA_DIR)
        elif key not in versions:
            record = instance.get_latest_data_version_record(key, is_source=True)
            observed = extract_data_version_from_entry(record.event_log_entry) if record else None
            versions[key] = observed.value if observed else None
    return versions


def run_request(plan: UpdatePlan, run_key: str | None, trigger: str) -> dg.RunRequest:
    """A run request that observes every source and rebuilds only the out-of-date assets."""
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
        path.relative_to(raw_dir).as_posix(): ingest.file_version(path)
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
        for path in ingest.sidecar_paths(raw_dir)
        if path.name.removesuffix(ingest.SIDECAR_SUFFIX) not in known
    ]


def with_code_versions(assets: list) -> list:
    """Give every computing asset a code version: the sha256 of its module's source and the pipeline modules it imports."""
    return [
        versioned(assets_def, module_code_version(compute_module(assets_def)))
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_materializable
        else assets_def
        for assets_def in assets
    ]


def versioned(assets_def: dg.AssetsDefinition, code_version: str) -> dg.AssetsDefinition:
    """The same asset definition with the given code version on every asset it computes."""
    return assets_def.map_asset_specs(lambda spec: spec.replace_attributes(code_version=code_version))


def compute_module(assets_def: dg.AssetsDefinition) -> str:
    """The module that defines an asset's compute function."""
    return assets_def.op.compute_fn.decorated_fn.__module__


@cache
def module_code_version(module_name: str) -> str:
    """A short sha256 over the source of a pipeline module and every pipeline module it imports, transitively."""
    digest = hashlib.sha256()
    for name in sorted(pipeline_imports(module_name)):
        digest.update(f"{name}\n".encode())
        digest.update(module_path(name).read_bytes())
    return digest.hexdigest()[:16]


def pipeline_imports(module_name: str, seen: set[str] | None = None) -> set[str]:
    """A pipeline module and the pipeline modules it imports, transitively (read from the source, not run)."""
    seen = set() if seen is None else seen
    if module_name in seen or not module_path(module_name).is_file():
        return seen
    seen.add(module_name)
    tree = ast.parse(module_path(module_name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            if name.split(".")[0] == PACKAGE and module_path(name).is_file():
                pipeline_imports(name, seen)
    return seen


def module_path(module_name: str) -> Path:
    """The source file of a pipeline module."""
    parts = module_name.split(".")[1:]
    if not parts:
        return PACKAGE_DIR / "__init__.py"
    return PACKAGE_DIR.joinpath(*parts).with_suffix(".py")


def fetch_new_editions(raw_dir: Path) -> list[dict]:
    """Run the enabled source connectors before planning; a source that fails is a warning, never a failed night."""
    from pipeline.connectors.config import load_connectors_config
    from pipeline.connectors.fetch import fetch_all

    try:
        config = load_connectors_config()
    except InputError as error:
        print(f"warning: connectors configuration is invalid, nothing fetched:\n{error}")
        return [{"source": "connectors.yaml", "status": "warn", "message": str(error)}]
    reports = [report.as_dict() for report in fetch_all(config, raw_dir)]
    for report in reports:
        prefix = "warning " if report["status"] == "warn" else ""
        print(f"{prefix}fetch {report['source']}: {report['status']}: {report['message']}")
    return reports


def record_fetch_status(instance: dg.DagsterInstance, reports: list[dict]) -> None:
    """Record this night's fetch as a WARN-severity check evaluation on `sources`, visible in the UI and event log."""
    if not reports:
        return
    from pipeline.connectors.checks import FETCH_STATUS_CHECK
    from pipeline.connectors.fetch import fetch_status_result

    result = fetch_status_result(reports)
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("sources"),
            check_name=FETCH_STATUS_CHECK,
            passed=result.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=result.description,
            metadata=result.metadata,
        )
    )


def run_nightly() -> int:
    """The nightly run without the daemon (cron, systemd): plan, rebuild what is out of date, exit 1 on failure."""
    from pipeline.__main__ import failure_messages

    instance = dg.DagsterInstance.get()
    with nightly_lock(Path(instance.root_directory)) as locked:
        if not locked:
            print("another nightly run is in progress (lock held); nothing done", file=sys.stderr)
            return EXIT_LOCKED
        started = time.perf_counter()
        fetch_reports = fetch_new_editions(default_project_paths().raw_path)
        # Imported after fetching: new snapshots are new tables, and the definitions are read from raw/.
        from pipeline.definitions import defs

        record_fetch_status(instance, fetch_reports)
        plan = plan_update(instance, defs.resolve_asset_graph(), default_project_paths().raw_path)
        print(plan.describe())
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=instance,
            asset_selection=plan.asset_selection,
            raise_on_error=False,
            tags={TRIGGER_TAG: "make_nightly"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        rebuilt = sorted(
            event.asset_key.to_user_string()
            for event in result.all_events
            if event.event_type_value == "ASSET_MATERIALIZATION"
        )
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
                evaluation = event.event_specific_data
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    print(f"warning {evaluation.asset_key.to_user_string()}: {evaluation.description}")
        seconds = time.perf_counter() - started
        print(
            f"run {result.run_id}: {len(rebuilt)} asset(s) materialised in {seconds:.1f} s: {', '.join(rebuilt) or 'none'}"
        )
        if result.success:
            return 0
        print(f"run {result.run_id} FAILED; see `dagster` UI → Runs, or the messages below.", file=sys.stderr)
        for message in failure_messages(result.all_events):
            print(message, file=sys.stderr)
        return 1


@contextmanager
def nightly_lock(folder: Path):
    """An exclusive, non-blocking file lock in DAGSTER_HOME: yields False when another nightly run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE_NAME).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield True


if __name__ == "__main__":
    sys.exit(run_nightly())
