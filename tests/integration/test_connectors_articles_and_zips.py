"""The district 经济运行情况 article and yearbook zip connectors against a local server on 127.0.0.1 (made-up copies)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import stat
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
import yaml

from pipeline.connectors.archives import ArchiveRefused
from pipeline.connectors.config import HttpSettings, load_connectors_config
from pipeline.connectors.district import DistrictEconomyArticleConnector
from pipeline.connectors.fetch import fetch_all
from pipeline.connectors.http import MalformedResponse
from pipeline.connectors.yearbook_zip import GuangzhouYearbookZipConnector
from pipeline.core.errors import InputError
from pipeline.core.hashing import sha256_of
from pipeline.core.metadata import load_units, region_name_lookup
from pipeline.core.paths import PROJECT_ROOT
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import SIDECAR_FIELDS, load_sidecar, sidecar_paths
from tests.support.connector_server import Route, start_server
from tests.support.paths import FIXTURE_CONNECTORS
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages

NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=40)
# No test here is about timeouts: a generous timeout keeps the tests steady on a loaded machine.
FAST_HTTP = {"timeout_seconds": 10, "retries": 0, "backoff_seconds": 0.01, "pause_seconds": 0}
ARTICLE_PATH = "/xxgk/tjxx/jjyxqk/content/post_made_up.html"
ZIP_PATH = "/attachment/made_up/2020_chapter_02.zip"
MEMBER = "02/2-10.csv"
HUADU = "440114"


@pytest.fixture
def publisher():
    """A local publisher server; shut down after the test."""
    server, state = start_server()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def article_page(encoding: str = "utf-8") -> bytes:
    """The made-up article, optionally re-encoded (with its meta charset changed to match)."""
    text = (FIXTURE_CONNECTORS / "district_economy_article.htm").read_text(encoding="utf-8")
    if encoding != "utf-8":
        text = text.replace("charset=utf-8", f"charset={encoding}")
    return text.encode(encoding)


def article_figures() -> list[dict]:
    """Five figures of the made-up article: two levels, one published growth rate each, and a decline."""
    return [
        {"indicator": "gdp", "region_code": HUADU, "year": 2024, "unit": "亿元", "phrase": "地区生产总值{value}亿元"},
        {
            "indicator": "industrial_output_above_designated_size",
            "region_code": HUADU,
            "year": 2024,
            "unit": "亿元",
            "phrase": "规模以上工业总产值{value}亿元",
        },
        {
            "indicator": "industrial_output_above_designated_size_growth_published",
            "label": "规模以上工业总产值同比增长",
            "region_code": HUADU,
            "year": 2024,
            "unit": "%",
            "phrase": "规模以上工业总产值…亿元，同比{direction}{value}%",
        },
        {
            "indicator": "industrial_value_added_above_designated_size",
            "region_code": HUADU,
            "year": 2024,
            "unit": "亿元",
            "phrase": "规模以上工业增加值{value}亿元",
        },
        {
            "indicator": "industrial_value_added_above_designated_size_growth_published",
            "label": "规模以上工业增加值同比增长",
            "region_code": HUADU,
            "year": 2024,
            "unit": "%",
            "pattern": r"规模以上工业增加值[\d.]+亿元,同比(?P<direction>增长|下降)(?P<value>\d+(?:\.\d+)?)%",
        },
    ]


def article_source(**overrides) -> dict:
    """A district article source block (made up)."""
    return {
        "connector": "district_economy_article",
        "url": ARTICLE_PATH,
        "publisher": "广州市花都区统计局",
        "edition": "2024年1-12月 (发布日期 2025-01-20)",
        "expect_text": "2024年花都区1-12月经济运行情况",
        "figures": article_figures(),
        **overrides,
    }


def zip_source(**overrides) -> dict:
    """A yearbook zip source block taking one wide table (districts × years) of a single indicator."""
    return {
        "connector": "guangzhou_yearbook_zip",
        "url": ZIP_PATH,
        "member": MEMBER,
        "edition": "2020",
        "table_number": "2-10",
        "unit": "%",
        "layout": {"kind": "wide", "region_column": "地区", "label": "常住人口城镇人口比重"},
        "labels": {"常住人口城镇人口比重": "urbanisation_rate"},
        **overrides,
    }


def write_config(tmp_path: Path, publisher, sources: dict) -> Path:
    """A connectors.yaml in tmp_path with the given sources pointing at the local server, switched on."""
    blocks = {}
    for key, source in sources.items():
        blocks[key] = {
            "enabled": True,
            "every_days": 7,
            "title": "MADE-UP test table",
            "publication": "Test publication",
            "publisher": "Test publisher",
            "licence": "Made up for tests",
            "caveats": ["MADE UP for tests."],
            **source,
            "url": publisher.base_url + source["url"],
        }
    document = {"http": FAST_HTTP, "state_file": "state/connector_state.json", "sources": blocks}
    path = tmp_path / "connectors.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def member_csv(encoding: str = "utf-8") -> bytes:
    """The made-up yearbook table as the zip holds it."""
    return (FIXTURE_CONNECTORS / "gz_yearbook_zip_member.csv").read_text(encoding="utf-8").encode(encoding)


def member_xlsx() -> bytes:
    """The same made-up table as an XLSX workbook of one sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "2-10"
    for number, row in enumerate(csv.reader(io.StringIO(member_csv().decode("utf-8")))):
        sheet.append([cell if number == 0 or index == 0 else float(cell) for index, cell in enumerate(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of the given members (name → bytes), the same bytes every time (fixed member dates)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return buffer.getvalue()


def yearbook_zip(**extra: bytes) -> bytes:
    """A made-up chapter attachment: a readme, the wanted table and another table."""
    return zip_of({"02/说明.txt": b"MADE UP", MEMBER: member_csv(), "02/2-11.csv": b"a,b\n1,2\n", **extra})


def raw_state(raw_dir: Path) -> dict[str, bytes]:
    """Every file under raw/ with its bytes."""
    return {str(path.relative_to(raw_dir)): path.read_bytes() for path in sorted(raw_dir.rglob("*")) if path.is_file()}


def staged(sidecar_path: Path, raw_dir: Path):
    """A snapshot read exactly as ingest reads it (the reader's own entry point)."""
    sidecar = load_sidecar(sidecar_path, raw_dir)
    return sidecar, read_source_table(sidecar, raw_dir, region_name_lookup(), load_units(), today=NOW.date())


def values_of(observations) -> dict[tuple[str, str, int], float]:
    """(indicator, region, year) → value of staged observations."""
    return {(row.indicator_code, row.region_code, row.year): row.value for row in observations.itertuples()}


# --- off by default -----------------------------------------------------------------------------------------------


def test_the_new_connectors_are_off_unless_switched_on(tmp_path, publisher):
    committed = load_connectors_config(PROJECT_ROOT / "connectors.yaml")
    assert not [source for source in committed.enabled_sources if source.connector.endswith(("article", "zip"))]
    source = {key: value for key, value in article_source().items() if key != "enabled"}
    path = write_config(tmp_path, publisher, {"huadu_article": source, "gz_zip": zip_source()})
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for block in document["sources"].values():
        del block["enabled"]
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    config = load_connectors_config(path)

    assert {source.connector for source in config.sources} == {"district_economy_article", "guangzhou_yearbook_zip"}
    assert config.enabled_sources == []
    assert fetch_all(config, tmp_path / "raw", now=NOW) == []
    assert publisher.requests == []


# MADE UP: a page in the shape of the 2022 annual article the committed (switched-off) block points at, with the same
# sentence patterns and invented figures, to show that the committed phrases read such a page.
COMMITTED_ARTICLE_SHAPE = """<html><head><meta charset="utf-8"><title>made up</title></head><body>
<div>您现在的位置: 首页 > 信息公开 > 统计信息 > 经济运行情况</div>
<h2>2022年花都区1-12月经济运行情况简要说明</h2>
<div>发布日期：2099-01-01　文章来源：测试（虚构）</div>
<p>　　根据统一核算结果，2022年我区地区生产总值为100.00亿元，同比下降1.0%。其中，第一产业增加值为10.00亿元，同比增长1.0%；
第二产业增加值为40.00亿元，同比下降1.0%；第三产业增加值为50.00亿元，同比增长1.0%。</p>
<p>　　一、工业生产</p>
<p>　　1-12月，全区规模以上工业总产值200.00亿元，同比下降2.0%。其中，某产业产值20.00亿元，同比下降3.0%。
镇（街）规模以上工业累计产值90.00亿元，同比增长4.0%。</p>
</body></html>"""


def test_the_committed_article_block_switched_on_reads_a_page_of_its_shape(tmp_path, publisher):
    document = yaml.safe_load((PROJECT_ROOT / "connectors.yaml").read_text(encoding="utf-8"))
    block = document["sources"]["gz_huadu_economy_2022_article"]
    assert block["enabled"] is False
    publisher.routes[ARTICLE_PATH] = Route(body=COMMITTED_ARTICLE_SHAPE.encode("utf-8"), content_type="text/html")
    source = {**block, "enabled": True, "url": ARTICLE_PATH}  # switched on in a copy, pointed at the local server
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_huadu_economy_2022_article": source}))
    raw_dir = tmp_path / "raw"

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["new_snapshot"], reports[0].message
    sidecar, observations = staged(
        raw_dir / "gz_huadu_economy_2022_article" / f"{reports[0].snapshot}.meta.yaml", raw_dir
    )
    assert sidecar.fields["publisher"] == "广州市花都区统计局"
    assert values_of(observations) == {  # the made-up figures of the page above
        ("gdp", HUADU, 2022): 100e8,
        ("gdp_primary_industry", HUADU, 2022): 10e8,
        ("gdp_secondary_industry", HUADU, 2022): 40e8,
        ("gdp_tertiary_industry", HUADU, 2022): 50e8,
        ("industrial_output_above_designated_size", HUADU, 2022): 200e8,
        ("industrial_output_above_designated_size_growth_published", HUADU, 2022): -2.0,
    }


# --- district 经济运行情况 articles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "gb2312"])
def test_article_figures_become_one_snapshot_with_their_verbatim_sentences(tmp_path, publisher, encoding):
    publisher.routes[ARTICLE_PATH] = Route(body=article_page(encoding), content_type="text/html")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"huadu_economy_2024": article_source()}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [(report.status, report.snapshot) for report in reports] == [
        ("new_snapshot", "huadu_economy_2024_20261128")
    ], [report.message for report in reports]
    folder = raw_dir / "huadu_economy_2024"
    assert sorted(path.name for path in folder.iterdir()) == [
        "huadu_economy_2024_20261128.csv",
        "huadu_economy_2024_20261128.meta.yaml",
        "huadu_economy_2024_20261128.page.htm",
    ]
    assert (folder / "huadu_economy_2024_20261128.page.htm").read_bytes() == article_page(encoding)
    sidecar, observations = staged(folder / "huadu_economy_2024_20261128.meta.yaml", raw_dir)
    fields = sidecar.fields
    assert all(fields.get(key) not in (None, "") for key in SIDECAR_FIELDS)
    assert (fields["publisher"], fields["url_kind"], fields["authority"]) == (
        "广州市花都区统计局",
        "official",
        "official",
    )
    assert fields["table_number"] == "article text"
    assert fields["sha256"] == sha256_of(folder / "huadu_economy_2024_20261128.csv")
    assert fields["original_sha256"] == sha256_of(folder / "huadu_economy_2024_20261128.page.htm")
    assert any("an official statistics office" in caveat for caveat in fields["caveats"])
    # Made-up figures, as printed: full-width digits read, thousands comma dropped, 下降1.2% kept as -1.2.
    assert values_of(observations) == {
        ("gdp", HUADU, 2024): 1000.5e8,
        ("industrial_output_above_designated_size", HUADU, 2024): 2000e8,
        ("industrial_output_above_designated_size_growth_published", HUADU, 2024): 5.0,
        ("industrial_value_added_above_designated_size", HUADU, 2024): 400e8,
        ("industrial_value_added_above_designated_size_growth_published", HUADU, 2024): -1.2,
    }
    with (folder / "huadu_economy_2024_20261128.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["指标"]: row for row in csv.DictReader(handle)}
    assert rows["规模以上工业总产值同比增长"]["数值"] == "5.0"
    assert rows["规模以上工业增加值同比增长"]["数值"] == "-1.2"
    # Each figure keeps the sentence it came from (the page's text after NFKC: full-width ，；％ as ,;%).
    excerpt = rows["规模以上工业总产值"]["原文"]
    assert excerpt == "全区规模以上工业总产值2,000.00亿元,同比增长5.0%;规模以上工业增加值400.00亿元,同比下降1.2%。"
    assert {row["原文"] for label, row in rows.items() if label != "地区生产总值"} == {excerpt}
    assert rows["地区生产总值"]["原文"] == "初步核算,全区实现地区生产总值1000.50亿元,同比增长3.0%。"
    assert [caveat for caveat in fields["caveats"] if caveat.startswith("Verbatim")] == [
        "Verbatim (地区生产总值 2024): '初步核算,全区实现地区生产总值1000.50亿元,同比增长3.0%。'",
        "Verbatim (规模以上工业总产值 2024, 规模以上工业总产值同比增长 2024, 规模以上工业增加值 2024, 规模以上工业增加值同比增长 2024): "
        f"'{excerpt}'",
    ]


def test_the_same_article_again_creates_no_snapshot(tmp_path, publisher):
    publisher.routes[ARTICLE_PATH] = Route(body=article_page(), content_type="text/html")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"huadu_economy_2024": article_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)
    # A page that differs only outside the figures' sentences (a visitor counter) is the same snapshot.
    publisher.routes[ARTICLE_PATH] = Route(
        body=article_page() + "<p>访问量 12345</p>".encode(), content_type="text/html"
    )

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [(report.status, report.snapshot) for report in reports] == [("unchanged", "huadu_economy_2024_20261128")]
    assert raw_state(raw_dir) == before


def test_a_revised_article_figure_is_a_second_snapshot_and_keeps_the_first(tmp_path, publisher):
    publisher.routes[ARTICLE_PATH] = Route(body=article_page(), content_type="text/html")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"huadu_economy_2024": article_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)
    publisher.routes[ARTICLE_PATH] = Route(body=article_page().replace(b"400.00", b"401.00"), content_type="text/html")

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [report.status for report in reports] == ["new_snapshot"]
    assert {name: content for name, content in raw_state(raw_dir).items() if name in before} == before
    assert len(sidecar_paths(raw_dir)) == 2


def test_a_changed_article_raises_malformed_response_naming_the_url_and_the_phrase(tmp_path, publisher):
    changed = article_page().replace("规模以上工业增加值".encode(), "规上工业增加值".encode())
    publisher.routes[ARTICLE_PATH] = Route(body=changed, content_type="text/html")
    config = load_connectors_config(write_config(tmp_path, publisher, {"huadu_economy_2024": article_source()}))
    source = config.enabled_sources[0]

    with pytest.raises(MalformedResponse) as raised:
        DistrictEconomyArticleConnector(source, HttpSettings(timeout_seconds=10, retries=0), NOW).fetch_snapshot()

    message = str(raised.value)
    assert source.settings["url"] in message
    assert "'规模以上工业增加值{value}亿元'" in message and "no longer holds" in message


ARTICLE_FAILURES = {
    "phrase_missing": (
        article_page().replace("规模以上工业总产值".encode(), "规上工业产值".encode()),
        {},
        "no longer holds",
    ),
    "other_article": (article_page().replace("1-12月".encode(), "1-6月".encode()), {}, "does not contain"),
    # The phrase stops at the figure; the configured unit must still be printed right after it.
    "unit_changed": (
        article_page().replace("400.00亿元".encode(), "4000000万元".encode()),
        {"figures": [{**article_figures()[3], "phrase": "规模以上工业增加值{value}"}]},
        "with the unit '亿元'",
    ),
    "two_figures": (
        article_page().replace("。其中".encode(), "；规模以上工业增加值410.00亿元。其中".encode()),
        {},
        "finds 2 different figures",
    ),
    # A phrase that skips the verb would read 下降1.2% as +1.2: refused, never stored with the wrong sign.
    "decline_not_read": (
        article_page(),
        {"figures": [{**article_figures()[4], "pattern": None, "phrase": "规模以上工业增加值…亿元…{value}%"}]},
        "prints '下降' before the figure",
    ),
    "http_404": (None, {}, "HTTP 404"),
}


@pytest.mark.parametrize("failure", list(ARTICLE_FAILURES))
def test_an_article_failure_is_a_warn_and_leaves_raw_untouched(tmp_path, publisher, failure):
    body, overrides, phrase = ARTICLE_FAILURES[failure]
    if body is not None:
        publisher.routes[ARTICLE_PATH] = Route(body=body, content_type="text/html")
    raw_dir = tmp_path / "raw"
    (raw_dir / "huadu_economy_2024").mkdir(parents=True)
    (raw_dir / "huadu_economy_2024" / "earlier.csv").write_text("made-up earlier snapshot\n", encoding="utf-8")
    before = raw_state(raw_dir)
    config = load_connectors_config(
        write_config(tmp_path, publisher, {"huadu_economy_2024": article_source(**overrides)})
    )

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["warn"]
    assert phrase in reports[0].message
    assert publisher.base_url + ARTICLE_PATH in reports[0].message
    assert raw_state(raw_dir) == before


def test_an_article_configuration_is_checked_when_loaded(tmp_path, publisher):
    figures = article_figures()
    figures[0] = {**figures[0], "indicator": "no_such_indicator"}
    figures[1] = {**figures[1], "phrase": "规模以上工业总产值亿元"}
    figures[2] = {**figures[2], "region_code": "999999", "unit": "percent"}
    figures[3] = {key: value for key, value in figures[3].items() if key != "year"}
    figures[4] = {**figures[4], "indicator": "industrial_value_added_growth"}  # derived: computed from levels
    figures.append({**article_figures()[0], "indicator": "gdp", "unit": "%", "year": 2023})
    source = article_source(publisher="花都区人民政府", figures=figures)

    with pytest.raises(InputError) as raised:
        load_connectors_config(write_config(tmp_path, publisher, {"huadu_economy_2024": source}))

    rules = sorted(problem.rule for problem in raised.value.problems)
    assert rules == [
        "connectors_indicator",
        "connectors_indicator",
        "connectors_phrase",
        "connectors_publisher",
        "connectors_region",
        "connectors_required_field",
        "connectors_unit",
        "connectors_unit",
    ]
    message = str(raised.value)
    assert "figures[4]" in message and "'year'" in message
    assert "'industrial_value_added_growth' is computed by the pipeline" in message
    assert "unit '%' (percent) is not the unit of 'gdp' (yuan)" in message


# --- Guangzhou yearbook zip attachments ---------------------------------------------------------------------------


def test_a_zip_member_becomes_a_snapshot_that_the_reader_reads(tmp_path, publisher):
    publisher.routes[ZIP_PATH] = Route(body=yearbook_zip(), content_type="application/zip")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": zip_source()}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [(report.status, report.snapshot) for report in reports] == [
        ("new_snapshot", "gz_yearbook_2020_t2_10_20261128")
    ], [report.message for report in reports]
    assert reports[0].message == "stored raw/gz_yearbook_2020_t2_10/gz_yearbook_2020_t2_10_20261128.csv"
    folder = raw_dir / "gz_yearbook_2020_t2_10"
    assert sorted(path.name for path in folder.iterdir()) == [
        "gz_yearbook_2020_t2_10_20261128.csv",
        "gz_yearbook_2020_t2_10_20261128.meta.yaml",
    ]
    assert (folder / "gz_yearbook_2020_t2_10_20261128.csv").read_bytes() == member_csv()  # byte for byte
    sidecar, observations = staged(folder / "gz_yearbook_2020_t2_10_20261128.meta.yaml", raw_dir)
    fields = sidecar.fields
    assert all(fields.get(key) not in (None, "") for key in SIDECAR_FIELDS)
    assert fields["url"] == publisher.base_url + ZIP_PATH
    assert (fields["table_number"], fields["edition"], fields["encoding"]) == ("2-10", "2020", "utf-8")
    assert fields["sha256"] == hashlib.sha256(member_csv()).hexdigest()
    assert f"member '{MEMBER}'" in fields["retrieved_via"]
    assert hashlib.sha256(yearbook_zip()).hexdigest() in fields["retrieved_via"]
    assert "original_file" not in fields
    # Made-up figures.
    values = values_of(observations)
    assert len(values) == 9
    assert values[("urbanisation_rate", "440100", 2017)] == 80.0
    assert values[("urbanisation_rate", HUADU, 2019)] == 72.0
    assert values[("urbanisation_rate", "440117", 2018)] == 41.0


