"""Running the configured connectors one after another: snapshots for new figures, a WARN report for each failure."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.connectors.config import ConnectorsConfig, HttpSettings, SourceConfig
from pipeline.connectors.district import DistrictEconomyArticleConnector
from pipeline.connectors.http import FetchError, MalformedResponse
from pipeline.connectors.nbs import NbsQueryConnector
from pipeline.connectors.snapshots import SnapshotRejected, write_snapshot
from pipeline.connectors.yearbook import GuangzhouYearbookConnector
from pipeline.connectors.yearbook_zip import GuangzhouYearbookZipConnector

LOGGER = logging.getLogger("pipeline.connectors")
STATUSES = ("new_snapshot", "unchanged", "not_due", "warn")
REPORT_FILE_NAME = "connector_fetch_report.json"
CONNECTOR_CLASSES = {
    "nbs_query": NbsQueryConnector,
    "guangzhou_yearbook_table": GuangzhouYearbookConnector,
    "district_economy_article": DistrictEconomyArticleConnector,
    "guangzhou_yearbook_zip": GuangzhouYearbookZipConnector,
}


@dataclass(frozen=True)
class FetchReport:
    """What fetching one source did: status new_snapshot | unchanged | not_due | warn, a message, the snapshot id."""

    source: str
    status: str
    message: str
    snapshot: str | None = None
    url: str | None = None

    @property
    def passed(self) -> bool:
        """False only for a WARN: the source could not be fetched or read; its earlier snapshots are still used."""
        return self.status != "warn"

    def as_dict(self) -> dict:
        """The report as a plain dict (for logs, JSON and asset-check metadata)."""
        return asdict(self)


def fetch_all(
    config: ConnectorsConfig,
    raw_dir: Path,
    now: dt.datetime | None = None,
    only: list[str] | None = None,
    force: bool = False,
) -> list[FetchReport]:
    """Fetch every enabled, due source in turn (never in parallel); a failing source gives a WARN and the run goes on."""
    now = now or dt.datetime.now(dt.UTC)
    state = read_state(config.state_path)
    reports = []
    for source in config.enabled_sources:
        if only and source.key not in only:
            continue
        last_checked = state.get(source.key)
        if (
            not force
            and last_checked
            and now - dt.datetime.fromisoformat(last_checked) < dt.timedelta(days=source.every_days)
        ):
            reports.append(
                FetchReport(source.key, "not_due", f"checked at {last_checked}; due every {source.every_days:g} day(s)")
            )
            continue
        report = fetch_source(source, config.http, raw_dir, now)
        reports.append(report)
        log_report(report)
        if report.passed:
            state[source.key] = now.isoformat(timespec="seconds")
    write_state(config.state_path, state)
    write_reports(report_path(config), reports, now)
    return reports


def fetch_source(source: SourceConfig, http: HttpSettings, raw_dir: Path, now: dt.datetime) -> FetchReport:
    """Fetch one source and store a snapshot if its figures are new; every failure becomes a WARN report."""
    url = str(source.settings.get("url", ""))
    connector = CONNECTOR_CLASSES[source.connector](source, http, now)
    try:
        snapshot = connector.fetch_snapshot()
        outcome = write_snapshot(raw_dir, source.key, snapshot, now, source.connector)
    except FetchError as error:
        return FetchReport(source.key, "warn", f"source unreachable, kept the existing snapshots: {error}", url=url)
    except MalformedResponse as error:
        return FetchReport(source.key, "warn", f"answer not in the expected format, nothing stored: {error}", url=url)
    except SnapshotRejected as error:
        return FetchReport(source.key, "warn", f"fetched table rejected, nothing stored: {error}", url=url)
    except Exception as error:  # noqa: BLE001 - one broken source must not stop the others
        return FetchReport(source.key, "warn", f"unexpected {type(error).__name__}: {error}", url=url)
    if outcome.status == "unchanged":
        return FetchReport(
            source.key, "unchanged", f"same figures as snapshot {outcome.source_id}", outcome.source_id, url
        )
    return FetchReport(source.key, "new_snapshot", f"stored raw/{source.key}/{outcome.file}", outcome.source_id, url)


def report_path(config: ConnectorsConfig) -> Path:
    """Where the latest fetch's reports are kept: beside the fetch state."""
    return config.state_path.with_name(REPORT_FILE_NAME)


def write_reports(path: Path, reports: list[FetchReport], now: dt.datetime) -> None:
    """Keep the latest fetch's reports (atomically), for the connector_fetch_status check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    document = {"fetched_at": now.isoformat(timespec="seconds"), "reports": [report.as_dict() for report in reports]}
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_reports(config: ConnectorsConfig) -> list[dict]:
    """The latest fetch's reports; empty when nothing was ever fetched."""
    try:
        document = json.loads(report_path(config).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return list(document.get("reports", [])) if isinstance(document, dict) else []


def log_report(report: FetchReport) -> None:
    """Log a report: WARN for failures, INFO otherwise."""
    level = logging.WARNING if report.status == "warn" else logging.INFO
    LOGGER.log(level, "%s: %s: %s", report.source, report.status.upper(), report.message)


def read_state(path: Path) -> dict[str, str]:
    """When each source was last fetched successfully (source → ISO timestamp); empty when there is no state yet."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(key): str(value) for key, value in state.items()} if isinstance(state, dict) else {}


def write_state(path: Path, state: dict[str, str]) -> None:
    """Write the fetch state atomically (temporary file, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)
