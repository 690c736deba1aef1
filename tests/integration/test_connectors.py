"""Source connectors against a local server on 127.0.0.1 serving made-up answers shaped like the publishers' own."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from pipeline.connectors.__main__ import main as connectors_main
from pipeline.connectors.config import HttpSettings, load_connectors_config
from pipeline.connectors.fetch import fetch_all
from pipeline.core.errors import InputError
from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import load_units, region_name_lookup
from pipeline.core.paths import PROJECT_ROOT
from pipeline.defs.connector_checks import fetch_check_result
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import SIDECAR_FIELDS, load_sidecar, sidecar_paths
from tests.support.connector_server import Route, start_server
from tests.support.paths import FIXTURE_CONNECTORS
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages

NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=8)
NBS_CODES = {
    "A0A0101": "all_disposable_income_per_capita",
    "A0A0201": "urban_disposable_income_per_capita",
    "A0A0301": "rural_disposable_income_per_capita",
}
FAST_HTTP = {"timeout_seconds": 0.3, "retries": 1, "backoff_seconds": 0.01, "pause_seconds": 0}


@pytest.fixture
def publisher():
    """A local publisher server; shut down after the test (handlers are daemon threads with bounded delays)."""
    server, state = start_server()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def nbs_answer(code: str) -> bytes:
    """A made-up QueryData answer for one national indicator code."""
    return (FIXTURE_CONNECTORS / f"nbs_answer_hgnd_{code}.json").read_bytes()


def serve_nbs(publisher, answers: dict[str, bytes] | None = None) -> None:
    """Answer the three national QueryData requests with the made-up fixtures (or the given bodies)."""
    for code in NBS_CODES:
        body = (answers or {}).get(code, nbs_answer(code))
        publisher.routes[f"/easyquery.htm#{code}"] = Route(body=body)


def yearbook_page(encoding: str = "utf-8") -> bytes:
    """The made-up yearbook page, optionally re-encoded (with its meta charset changed to match)."""
    text = (FIXTURE_CONNECTORS / "gz_yearbook_table.htm").read_text(encoding="utf-8")
    if encoding != "utf-8":
        text = text.replace("charset=utf-8", f"charset={encoding}")
    return text.encode(encoding)


def write_config(tmp_path: Path, publisher, sources: dict, http: dict | None = None) -> Path:
    """A connectors.yaml in tmp_path with the given sources pointing at the local server, switched on."""
    blocks = {}
    for key, source in sources.items():
        block = {
            "enabled": True,
            "every_days": 7,
            "title": "MADE-UP test series",
            "publication": "Test publication",
            "publisher": "Test publisher",
            "licence": "Made up for tests",
            "caveats": ["MADE UP for tests."],
            **source,
        }
        block["url"] = publisher.base_url + source["url"]
        blocks[key] = block
    document = {"http": http or FAST_HTTP, "state_file": "state/connector_state.json", "sources": blocks}
    path = tmp_path / "connectors.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def nbs_source(**overrides) -> dict:
    """A national NBS source block."""
    return {
        "connector": "nbs_query",
        "url": "/easyquery.htm",
        "dbcode": "hgnd",
        "region_name": "全国",
        "indicators": dict(NBS_CODES),
        **overrides,
    }


def yearbook_source(**overrides) -> dict:
    """A yearbook table source block reading the income and Engel columns from 2014."""
    return {
        "connector": "guangzhou_yearbook_table",
        "url": "/www_nj/2022/directory/08/html/08-08.htm",
        "edition": "2022",
        "table_number": "8-8",
        "expect_text": "主要年份农村居民人均可支配收入",
        "region": "广州市",
        "columns": [
            {
                "header": ["人均可支配收入", "绝对数"],
                "label": "农村居民人均可支配收入",
                "indicator": "rural_disposable_income_per_capita",
                "unit": "元",
                "first_year": 2014,
            },
            {
                "header": ["恩格尔系数"],
                "label": "农村居民恩格尔系数",
                "indicator": "rural_engel_coefficient",
                "unit": "%",
                "first_year": 2014,
            },
        ],
        **overrides,
    }


def raw_state(raw_dir: Path) -> dict[str, bytes]:
    """Every file under raw/ with its bytes, to show that a failed fetch left it untouched."""
    return {str(path.relative_to(raw_dir)): path.read_bytes() for path in sorted(raw_dir.rglob("*")) if path.is_file()}


def staged(sidecar_path: Path, raw_dir: Path):
    """A snapshot read exactly as ingest reads it."""
    sidecar = load_sidecar(sidecar_path, raw_dir)
    return sidecar, read_source_table(sidecar, raw_dir, region_name_lookup(), load_units(), today=NOW.date())


def test_committed_configuration_keeps_every_connector_off_and_fetch_does_nothing(capsys):
    config = load_connectors_config(PROJECT_ROOT / "connectors.yaml")
    assert {source.connector for source in config.sources} == {
        "nbs_query",
        "guangzhou_yearbook_table",
        "district_economy_article",
    }
    assert config.enabled_sources == []

    assert connectors_main(["fetch", "--config", str(PROJECT_ROOT / "connectors.yaml")]) == 0
    assert "no connectors enabled" in capsys.readouterr().out


def test_a_broken_configuration_names_every_problem(tmp_path):
    path = tmp_path / "connectors.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sources": {
                    "Bad Key": {"connector": "ftp", "title": "t", "publication": "p", "publisher": "x", "licence": "l"},
                    "nbs_on": {
                        "connector": "nbs_query",
                        "enabled": True,
                        "title": "t",
                        "publication": "p",
                        "publisher": "x",
                        "licence": "l",
                        "url": "https://example.invalid/easyquery.htm",
                        "dbcode": "hgnd",
                        "indicators": {},
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as raised:
        load_connectors_config(path)
    rules = {(problem.file.split(" sources.", 1)[-1], problem.rule) for problem in raised.value.problems}
    assert rules == {
        ("Bad Key", "connectors_source_key"),
        ("Bad Key", "connectors_kind"),
        ("nbs_on", "connectors_required_field"),
    }
    assert "indicators" in str(raised.value)


def test_nbs_new_edition_creates_exactly_one_snapshot_with_a_complete_sidecar(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [(report.source, report.status, report.snapshot) for report in reports] == [
        ("cn_nbs_income", "new_snapshot", "cn_nbs_income_20261128")
    ]
    folder = raw_dir / "cn_nbs_income"
    assert sorted(path.name for path in folder.iterdir()) == [
        "cn_nbs_income_20261128.answers.json",
        "cn_nbs_income_20261128.csv",
        "cn_nbs_income_20261128.meta.yaml",
    ]
    sidecar, observations = staged(folder / "cn_nbs_income_20261128.meta.yaml", raw_dir)
    fields = sidecar.fields
    assert all(fields.get(key) not in (None, "") for key in SIDECAR_FIELDS)
    assert fields["sha256"] == sha256_of(folder / "cn_nbs_income_20261128.csv")
    assert (fields["url_kind"], fields["authority"], fields["accessed"]) == ("official", "official", "2026-11-28")
    assert fields["accessed_at"] == "2026-11-28T03:00:00+00:00"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(fields["url"]).query)
    assert (query["m"], query["dbcode"], query["rowcode"], query["colcode"]) == (
        ["QueryData"],
        ["hgnd"],
        ["zb"],
        ["sj"],
    )
    assert "k1" not in query  # the cache-buster is sent but not recorded: the URL stays reproducible
    assert fields["labels"] == {
        "居民人均可支配收入": "all_disposable_income_per_capita",
        "城镇居民人均可支配收入": "urban_disposable_income_per_capita",
        "农村居民人均可支配收入": "rural_disposable_income_per_capita",
    }
    assert any("hasdata=false" in caveat for caveat in fields["caveats"])
    assert fields["original_sha256"] == sha256_of(folder / "cn_nbs_income_20261128.answers.json")

    # Made-up figures: 2025 and 2024 for three indicators; the unpublished 2026 cells are not transcribed.
    values = {(row.indicator_code, row.year): row.value for row in observations.itertuples() if row.region_code == "CN"}
    assert values == {
        ("all_disposable_income_per_capita", 2025): 30000.0,
        ("all_disposable_income_per_capita", 2024): 28000.0,
        ("urban_disposable_income_per_capita", 2025): 40000.0,
        ("urban_disposable_income_per_capita", 2024): 38000.0,
        ("rural_disposable_income_per_capita", 2025): 20000.0,
        ("rural_disposable_income_per_capita", 2024): 19000.0,
    }
    assert len(observations) == 6
    # Polite: one request per indicator, in order, each naming the project.
    assert [request["path"] for request in publisher.requests] == ["/easyquery.htm"] * 3
    assert all("guangzhou-urban-rural-pipeline" in request["user_agent"] for request in publisher.requests)


def test_nbs_same_answer_again_creates_no_snapshot(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [(report.status, report.snapshot) for report in reports] == [("unchanged", "cn_nbs_income_20261128")]
    assert raw_state(raw_dir) == before


def test_nbs_revised_answer_creates_a_second_snapshot_and_keeps_the_first(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)
    revised = nbs_answer("A0A0301").replace(b'"strdata":"20000"', b'"strdata":"20100"')
    assert revised != nbs_answer("A0A0301")
    serve_nbs(publisher, {"A0A0301": revised})

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [(report.status, report.snapshot) for report in reports] == [("new_snapshot", "cn_nbs_income_20261206")]
    after = raw_state(raw_dir)
    assert {name: content for name, content in after.items() if name in before} == before
    assert len(sidecar_paths(raw_dir)) == 2
    _, observations = staged(raw_dir / "cn_nbs_income" / "cn_nbs_income_20261206.meta.yaml", raw_dir)
    revised_value = observations.query("indicator_code == 'rural_disposable_income_per_capita' and year == 2025")
    assert revised_value["value"].tolist() == [20100.0]


def test_two_revisions_on_one_day_get_distinct_ids(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    fetch_all(config, raw_dir, now=NOW)
    serve_nbs(publisher, {"A0A0101": nbs_answer("A0A0101").replace(b'"strdata":"30000"', b'"strdata":"30001"')})

    reports = fetch_all(config, raw_dir, now=NOW, force=True)

    assert [report.snapshot for report in reports] == ["cn_nbs_income_20261128_2"]


def test_nbs_provincial_answer_reads_its_region_from_the_reg_dimension(tmp_path, publisher):
    publisher.routes["/easyquery.htm#X0000001"] = Route(
        body=(FIXTURE_CONNECTORS / "nbs_answer_fsnd_440000.json").read_bytes()
    )
    raw_dir = tmp_path / "raw"
    source = nbs_source(
        dbcode="fsnd", region_code="440000", indicators={"X0000001": "urban_disposable_income_per_capita"}
    )
    config = load_connectors_config(write_config(tmp_path, publisher, {"gd_nbs_income": source}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["new_snapshot"]
    query = urllib.parse.parse_qs(publisher.requests[0]["query"])
    assert json.loads(query["wds"][0]) == [{"wdcode": "reg", "valuecode": "440000"}]
    _, observations = staged(raw_dir / "gd_nbs_income" / "gd_nbs_income_20261128.meta.yaml", raw_dir)
    assert sorted(zip(observations["region_code"], observations["year"], observations["value"], strict=True)) == [
        ("440000", 2024, 48000.0),
        ("440000", 2025, 50000.0),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "gb2312"])
def test_yearbook_page_becomes_one_snapshot_of_the_configured_columns(tmp_path, publisher, encoding):
    content_type = "text/html" if encoding != "utf-8" else "text/html; charset=utf-8"
    publisher.routes["/www_nj/2022/directory/08/html/08-08.htm"] = Route(
        body=yearbook_page(encoding), content_type=content_type
    )
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_t08_08": yearbook_source()}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [(report.status, report.snapshot) for report in reports] == [("new_snapshot", "gz_yearbook_t08_08_20261128")]
    folder = raw_dir / "gz_yearbook_t08_08"
    assert (folder / "gz_yearbook_t08_08_20261128.page.htm").read_bytes() == yearbook_page(encoding)
    sidecar, observations = staged(folder / "gz_yearbook_t08_08_20261128.meta.yaml", raw_dir)
    assert (sidecar.fields["table_number"], sidecar.fields["edition"]) == ("8-8", "2022")
    assert any("2002(旧口径)(Old caliber)" in caveat for caveat in sidecar.fields["caveats"])
    # Made-up figures; 2001 and 2013 are before first_year (the net-income series) and are not read.
    values = {(row.indicator_code, row.year): row.value for row in observations.itertuples()}
    assert values == {
        ("rural_disposable_income_per_capita", 2014): 2800.0,
        ("rural_disposable_income_per_capita", 2015): 3000.0,
        ("rural_disposable_income_per_capita", 2016): 3200.0,
        ("rural_engel_coefficient", 2014): 40.0,
        ("rural_engel_coefficient", 2015): 39.0,
        ("rural_engel_coefficient", 2016): 38.0,
    }
    assert set(observations["region_code"]) == {"440100"}
    assert set(observations["unit"]) == {"yuan", "percent"}


def test_yearbook_same_page_is_unchanged_and_a_revised_figure_is_a_new_snapshot(tmp_path, publisher):
    route = "/www_nj/2022/directory/08/html/08-08.htm"
    publisher.routes[route] = Route(body=yearbook_page(), content_type="text/html; charset=utf-8")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_t08_08": yearbook_source()}))
    fetch_all(config, raw_dir, now=NOW)
    # A page that differs only outside the figures read (here: a comment) is the same snapshot.
    publisher.routes[route] = Route(body=yearbook_page() + b"<!-- visitor 12345 -->", content_type="text/html")
    assert [report.status for report in fetch_all(config, raw_dir, now=LATER)] == ["unchanged"]

    publisher.routes[route] = Route(body=yearbook_page().replace(b"3200.00", b"3210.00"), content_type="text/html")
    reports = fetch_all(config, raw_dir, now=LATER + dt.timedelta(days=8))

    assert [report.status for report in reports] == ["new_snapshot"]
    assert len(sidecar_paths(raw_dir)) == 2


NBS_FAILURES = {
    "http_500": (Route(body=b"internal error", status=500), "HTTP 500", 2),
    "timeout": (Route(body=b"{}", delay_seconds=1.0), "no answer within 0.3 s", 2),
    "not_json": (Route(body=b"<html>portal maintenance</html>"), "not JSON", 1),
    "wrong_returncode": (Route(body=b'{"returncode":501,"returndata":"error"}'), "returncode 501", 1),
    "wrong_structure": (
        Route(body=b'{"returncode":200,"returndata":{"datanodes":[]}}'),
        "unexpected answer structure",
        1,
    ),
    "http_404": (Route(body=b"gone", status=404), "HTTP 404", 1),
}


@pytest.mark.parametrize("failure", list(NBS_FAILURES))
def test_nbs_failure_gives_a_clear_warn_and_leaves_raw_untouched(tmp_path, publisher, failure):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)
    route, phrase, expected_requests = NBS_FAILURES[failure]
    publisher.routes["/easyquery.htm#A0A0101"] = route
    publisher.requests.clear()

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [(report.source, report.status) for report in reports] == [("cn_nbs_income", "warn")]
    assert phrase in reports[0].message
    assert raw_state(raw_dir) == before
    # Retries only for timeouts and 5xx (retries: 1 → two attempts); the run stops at the first failed indicator.
    assert len(publisher.requests) == expected_requests
    check = fetch_check_result(reports[0])
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert phrase in check.description


YEARBOOK_FAILURES = {
    "http_503": (Route(body=b"busy", status=503), "HTTP 503"),
    "no_table": (Route(body="<html><p>主要年份农村居民人均可支配收入</p></html>".encode()), "no HTML table"),
    "other_table": (Route(body=yearbook_page().replace("恩格尔系数".encode(), "其他".encode())), "0 columns"),
    "other_page": (Route(body=yearbook_page().replace("主要年份".encode(), b"")), "does not contain"),
    "bad_figure": (Route(body=yearbook_page().replace(b"3200.00", b"3,2OO")), "does not read"),
}


@pytest.mark.parametrize("failure", list(YEARBOOK_FAILURES))
def test_yearbook_failure_gives_a_clear_warn_and_leaves_raw_untouched(tmp_path, publisher, failure):
    raw_dir = tmp_path / "raw"
    (raw_dir / "gz_yearbook_t08_08").mkdir(parents=True)
    (raw_dir / "gz_yearbook_t08_08" / "earlier.csv").write_text("made-up earlier snapshot\n", encoding="utf-8")
    before = raw_state(raw_dir)
    route, phrase = YEARBOOK_FAILURES[failure]
    publisher.routes["/www_nj/2022/directory/08/html/08-08.htm"] = route
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_t08_08": yearbook_source()}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["warn"]
    assert phrase in reports[0].message
    assert raw_state(raw_dir) == before


def test_an_unreachable_source_does_not_stop_the_others(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    sources = {"down_source": nbs_source(url="/down/easyquery.htm"), "cn_nbs_income": nbs_source()}
    config = load_connectors_config(write_config(tmp_path, publisher, sources))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [(report.source, report.status) for report in reports] == [
        ("down_source", "warn"),
        ("cn_nbs_income", "new_snapshot"),
    ]
    assert "HTTP 404" in reports[0].message


def test_a_closed_port_is_a_warn_after_the_configured_retries(tmp_path):
    raw_dir = tmp_path / "raw"

    class Closed:
        base_url = "http://127.0.0.1:9"  # the discard port: nothing listens there in the test environment

    config = load_connectors_config(write_config(tmp_path, Closed, {"cn_nbs_income": nbs_source()}))
    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["warn"]
    assert "after 2 attempt(s)" in reports[0].message
    assert not raw_dir.exists()


def test_a_source_is_not_fetched_again_before_it_is_due(tmp_path, publisher):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    fetch_all(config, raw_dir, now=NOW)
    publisher.requests.clear()

    reports = fetch_all(config, raw_dir, now=NOW + dt.timedelta(days=1))

    assert [report.status for report in reports] == ["not_due"]
    assert publisher.requests == []
    assert config.state_path == tmp_path / "state" / "connector_state.json"


def test_command_line_fetch_prints_one_line_per_source_and_strict_fails_on_warn(tmp_path, publisher, capsys):
    serve_nbs(publisher)
    raw_dir = tmp_path / "raw"
    sources = {"down_source": nbs_source(url="/down/easyquery.htm"), "cn_nbs_income": nbs_source()}
    config_path = write_config(tmp_path, publisher, sources)

    status = connectors_main(["fetch", "--config", str(config_path), "--raw-dir", str(raw_dir), "--strict"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert [line.split()[:2] for line in lines] == [["WARN", "down_source:"], ["NEW_SNAPSHOT", "cn_nbs_income:"]]
    assert connectors_main(["fetch", "--config", str(config_path), "--source", "no_such_source"]) == 2
    assert "no_such_source" in capsys.readouterr().err


def test_http_settings_default_to_a_polite_client():
    settings = HttpSettings()
    assert settings.timeout_seconds > 0 and 0 < settings.retries <= 3 and settings.backoff_seconds > 0
    assert "guangzhou-urban-rural-pipeline" in settings.user_agent


@pytest.mark.integration
def test_fetched_snapshots_flow_through_the_pipeline_into_the_warehouse(fixture_raw_dir, tmp_path, publisher):
    serve_nbs(publisher)
    publisher.routes["/www_nj/2022/directory/08/html/08-08.htm"] = Route(body=yearbook_page(), content_type="text/html")
    sources = {"cn_nbs_income": nbs_source(), "gz_yearbook_t08_08": yearbook_source()}
    config = load_connectors_config(write_config(tmp_path, publisher, sources))
    assert [report.status for report in fetch_all(config, fixture_raw_dir, now=NOW)] == ["new_snapshot"] * 2
    warehouse_dir = tmp_path / "warehouse"

    result = run_pipeline(fixture_raw_dir, warehouse_dir)

    assert result.success, step_failure_messages(result) or failed_checks(result)
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        counts = connection.execute(
            "select source_id, count(*) from observations where source_id in (?, ?) group by source_id order by 1",
            ["cn_nbs_income_20261128", "gz_yearbook_t08_08_20261128"],
        ).fetchall()
        files = connection.execute(
            "select file from sources where source_id = ?", ["gz_yearbook_t08_08_20261128"]
        ).fetchall()
    assert counts == [("cn_nbs_income_20261128", 6), ("gz_yearbook_t08_08_20261128", 6)]
    assert files == [("gz_yearbook_t08_08/gz_yearbook_t08_08_20261128.csv",)]


@pytest.mark.integration
def test_a_revised_answer_reaches_the_release_changes(fixture_raw_dir, tmp_path, publisher):
    serve_nbs(publisher)
    config = load_connectors_config(write_config(tmp_path, publisher, {"cn_nbs_income": nbs_source()}))
    warehouse_dir = tmp_path / "warehouse"
    fetch_all(config, fixture_raw_dir, now=NOW)
    assert run_pipeline(fixture_raw_dir, warehouse_dir).success
    revised = nbs_answer("A0A0301").replace(b'"strdata":"20000"', b'"strdata":"20100"')
    serve_nbs(publisher, {"A0A0301": revised})
    assert [report.status for report in fetch_all(config, fixture_raw_dir, now=LATER)] == ["new_snapshot"]

    result = run_pipeline(fixture_raw_dir, warehouse_dir)

    assert result.success, step_failure_messages(result) or failed_checks(result)
    changes = (warehouse_dir / "releases" / "latest" / "CHANGES.md").read_text(encoding="utf-8")
    # The revised snapshot's six figures are added observations, and the newer snapshot now drives the indicators:
    # rural 20000 → 20100 moves the made-up 2025 ratio 40000/20000 = 2 to 40000/20100.
    assert "| sources | 3 | 4 | 1 | 0 | 0 |" in changes
    assert "| observations | 20 | 26 | 6 | 0 | 0 |" in changes
    assert (
        "indicator_code=urban_rural_income_ratio, region_code=CN, year=2025, method=derived | value | 2 | 1.99005"
        in changes
    )
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        ratio = connection.execute(
            "select value, source_ids from indicators where indicator_code = ? and region_code = ? and year = ? and method = ?",
            ["urban_rural_income_ratio", "CN", 2025, "derived"],
        ).fetchone()
    assert "cn_nbs_income_20261206" in ratio[1]


@pytest.mark.integration
def test_the_nightly_run_fetches_first_and_a_failing_source_is_only_a_warning(fixture_raw_dir, tmp_path, publisher):
    serve_nbs(publisher)
    publisher.routes["/www_nj/2022/directory/08/html/08-08.htm"] = Route(body=b"internal error", status=500)
    sources = {"cn_nbs_income": nbs_source(), "gz_yearbook_t08_08": yearbook_source()}
    config_path = write_config(tmp_path, publisher, sources)
    warehouse_dir = tmp_path / "warehouse"
    environment = {
        **os.environ,
        "PIPELINE_RAW_DIR": str(fixture_raw_dir),
        "PIPELINE_WAREHOUSE_DIR": str(warehouse_dir),
        "PIPELINE_CONNECTORS_CONFIG": str(config_path),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    (tmp_path / "dagster_home").mkdir()

    finished = subprocess.run(
        [sys.executable, "-m", "pipeline.automation"], env=environment, capture_output=True, text=True, timeout=300
    )

    assert finished.returncode == 0, finished.stderr
    snapshot_id = f"cn_nbs_income_{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert "fetch cn_nbs_income: new_snapshot" in finished.stdout
    assert "warning fetch gz_yearbook_t08_08: warn: source unreachable" in finished.stdout
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        fetched = connection.execute("select count(*) from observations where source_id = ?", [snapshot_id]).fetchone()[
            0
        ]
    # The snapshot fetched at the start of the night is staged and published in the same night.
    assert fetched == 6
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    check_key = dg.AssetCheckKey(dg.AssetKey("sources"), "connector_fetch_status")
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    assert evaluation.status.value == "FAILED"
