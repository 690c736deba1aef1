"""The nightly run without the daemon (cron, systemd): fetch, plan, rebuild what is out of date."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dagster as dg

from pipeline.core.errors import InputError
from pipeline.core.locks import BUSY_EXIT_CODE, nightly_lock
from pipeline.definitions import build_definitions
from pipeline.defs.automation import TRIGGER_TAG, plan_update
from pipeline.defs.event_log import pool_event_log_connections
from pipeline.defs.resources import default_project_paths
from pipeline.operate.runs import announce_dead_runs, execute_job, reported_failure


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
    from pipeline.defs.connector_checks import FETCH_STATUS_CHECK, fetch_status_result

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
    instance = dg.DagsterInstance.get()
    pool_event_log_connections(instance)  # the plan's reads too, not only the run (pipeline.defs.event_log)
    with nightly_lock(Path(instance.root_directory)) as locked:
        if not locked:
            print("another nightly run is in progress (lock held); nothing done", file=sys.stderr)
            return BUSY_EXIT_CODE
        started = time.perf_counter()
        announce_dead_runs(instance)
        project_paths = default_project_paths()
        fetch_reports = fetch_new_editions(project_paths.raw_path)
        # Built after fetching: new snapshots are new tables, and the definitions are read from raw/.
        definitions = build_definitions(project_paths)
        record_fetch_status(instance, fetch_reports)
        plan = plan_update(
            instance, definitions.resolve_asset_graph(), project_paths.raw_path, project_paths.metadata_path
        )
        print(plan.describe())
        result = execute_job(
            definitions,
            instance,
            log_level="WARNING",
            asset_selection=plan.asset_selection,
            asset_check_keys=plan.checks,
            tags={TRIGGER_TAG: "make_nightly"},
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
        return reported_failure(result, "see `dagster` UI → Runs, or the messages below.")