def test_an_xlsx_member_is_kept_as_xlsx_and_reads(tmp_path, publisher):
    workbook = member_xlsx()
    publisher.routes[ZIP_PATH] = Route(body=zip_of({"02/2-10.xlsx": workbook}), content_type="application/zip")
    raw_dir = tmp_path / "raw"
    source = zip_source(member="02/2-10.xlsx")
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": source}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["new_snapshot"], reports[0].message
    path = raw_dir / "gz_yearbook_2020_t2_10" / "gz_yearbook_2020_t2_10_20261128.xlsx"
    assert path.read_bytes() == workbook
    sidecar, observations = staged(path.with_suffix(".meta.yaml"), raw_dir)
    assert "encoding" not in sidecar.fields
    assert values_of(observations)[("urbanisation_rate", HUADU, 2019)] == 72.0


def test_a_gbk_member_name_without_the_utf8_flag_and_a_gbk_table_are_read(tmp_path, publisher):
    # Zips made on Chinese Windows store GBK names without the UTF-8 flag: pack under an ASCII name of the same
    # length, then put the GBK bytes in its place (local header and central directory).
    wanted = "02/表2-10.csv"
    placeholder = "02/XX2-10.csv"
    assert len(wanted.encode("gbk")) == len(placeholder)
    archive = zip_of({placeholder: member_csv("gbk")}).replace(placeholder.encode(), wanted.encode("gbk"))
    publisher.routes[ZIP_PATH] = Route(body=archive, content_type="application/zip")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_t2_10": zip_source(member=wanted)}))

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["new_snapshot"], reports[0].message
    sidecar, observations = staged(raw_dir / "gz_t2_10" / "gz_t2_10_20261128.meta.yaml", raw_dir)
    assert sidecar.fields["encoding"] == "gb18030"  # declared from the bytes, so the reader need not guess
    assert f"member '{wanted}'" in sidecar.fields["retrieved_via"]
    assert values_of(observations)[("urbanisation_rate", HUADU, 2018)] == 71.0


