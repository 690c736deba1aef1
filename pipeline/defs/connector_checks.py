"""The connectors' fetch status as a (non-blocking) asset check on `sources`."""

from __future__ import annotations

import dagster as dg

from pipeline.connectors.config import load_connectors_config
from pipeline.connectors.fetch import FetchReport, read_reports

FETCH_STATUS_CHECK = "connector_fetch_status"


@dg.asset_check(asset="sources", name=FETCH_STATUS_CHECK, blocking=False)
def connector_fetch_status() -> dg.AssetCheckResult:
    """Every enabled source was fetched and read in the latest fetch (warning only: older snapshots stay in use)."""
    return fetch_status_result(read_reports(load_connectors_config()))


def fetch_check_result(report: FetchReport, asset_key=None, check_name: str | None = None) -> dg.AssetCheckResult:
    """A Dagster asset-check result for one source's fetch: WARN severity, so a source being down never blocks a run."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=report.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{report.source}: {report.status}: {report.message}",
        metadata={key: value for key, value in report.as_dict().items() if value is not None},
    )


def fetch_status_result(reports: list[dict]) -> dg.AssetCheckResult:
    """One WARN-severity check result for the latest fetch: failed when any source could not be fetched or read."""
    warned = [report for report in reports if report.get("status") == "warn"]
    description = "\n".join(f"{report['source']}: {report['message']}" for report in warned)
    return dg.AssetCheckResult(
        passed=not warned,
        severity=dg.AssetCheckSeverity.WARN,
        description=description or f"{len(reports)} source(s) fetched without warnings",
        metadata={"reports": dg.MetadataValue.json(reports), "warnings": len(warned)},
    )
