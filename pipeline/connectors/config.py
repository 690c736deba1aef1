"""The connectors' configuration file (connectors.yaml): which sources, which tables, how often; all off by default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.paths import PROJECT_ROOT

DEFAULT_CONFIG_PATH = PROJECT_ROOT / "connectors.yaml"
CONFIG_ENVIRONMENT_VARIABLE = "PIPELINE_CONNECTORS_CONFIG"
DEFAULT_STATE_PATH = PROJECT_ROOT / "warehouse" / "connector_state.json"
DEFAULT_USER_AGENT = "guangzhou-urban-rural-pipeline/0.1.0 (open-source statistics pipeline; polite sequential fetcher)"
CONNECTOR_KINDS = {"nbs_query", "guangzhou_yearbook_table"}
SOURCE_KEY_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
REQUIRED_SOURCE_FIELDS = {
    "connector": "nbs_query | guangzhou_yearbook_table",
    "title": "the table or series title as published",
    "publication": "where the figures are published",
    "publisher": "the publishing body",
    "licence": "the terms the figures are reproduced under",
}
NBS_FIELDS = {
    "url": "the query endpoint, https://data.stats.gov.cn/easyquery.htm",
    "dbcode": "hgnd (national annual) or fsnd (provincial annual)",
    "indicators": "a mapping of NBS indicator codes (zb) to indicator codes of indicators.yaml",
}
YEARBOOK_FIELDS = {
    "url": "the table's HTML page",
    "edition": "the yearbook edition, e.g. 2022",
    "table_number": "the table number as printed, e.g. 8-8",
    "region": "the region the table is about, as in regions.csv (e.g. 广州市)",
    "columns": "a list of {header: [texts], label, indicator, unit}",
}


@dataclass(frozen=True)
class HttpSettings:
    """How politely to ask: timeout, retries with exponential backoff, the User-Agent."""

    timeout_seconds: float = 30.0
    retries: int = 2
    backoff_seconds: float = 2.0
    user_agent: str = DEFAULT_USER_AGENT
    pause_seconds: float = 1.0


@dataclass(frozen=True)
class SourceConfig:
    """One configured source: its key (the folder name in raw/), connector kind, and the connector's settings."""

    key: str
    connector: str
    enabled: bool
    every_days: float
    settings: dict = field(repr=False)


@dataclass(frozen=True)
class ConnectorsConfig:
    """The whole configuration: HTTP politeness, where fetch state is kept, and the sources."""

    path: Path
    http: HttpSettings
    state_path: Path
    sources: list[SourceConfig]

    @property
    def enabled_sources(self) -> list[SourceConfig]:
        """The sources switched on; with the committed file this is empty, so CI never touches the network."""
        return [source for source in self.sources if source.enabled]


def config_path_from_environment() -> Path:
    """The configuration file: PIPELINE_CONNECTORS_CONFIG when set, else connectors.yaml at the repository root."""
    return Path(os.environ.get(CONFIG_ENVIRONMENT_VARIABLE, str(DEFAULT_CONFIG_PATH)))


def load_connectors_config(path: Path | None = None) -> ConnectorsConfig:
    """Read and check connectors.yaml; a missing file means no connectors; raise InputError naming every problem."""
    path = path or config_path_from_environment()
    if not path.is_file():
        return ConnectorsConfig(path=path, http=HttpSettings(), state_path=DEFAULT_STATE_PATH, sources=[])
    name = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise InputError([InputProblem(name, "connectors_yaml", f"not readable YAML: {error}")]) from error
    if not isinstance(document, dict):
        raise InputError([InputProblem(name, "connectors_yaml", "the file is not a YAML mapping")])

    http_block = document.get("http") or {}
    http = HttpSettings(
        timeout_seconds=float(http_block.get("timeout_seconds", HttpSettings.timeout_seconds)),
        retries=int(http_block.get("retries", HttpSettings.retries)),
        backoff_seconds=float(http_block.get("backoff_seconds", HttpSettings.backoff_seconds)),
        user_agent=str(http_block.get("user_agent", DEFAULT_USER_AGENT)),
        pause_seconds=float(http_block.get("pause_seconds", HttpSettings.pause_seconds)),
    )
    state_file = document.get("state_file")
    state_path = (path.parent / state_file) if state_file else DEFAULT_STATE_PATH

    problems: list[InputProblem] = []
    if http.timeout_seconds <= 0 or min(http.retries, http.backoff_seconds, http.pause_seconds) < 0:
        problems.append(
            InputProblem(
                name,
                "connectors_http",
                "timeout must be positive; retries, backoff and pause not negative",
                expected="http: {timeout_seconds: 30, retries: 2, backoff_seconds: 2, pause_seconds: 1}",
            )
        )
    sources = []
    for key, settings in (document.get("sources") or {}).items():
        source_problems = source_config_problems(name, str(key), settings)
        problems.extend(source_problems)
        if not source_problems:
            sources.append(
                SourceConfig(
                    key=str(key),
                    connector=settings["connector"],
                    enabled=bool(settings.get("enabled", False)),
                    every_days=float(settings.get("every_days", 1)),
                    settings=settings,
                )
            )
    if problems:
        raise InputError(problems)
    return ConnectorsConfig(path=path, http=http, state_path=state_path, sources=sources)


def source_config_problems(file_name: str, key: str, settings: object) -> list[InputProblem]:
    """Every problem of one source block: its key, required fields, and the fields its connector needs."""
    where = f"{file_name} sources.{key}"
    if not isinstance(settings, dict):
        return [InputProblem(where, "connectors_source", "a source must be a mapping of settings")]
    problems = []
    if not key or not set(key) <= SOURCE_KEY_CHARACTERS:
        problems.append(
            InputProblem(
                where, "connectors_source_key", f"source key {key!r} is not snake_case", expected="e.g. cn_nbs_income"
            )
        )
    required = dict(REQUIRED_SOURCE_FIELDS)
    connector = settings.get("connector")
    if connector not in CONNECTOR_KINDS:
        problems.append(
            InputProblem(
                where,
                "connectors_kind",
                f"unknown connector {connector!r}",
                expected=" | ".join(sorted(CONNECTOR_KINDS)),
            )
        )
    elif settings.get("enabled"):
        # A source switched off may be a placeholder whose query is not yet confirmed; a source switched on may not.
        required |= NBS_FIELDS if connector == "nbs_query" else YEARBOOK_FIELDS
    problems.extend(
        InputProblem(where, "connectors_required_field", f"missing required field {field_name!r}", expected=meaning)
        for field_name, meaning in required.items()
        if settings.get(field_name) in (None, "", [], {})
    )
    if "every_days" in settings and not float(settings["every_days"]) >= 0:
        problems.append(InputProblem(where, "connectors_every_days", "every_days must be zero or more"))
    return problems
