"""The connectors' configuration file (connectors.yaml): which sources, which tables, how often; all off by default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.connectors.figures import STATISTICS_OFFICE, figure_specs
from pipeline.core.errors import InputError, InputProblem
from pipeline.core.paths import PROJECT_ROOT

DEFAULT_CONFIG_PATH = PROJECT_ROOT / "connectors.yaml"
CONFIG_ENVIRONMENT_VARIABLE = "PIPELINE_CONNECTORS_CONFIG"
DEFAULT_STATE_PATH = PROJECT_ROOT / "warehouse" / "connector_state.json"
DEFAULT_USER_AGENT = "guangzhou-urban-rural-pipeline/0.1.0 (open-source statistics pipeline; polite sequential fetcher)"
CONNECTOR_KINDS = {"nbs_query", "guangzhou_yearbook_table", "district_economy_article", "guangzhou_yearbook_zip"}
SOURCE_KEY_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
REQUIRED_SOURCE_FIELDS = {
    "connector": "nbs_query | guangzhou_yearbook_table | district_economy_article | guangzhou_yearbook_zip",
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
DISTRICT_ARTICLE_FIELDS = {
    "url": "the 经济运行情况 article's page on the district statistics bureau's (or district government's) site",
    "edition": "the article's period or release date as printed, e.g. 2024年1-12月 or 2025-01-20",
    "expect_text": "the article's title (or another text it must contain), a check that the URL still holds it",
    "figures": "a list of {indicator, region_code, year, unit, phrase or pattern} (docs/source_connectors.md)",
}
YEARBOOK_ZIP_FIELDS = {
    "url": "the zip attachment's URL",
    "member": "the name of the table's file inside the zip (a .csv or .xlsx), e.g. 02/2-10.csv",
    "edition": "the yearbook edition, e.g. 2020",
    "table_number": "the table number as printed, e.g. 2-10",
    "unit": "the table's printed unit (a key of pipeline/metadata/units.csv)",
    "layout": "how the reader reads the table (kind wide|long and its columns), as in a sidecar",
    "labels": "printed row labels → indicator codes, as in a sidecar",
}
ZIP_LIMIT_NAMES = ("max_members", "max_member_bytes", "max_total_bytes", "max_compression_ratio")
CONNECTOR_FIELDS = {
    "nbs_query": NBS_FIELDS,
    "guangzhou_yearbook_table": YEARBOOK_FIELDS,
    "district_economy_article": DISTRICT_ARTICLE_FIELDS,
    "guangzhou_yearbook_zip": YEARBOOK_ZIP_FIELDS,
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
        required |= CONNECTOR_FIELDS[connector]
    problems.extend(
        InputProblem(where, "connectors_required_field", f"missing required field {field_name!r}", expected=meaning)
        for field_name, meaning in required.items()
        if settings.get(field_name) in (None, "", [], {})
    )
    if "every_days" in settings and not float(settings["every_days"]) >= 0:
        problems.append(InputProblem(where, "connectors_every_days", "every_days must be zero or more"))
    if settings.get("enabled") and not problems:
        problems.extend(connector_settings_problems(where, str(connector), settings))
    return problems


def connector_settings_problems(where: str, connector: str, settings: dict) -> list[InputProblem]:
    """The checks of one connector's own settings beyond their presence (switched-on sources only)."""
    problems = []
    if connector == "district_economy_article":
        if not STATISTICS_OFFICE.search(str(settings["publisher"])):
            problems.append(
                InputProblem(
                    where,
                    "connectors_publisher",
                    f"publisher {settings['publisher']!r} is not a statistics office",
                    expected="the district statistics bureau as it signs the article, e.g. 广州市花都区统计局",
                )
            )
        problems.extend(figure_specs(where, settings["figures"])[1])
    if connector == "guangzhou_yearbook_zip":
        if not str(settings["member"]).lower().endswith((".csv", ".xlsx")):
            problems.append(
                InputProblem(
                    where,
                    "connectors_member",
                    f"member {settings['member']!r} is not a .csv or .xlsx file",
                    expected="a CSV or XLSX member (the reader reads no .xls; save one as .xlsx by hand instead)",
                )
            )
        limits = settings.get("limits") or {}
        unknown = sorted(set(limits) - set(ZIP_LIMIT_NAMES)) if isinstance(limits, dict) else ["(not a mapping)"]
        bad = [name for name in ZIP_LIMIT_NAMES if name in limits and not positive_number(limits[name])]
        if unknown or bad:
            problems.append(
                InputProblem(
                    where,
                    "connectors_zip_limits",
                    f"limits: unknown {unknown}, not a positive number {bad}",
                    expected=f"a mapping of {', '.join(ZIP_LIMIT_NAMES)} to positive numbers",
                )
            )
    return problems


def positive_number(value: object) -> bool:
    """A number above zero (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