def test_the_same_member_in_a_repacked_zip_creates_no_snapshot(tmp_path, publisher):
    publisher.routes[ZIP_PATH] = Route(body=yearbook_zip(), content_type="application/zip")
    raw_dir = tmp_path / "raw"
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": zip_source()}))
    fetch_all(config, raw_dir, now=NOW)
    before = raw_state(raw_dir)
    repacked = zip_of({MEMBER: member_csv(), "02/2-12.csv": b"x\n"}, compression=zipfile.ZIP_STORED)
    assert repacked != yearbook_zip()
    publisher.routes[ZIP_PATH] = Route(body=repacked, content_type="application/zip")

    reports = fetch_all(config, raw_dir, now=LATER)

    assert [(report.status, report.snapshot) for report in reports] == [
        ("unchanged", "gz_yearbook_2020_t2_10_20261128")
    ]
    assert raw_state(raw_dir) == before
    # A revised figure in the member is a new snapshot beside the first.
    revised = zip_of({MEMBER: member_csv().replace(b"72.00", b"72.50")})
    publisher.routes[ZIP_PATH] = Route(body=revised, content_type="application/zip")
    assert [report.status for report in fetch_all(config, raw_dir, now=LATER + dt.timedelta(days=8))] == [
        "new_snapshot"
    ]
    assert {name: content for name, content in raw_state(raw_dir).items() if name in before} == before


