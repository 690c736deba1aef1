"""report.html and the charts in a release: escaped, offline, versioned, listed, deterministic, rendered by Chromium."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.publish.documents.answers import dataset_answers
from pipeline.publish.documents.card import STATUS_FLAGS
from pipeline.publish.documents.report import CHARTS, CONTENT_SECURITY_POLICY, report_html
from pipeline.publish.registry import RELEASE_FILES
from pipeline.publish.release.verify import verify_release
from pipeline.publish.release.write import RELEASE_VERSION_PLACEHOLDER
from tests.support.made_up_answers import CITY_RATIO_QUESTION, made_up_answer_tables
from tests.support.made_up_charts import (
    CATALOG,
    PNG_SIGNATURE,
    REGIONS,
    SOURCES,
    made_up_dispersion,
    made_up_indicators,
)
from tests.support.paths import REPO_ROOT

CHART_FILES = [file_name for _, file_name, _, _ in CHARTS]
REMOTE_REFERENCE = re.compile(
    r"""(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.I
)
CHROMIUM = shutil.which("chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Injected into a copy of the report for the browser test only: records script errors, failed loads and CSP
# violations from the very start, and on load writes them and every image's state into an attribute of <html>.
PROBE = """<script>
window.__problems = [];
window.addEventListener("error", (event) => {
  const target = event.target && event.target.tagName ? event.target.tagName + " " + (event.target.src || "") : "";
  window.__problems.push("error: " + (event.message || target));
}, true);
window.addEventListener("unhandledrejection", (event) => window.__problems.push("rejection: " + event.reason));
document.addEventListener("securitypolicyviolation", (event) => window.__problems.push("csp: " + event.blockedURI));
const originalError = console.error;
console.error = (...args) => { window.__problems.push("console: " + args.join(" ")); originalError(...args); };
window.addEventListener("load", () => {
  const images = Array.from(document.images).map((image) => ({
    id: image.closest("figure") ? image.closest("figure").id : "",
    complete: image.complete, width: image.naturalWidth, height: image.naturalHeight,
    shownWidth: image.getBoundingClientRect().width,
  }));
  document.documentElement.setAttribute("data-probe", JSON.stringify({problems: window.__problems, images}));
});
</script>"""


@pytest.fixture(scope="module")
def release(district_fixture_warehouse) -> Path:
    """The release folder the real job cuts from the fixture tables plus a made-up district table."""
    return (district_fixture_warehouse / "releases" / "latest").resolve()


@pytest.fixture(scope="module")  # module scope: set up (and skipped) before the module-scoped release is built
def chromium_installed() -> str:
    """The chromium binary; without one, skip locally (saying how to install it) but fail in CI."""
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true but chromium is not installed: `make test` installs it as root (make system-packages)")
        pytest.skip("chromium is not installed: run `make system-packages` (Debian package chromium) to run this test")
    return CHROMIUM


def made_up_report(**changes: pd.DataFrame) -> str:
    """A report of MADE-UP frames (see tests/support/made_up_charts.py), with tiny stand-in PNG bytes for the charts."""
    coverage = pd.DataFrame(
        {
            "indicator_code": ["urban_rural_income_ratio"],
            "level": ["prefecture_city"],
            "year": [2022],
            "regions_with_value": [1],
            "regions_at_level": [3],
            "coverage_share": [1 / 3],
            "missing_count": [2],
            "missing_regions": ["梅州市 (441400)"],
        }
    )
    tables = {
        "indicators": made_up_indicators(),
        "regions": REGIONS,
        "catalog": CATALOG.assign(name_en="x"),
        "dispersion": made_up_dispersion(),
        "coverage": coverage,
        **changes,
    }
    charts = {asset: PNG_SIGNATURE + asset.encode() for asset, _, _, _ in CHARTS}
    answers = dataset_answers((CITY_RATIO_QUESTION,), made_up_answer_tables())
    return report_html(
        tables["indicators"],
        tables["regions"],
        tables["catalog"],
        tables["dispersion"],
        tables["coverage"],
        charts,
        SOURCES,
        answers,
    )


# --- the page, from made-up frames ---


def test_the_report_shows_the_latest_ratio_of_each_region_and_method_with_flags_and_the_version_placeholder():
    page = made_up_report()
    assert f'<code id="release-version">{RELEASE_VERSION_PLACEHOLDER}</code>' in page
    assert '<td>广州市 Guangzhou (440100)</td><td class="number">2022</td><td class="number">2.200</td>' in page
    assert f'<span class="flag">u</span> {" ".join(STATUS_FLAGS["u"])}' in page
    assert '<td class="number">2016</td><td class="number">2.610</td><td>公布 published</td>' in page
    assert '<td>全国 China (CN)</td><td class="number">2021</td><td class="number">2.500</td>' in page
    assert "2013" not in page.split('id="charts"')[0].split("城乡居民人均可支配收入比")[1].split("</table>")[0]
    assert "0.0900" in page and "0.0800" in page  # the districts' CV, first and latest year
    assert page.count('<img src="data:image/png;base64,') == len(CHARTS)
    assert "urban_rural_income_ratio" in page and "1/3 in 2022" in page  # the coverage summary


def test_the_report_opens_with_what_the_dataset_answers_and_names_each_publisher_kind():
    page = made_up_report()
    assert page.split("</header>", 1)[1].lstrip().startswith('<section id="answers">')
    assert page.index('id="answers"') < page.index('id="key-indicators"') < page.index('id="charts"')
    (news_row,) = [row for row in page.split("<tr>") if '(440100)</td><td class="number">2023</td>' in row]
    assert 'data-kind="news_report"' in news_row and "新闻报道 news report（某报 (made up)）" in news_row
    assert "统计部门" not in news_row
    (bureau_row,) = [row for row in page.split("<tr>") if '<td class="number">2016</td><td class="number">2.610' in row]
    assert 'data-kind="statistics_office"' in bureau_row


def test_every_text_from_the_data_is_escaped():
    hostile = REGIONS.copy()
    hostile.loc[hostile["region_code"] == "440100", "name_zh"] = '<script>alert("x")</script>'
    indicators = made_up_indicators()
    indicators["source_ids"] = "a&b;<img src=x onerror=alert(1)>"
    catalog = CATALOG.copy()
    catalog.loc[0, "name_zh"] = "比<b>"
    page = made_up_report(regions=hostile, indicators=indicators, catalog=catalog)
    assert "<script" not in page and "<b>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "a&amp;b; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "比&lt;b&gt;" in page


def test_the_report_references_nothing_remote_and_forbids_it():
    page = made_up_report()
    assert not REMOTE_REFERENCE.search(page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">' in page
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "img-src data:" in CONTENT_SECURITY_POLICY


def test_the_remote_reference_pattern_catches_what_it_must():
    for bad in ('<img src="https://x.org/a.png">', "<a href='http://x'>", "url(//cdn.example/font.woff)"):
        assert REMOTE_REFERENCE.search(bad), bad
    assert not REMOTE_REFERENCE.search('<img src="data:image/png;base64,AAAA">')


def test_a_report_without_values_still_says_so():
    empty = made_up_report(
        indicators=made_up_indicators().iloc[0:0],
        dispersion=made_up_dispersion().iloc[0:0],
        coverage=pd.DataFrame(columns=["indicator_code", "level", "year", "regions_with_value", "regions_at_level"]),
    )
    assert empty.count("no value in this release") == 3


# --- the release the real job cuts ---


@pytest.mark.integration
def test_the_release_lists_the_charts_and_the_report_and_verifies(release):
    assert verify_release(release) == []
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    resources = {resource["path"]: resource for resource in package["resources"]}
    assert set(RELEASE_FILES) <= set(resources)
    for file_name in CHART_FILES:
        assert resources[file_name]["mediatype"] == "image/png" and resources[file_name]["type"] == "file"
        assert (release / file_name).read_bytes()[:8] == PNG_SIGNATURE
    assert resources["report.html"]["mediatype"] == "text/html"
    page = (release / "report.html").read_text(encoding="utf-8")
    assert RELEASE_VERSION_PLACEHOLDER not in page
    assert f'<code id="release-version">{package["version"]}</code>' in page
    assert not REMOTE_REFERENCE.search(page)
    # The report embeds exactly the chart files of the release.
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(data) for data in embedded] == [(release / name).read_bytes() for name in CHART_FILES]
    card = (release / "README.md").read_text(encoding="utf-8")
    assert "`report.html`" in card and "`chart_*.png`" in card
    # Typed by the pandera models: no column of any table is of the Arrow null type ("any").
    types = {
        (resource["name"], field["name"]): field["type"]
        for resource in package["resources"]
        if resource.get("format") == "parquet"
        for field in resource["schema"]["fields"]
    }
    assert "any" not in set(types.values()), [key for key, value in types.items() if value == "any"]


@pytest.mark.integration
def test_the_charts_redrawn_in_a_fresh_process_from_the_release_tables_are_the_same_bytes(release, tmp_path):
    script = """
import sys
from pathlib import Path
import pandas as pd
from pipeline.publish.documents.charts import chart_png, district_urbanisation_figure, income_ratio_figure, paired_city_figure
from pipeline.indicators.preferred import indicator_values
from pipeline.publish.documents.economy_charts import city_dispersion_figure, district_economy_figure
release, out = Path(sys.argv[1]), Path(sys.argv[2])
tables = {path.stem: pd.read_parquet(path) for path in release.glob("*.parquet")}
values = indicator_values(tables["observations"], tables["sources"], tables["indicators"])
charts = {
    "chart_income_ratio.png": chart_png(income_ratio_figure, tables["indicators"], tables["regions"], tables["sources"]),
    "chart_district_urbanisation.png": chart_png(district_urbanisation_figure, values, tables["regions"], tables["dispersion"]),
    "chart_paired_cities.png": chart_png(paired_city_figure, tables["paired_city_ratios"], tables["regions"], tables["indicator_catalog"]),
    "chart_district_economy.png": chart_png(district_economy_figure, tables["observations"], tables["regions"], tables["sources"]),
    "chart_city_dispersion.png": chart_png(city_dispersion_figure, tables["dispersion"], tables["indicator_catalog"]),
}
for name, png in charts.items():
    (out / name).write_bytes(png)
"""
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", script, str(release), str(tmp_path)], check=True, env=environment)
    for name in CHART_FILES:
        assert (tmp_path / name).read_bytes() == (release / name).read_bytes(), name


@pytest.mark.integration
def test_chromium_renders_the_report_without_errors_and_shows_every_chart(chromium_installed, release, tmp_path):
    page = (release / "report.html").read_text(encoding="utf-8")
    # The copy lets the probe script run (the report itself allows no script) and loads it first in <head>.
    probed = page.replace(CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY + "; script-src 'unsafe-inline'", 1)
    probed = probed.replace('<meta charset="utf-8">', '<meta charset="utf-8">\n' + PROBE, 1)
    assert probed.count(PROBE) == 1 and "script-src 'unsafe-inline'" in probed
    copy = tmp_path / "report.html"
    copy.write_text(probed, encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", copy.as_uri()).stdout
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, f"the probe did not run; chromium printed: {dom[:500]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["problems"] == []
    assert [image["id"] for image in probe["images"]] == [asset for asset, _, _, _ in CHARTS]
    for image in probe["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0 and image["shownWidth"] > 0, image
    screenshot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2400", (release / "report.html").as_uri())
    assert screenshot.read_bytes()[:8] == PNG_SIGNATURE and screenshot.stat().st_size > 10_000


def chromium(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once with a throwaway profile, offline, and fail on a non-zero exit."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={folder / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        *arguments,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def test_the_coverage_is_summarised_and_its_full_table_collapsed_in_a_details_element():
    page = made_up_report()
    coverage = page.split('<section id="coverage">')[1].split("</section>")[0]
    overview, rest = coverage.split('<details id="coverage-details">')
    assert 'id="coverage-overview"' in overview and "<table>" not in overview
    assert rest.lstrip().startswith("<summary>") and "<table>" in rest and rest.rstrip().endswith("</details>")
