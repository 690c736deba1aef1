"""The connectors' asset check: a WARN when the latest fetch could not reach or read a source."""

from __future__ import annotations

import dagster as dg

from pipeline.connectors.config import load_connectors_config
from pipeline.connectors.fetch import fetch_status_result, read_reports

FETCH_STATUS_CHECK = "connector_fetch_status"


@dg.asset_check(asset="sources", name=FETCH_STATUS_CHECK, blocking=False)
def connector_fetch_status() -> dg.AssetCheckResult:
    """Every enabled source was fetched and read in the latest fetch (warning only: older snapshots stay in use)."""
    return fetch_status_result(read_reports(load_connectors_config()))