def symlink_zip() -> bytes:
    """The wanted table plus a member that is a symbolic link (Unix mode bits in external_attr)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(MEMBER, member_csv())
        link = zipfile.ZipInfo("02/link.csv")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


ZIP_REFUSALS = {
    # A bomb: 5 MB of zeros in a few kilobytes (ratio about 1000, the limit is 100).
    "high_ratio": (
        lambda: yearbook_zip(**{"02/bomb.csv": bytes(5_000_000)}),
        {},
        "02/bomb.csv",
        "zip_compression_ratio",
    ),
    "member_too_large": (yearbook_zip, {"limits": {"max_member_bytes": 60}}, MEMBER, "zip_member_size"),
    "total_too_large": (yearbook_zip, {"limits": {"max_total_bytes": 112}}, "02/2-11.csv", "zip_total_size"),
    "parent_reference": (lambda: yearbook_zip(**{"../x.csv": b"a\n"}), {}, "../x.csv", "zip_parent_reference"),
    "nested_parent_reference": (
        lambda: yearbook_zip(**{"02/../../x.csv": b"a\n"}),
        {},
        "02/../../x.csv",
        "zip_parent_reference",
    ),
    "absolute_path": (lambda: yearbook_zip(**{"/etc/x.csv": b"a\n"}), {}, "/etc/x.csv", "zip_absolute_path"),
    "drive_letter": (lambda: yearbook_zip(**{"C:/x.csv": b"a\n"}), {}, "C:/x.csv", "zip_drive_letter"),
    "symlink": (symlink_zip, {}, "02/link.csv", "zip_symlink"),
    "too_many_members": (
        lambda: zip_of({MEMBER: member_csv(), **{f"02/{number}.csv": b"" for number in range(2000)}}),
        {},
        MEMBER,
        "zip_member_count",
    ),
    "member_missing": (lambda: zip_of({"02/2-11.csv": b"a\n"}), {}, MEMBER, "zip_member_missing"),
    "member_twice": (
        lambda: zip_of({MEMBER: member_csv(), "02\\2-10.csv": member_csv()}),
        {},
        MEMBER,
        "zip_member_twice",
    ),
}


@pytest.mark.parametrize("refusal", list(ZIP_REFUSALS))
def test_an_unsafe_zip_is_refused_naming_url_member_and_rule(tmp_path, publisher, refusal):
    make_archive, overrides, member, rule = ZIP_REFUSALS[refusal]
    publisher.routes[ZIP_PATH] = Route(body=make_archive(), content_type="application/zip")
    raw_dir = tmp_path / "raw"
    (raw_dir / "gz_yearbook_2020_t2_10").mkdir(parents=True)
    (raw_dir / "gz_yearbook_2020_t2_10" / "earlier.csv").write_text("made-up earlier snapshot\n", encoding="utf-8")
    before = raw_state(raw_dir)
    config = load_connectors_config(
        write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": zip_source(**overrides)})
    )

    reports = fetch_all(config, raw_dir, now=NOW)

    assert [report.status for report in reports] == ["warn"]
    message = reports[0].message
    assert f"{publisher.base_url}{ZIP_PATH}: member {member!r} refused by rule {rule}" in message
    assert raw_state(raw_dir) == before
    assert not list(tmp_path.rglob("x.csv")) and not (tmp_path.parent / "x.csv").exists()


def test_the_refusal_is_an_archive_refused_with_its_rule(tmp_path, publisher):
    publisher.routes[ZIP_PATH] = Route(body=yearbook_zip(**{"../x.csv": b"a\n"}), content_type="application/zip")
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": zip_source()}))

    with pytest.raises(ArchiveRefused) as raised:
        GuangzhouYearbookZipConnector(config.enabled_sources[0], HttpSettings(retries=0), NOW).fetch_snapshot()

    assert (raised.value.member, raised.value.rule) == ("../x.csv", "zip_parent_reference")
    assert isinstance(raised.value, MalformedResponse)


def test_not_a_zip_and_a_bad_member_configuration_are_refused(tmp_path, publisher):
    publisher.routes[ZIP_PATH] = Route(body=b"<html>not found</html>", content_type="text/html")
    config = load_connectors_config(write_config(tmp_path, publisher, {"gz_yearbook_2020_t2_10": zip_source()}))
    reports = fetch_all(config, tmp_path / "raw", now=NOW)
    assert [report.status for report in reports] == ["warn"]
    assert "not a readable zip archive" in reports[0].message

    bad = zip_source(member="02/2-10.xls", limits={"max_members": 0, "max_bombs": 1})
    with pytest.raises(InputError) as raised:
        load_connectors_config(write_config(tmp_path, publisher, {"gz_bad": bad}))
    assert sorted(problem.rule for problem in raised.value.problems) == ["connectors_member", "connectors_zip_limits"]


# --- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_article_and_zip_snapshots_flow_through_the_pipeline_into_the_warehouse(fixture_raw_dir, tmp_path, publisher):
    publisher.routes[ARTICLE_PATH] = Route(body=article_page(), content_type="text/html")
    publisher.routes[ZIP_PATH] = Route(body=zip_of({"02/2-10.xlsx": member_xlsx()}), content_type="application/zip")
    sources = {"huadu_economy_2024": article_source(), "gz_yearbook_2020_t2_10": zip_source(member="02/2-10.xlsx")}
    config = load_connectors_config(write_config(tmp_path, publisher, sources))
    assert [report.status for report in fetch_all(config, fixture_raw_dir, now=NOW)] == ["new_snapshot"] * 2
    warehouse_dir = tmp_path / "warehouse"

    result = run_pipeline(fixture_raw_dir, warehouse_dir)

    assert result.success, step_failure_messages(result) or failed_checks(result)
    with duckdb.connect(str(warehouse_dir / "indicators.duckdb"), read_only=True) as connection:
        counts = connection.execute(
            "select source_id, count(*) from observations where source_id in (?, ?) group by source_id order by 1",
            ["gz_yearbook_2020_t2_10_20261128", "huadu_economy_2024_20261128"],
        ).fetchall()
        growth = connection.execute(
            "select value from observations where source_id = ? and indicator_code = ?",
            ["huadu_economy_2024_20261128", "industrial_value_added_above_designated_size_growth_published"],
        ).fetchall()
    assert counts == [("gz_yearbook_2020_t2_10_20261128", 9), ("huadu_economy_2024_20261128", 5)]
    assert growth == [(-1.2,)]  # made up; as printed (下降1.2%)
