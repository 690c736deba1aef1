"""The real bundle in raw/: it builds, and the derived Guangdong 2021 ratio reconciles with the published 2.46."""

import re

import duckdb
import pytest

from tests.support.notebooks import executed_notebook_images
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import failed_checks, run_pipeline, step_failure_messages

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_warehouse(tmp_path_factory):
    """The warehouse built from the real raw/ into a temporary folder, and the run's result."""
    warehouse_dir = tmp_path_factory.mktemp("real") / "warehouse"
    result = run_pipeline(REPO_ROOT / "raw", warehouse_dir)
    assert result.success, step_failure_messages(result) or failed_checks(result)
    return warehouse_dir / "indicators.duckdb", result


def test_guangdong_2021_derived_ratio_reconciles_with_the_published_2_46(real_warehouse):
    path, result = real_warehouse
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "urban_rural_income_ratio_reconciles"
    )
    assert evaluation.passed
    comparisons = evaluation.metadata["comparisons"].value
    guangdong_2021 = next(c for c in comparisons if c["region_code"] == "440000" and c["year"] == 2021)
    assert guangdong_2021["published"] == 2.46
    assert guangdong_2021["reconciles"]
    assert guangdong_2021["derived_low"] < 2.465 and guangdong_2021["derived_high"] >= 2.455
    with duckdb.connect(str(path), read_only=True) as connection:
        derived = connection.execute(
            "select value from indicators where indicator_code = ? and method = ? and region_code = ? and year = ?",
            ["urban_rural_income_ratio", "derived", "440000", 2021],
        ).fetchone()[0]
    assert round(derived, 2) == 2.46


def test_every_region_year_with_both_components_has_a_derived_ratio(real_warehouse):
    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        expected = connection.execute(
            """
            select distinct urban.region_code, urban.year
            from observations urban join observations rural
              on urban.region_code = rural.region_code and urban.year = rural.year
            where urban.indicator_code = ? and rural.indicator_code = ?
              and urban.value is not null and rural.value is not null
            order by 1, 2
            """,
            ["urban_disposable_income_per_capita", "rural_disposable_income_per_capita"],
        ).fetchall()
        derived = connection.execute(
            "select region_code, year from indicators where indicator_code = ? and method = ? order by 1, 2",
            ["urban_rural_income_ratio", "derived"],
        ).fetchall()
    assert derived == expected
    regions = {region for region, _ in derived}
    assert {"440000", "CN"} <= regions
    assert len(derived) >= 12


def test_the_notebook_runs_on_the_real_warehouse_and_draws_its_three_charts(real_warehouse, tmp_path, monkeypatch):
    path, _ = real_warehouse
    images = executed_notebook_images(path, tmp_path, monkeypatch)
    assert len(images) == 3, "income ratio (Guangzhou, Guangdong, China), district GDP and industry, dispersion"


def test_every_observation_is_graded_by_the_rule(real_warehouse):
    """Independent re-statement of the grade rule (README "Grades by rule") checked against every real observation."""
    from pipeline.ingest.sidecar import load_sidecar, sidecar_paths

    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select o.source_id, o.value, o.status, o.reliability, o.corroborated_by, s.url_kind, s.authority "
            "from observations o join sources s using (source_id)"
        ).fetchall()
    declares_u = {
        sidecar.source_id
        for sidecar in (load_sidecar(p, REPO_ROOT / "raw") for p in sidecar_paths(REPO_ROOT / "raw"))
        if any("u" in str(rule.get("status", "")) for rule in (sidecar.fields.get("status") or []))
    }
    assert rows
    for source_id, value, status, reliability, corroborated_by, url_kind, authority in rows:
        unofficial = url_kind in ("news", "self_media") or authority in ("news_report", "low_confidence")
        if unofficial and value is not None:
            expected = "corroborated" if corroborated_by else "unofficial"
            assert reliability == expected, (source_id, reliability)
            assert ("u" in status) == (expected == "unofficial"), (source_id, status)
        elif not unofficial:
            assert reliability in ("official", "official_copy", "compilation"), (source_id, reliability)
            assert "u" not in status or source_id in declares_u, (source_id, status)


def test_views_agree_with_preferred_values(real_warehouse):
    path, _ = real_warehouse
    with duckdb.connect(str(path), read_only=True) as connection:
        disagreeing_ratio = connection.execute(
            "select count(*) from income_ratio_trend t join preferred_values p using (region_code, year) "
            "where p.indicator_code = 'urban_rural_income_ratio' and t.income_ratio is distinct from p.value"
        ).fetchone()[0]
        ratio_rows = connection.execute("select count(*) from income_ratio_trend").fetchone()[0]
        preferred_ratio_rows = connection.execute(
            "select count(*) from preferred_values where indicator_code = 'urban_rural_income_ratio'"
        ).fetchone()[0]
        disagreeing_gdp = connection.execute(
            "select count(*) from district_profile d join preferred_values p using (region_code, year) "
            "where p.indicator_code = 'gdp' and d.gdp is distinct from p.value"
        ).fetchone()[0]
    assert ratio_rows == preferred_ratio_rows > 0
    assert disagreeing_ratio == 0 and disagreeing_gdp == 0


def expanded_years(text: str) -> set[int]:
    """'2015–2016, 2020' → {2015, 2016, 2020} ('–' alone: no year)."""
    years: set[int] = set()
    for part in re.findall(r"(\d{4})(?:–(\d{4}))?", text):
        first, last = int(part[0]), int(part[1] or part[0])
        years.update(range(first, last + 1))
    return years


def release_documents(path) -> tuple[str, str]:
    """The real release's card (README.md) and report.html."""
    release = (path.parent / "releases" / "latest").resolve()
    return (release / "README.md").read_text(encoding="utf-8"), (release / "report.html").read_text(encoding="utf-8")


def expected_answered_years(connection, question, indicator_code: str) -> set[int]:
    """The years the tables hold for a question's indicator, regions and window, queried here without the answers code."""
    window = [question.first_year, question.last_year]
    rule = question.regions
    if question.table == "dispersion":
        rows = connection.execute(
            "select distinct year from dispersion where indicator_code = ? and parent_region_code = ? "
            "and unit_level = ? and year between ? and ?",
            [indicator_code, str(rule["parent"]), str(rule["unit_level"]), *window],
        ).fetchall()
    elif "codes" in rule:
        codes = [str(code) for code in rule["codes"]]
        rows = connection.execute(
            f"select distinct year from preferred_values where indicator_code = ? and region_code in "
            f"({', '.join('?' for _ in codes)}) and year between ? and ? and value is not null",
            [indicator_code, *codes, *window],
        ).fetchall()
    else:
        rows = connection.execute(
            "select distinct p.year from preferred_values p join regions r using (region_code) "
            "where p.indicator_code = ? and r.parent_code = ? and r.level = ? and p.year between ? and ? "
            "and p.value is not null",
            [indicator_code, str(rule["children_of"]), str(rule["level"]), *window],
        ).fetchall()
    return {int(year) for (year,) in rows}


def test_the_card_and_report_open_with_answers_that_agree_with_the_tables(real_warehouse):
    """Every question's answered years, in the card and in report.html, are the years the tables hold (no counts)."""
    from pipeline.core.metadata import load_questions

    path, _ = real_warehouse
    card, page = release_documents(path)
    assert re.findall(r"^## .*$", card, flags=re.M)[0] == "## What the dataset answers"
    assert page.split("</header>", 1)[1].lstrip().startswith('<section id="answers">')
    card_section = card.split("## What the dataset answers", 1)[1].split("\n## ", 1)[0]
    questions = load_questions()
    assert any(question.code == "guangzhou_income_ratio" for question in questions)
    with duckdb.connect(str(path), read_only=True) as connection:
        for number, question in enumerate(questions, start=1):
            article = page.split(f'<article class="question" id="question-{question.code}">', 1)[1]
            article = article.split("</article>", 1)[0]
            block = card_section.split(f"### {number}. ", 1)[1].split("\n### ", 1)[0]
            indicators = [code for code in re.findall(r'<tr data-indicator="([^"]+)">', article)]
            for indicator_code in indicators:
                expected = expected_answered_years(connection, question, indicator_code)
                cell = re.search(
                    rf'<tr data-indicator="{indicator_code}">.*?<td class="answered-years">([^<]*)</td>', article
                )
                assert expected and expanded_years(cell.group(1)) == expected, (question.code, indicator_code)
                (line,) = [row for row in block.splitlines() if row.startswith("| ") and f"`{indicator_code}` |" in row]
                assert expanded_years(line.split(" | ")[1]) == expected, (question.code, indicator_code)
            unanswered = re.search(r'<p class="unanswered">[^<]*', article)
            for indicator_code in re.findall(r"\(([a-z0-9_]+)\)", unanswered.group(0) if unanswered else ""):
                assert expected_answered_years(connection, question, indicator_code) == set(), indicator_code
        ratio_years = expected_answered_years(connection, questions[0], "urban_rural_income_ratio")
    ratio_article = page.split('id="question-guangzhou_income_ratio">', 1)[1].split("</article>", 1)[0]
    listed = {int(year) for year in re.findall(r'<tr data-region="440100" data-year="(\d{4})">', ratio_article)}
    assert listed == ratio_years  # every answered year of Guangzhou's ratio is listed with its publisher


def test_no_published_value_is_labelled_a_statistics_office_unless_its_source_is_one(real_warehouse):
    """Card, report and the income-ratio legend: each publisher-kind label is the grading rule's kind of its sources."""
    import matplotlib

    from pipeline.publish.documents.answers import kind_label
    from pipeline.publish.documents.card import markdown_text
    from pipeline.publish.documents.charts import CHART_STYLE, INCOME_RATIO_INDICATOR, income_ratio_figure
    from pipeline.validate.grades import publisher_kind

    path, _ = real_warehouse
    card, page = release_documents(path)
    with duckdb.connect(str(path), read_only=True) as connection:
        sources = connection.execute("select * from sources").df()
        indicators = connection.execute("select * from indicators").df()
        regions = connection.execute("select * from regions").df()
        chosen_2023 = connection.execute(
            "select source_ids from preferred_values where indicator_code = ? and region_code = ? and year = ?",
            [INCOME_RATIO_INDICATOR, "440100", 2023],
        ).fetchone()
    rule_kind = {
        row.source_id: publisher_kind(row.url_kind, row.authority, row.publisher) for row in sources.itertuples()
    }

    def kinds_of(source_ids) -> str:
        return ";".join(sorted({rule_kind[part] for part in str(source_ids).replace(" ", "").split(";") if part}))

    # report.html: every row with a publisher-kind cell (key indicators, listed answers) and its sources' kinds.
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, flags=re.S)
    labelled = [row for row in rows if 'class="publisher-kind"' in row]
    assert labelled
    for row in labelled:
        kind, label = re.search(r'<td class="publisher-kind" data-kind="([^"]*)">([^<]*)', row).groups()
        source_cell = re.findall(r"<td>([^<]*)</td>", row)[-1]
        assert kind == kinds_of(source_cell), row
        # The cell is the kind in words, then the publisher's own name in brackets; a publisher's name may itself
        # contain 统计部门 (a news copy of a statistics office's figures), so only the kind words are tested.
        kind_words = label.split("（", 1)[0]
        assert kind_words == kind_label(kind), row
        assert ("统计部门" in kind_words) == ("statistics_office" in kind), row
    # The card's listed values and its list of flagged observations.
    checked = {"listed": 0, "flagged": 0}
    for line in card.splitlines():
        ids = re.findall(r"`([a-z0-9_]+)`", line)
        if line.startswith("| ") and ids and all(part in rule_kind for part in ids):
            kinds = kinds_of(";".join(ids))
            assert f"| {markdown_text(kind_label(kinds))} |" in line, line
            kind_cell = line.split(" | ")[6]  # region | year | value | method | flags | grade | publisher kind | …
            assert ("统计部门" in kind_cell) == ("statistics_office" in kinds), line
            checked["listed"] += 1
        flagged = re.match(r"  - `[a-z0-9_]+` .* \(source `([a-z0-9_]+)`, (.*)\)$", line)
        if flagged:
            assert flagged.group(2) == kind_label(rule_kind[flagged.group(1)]), line
            assert ("统计部门" in flagged.group(2)) == (rule_kind[flagged.group(1)] == "statistics_office"), line
            checked["flagged"] += 1
    assert checked["listed"] > 0 and checked["flagged"] > 0, checked
    # The income-ratio chart's legend: a series names the statistics office only if one of its sources is one.
    with matplotlib.rc_context(CHART_STYLE):
        figure = income_ratio_figure(indicators, regions, sources)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend
    ratios = indicators[indicators["indicator_code"] == INCOME_RATIO_INDICATOR]
    for entry in legend:
        region_code = entry.split(" ")[1]
        method = "derived" if "derived" in entry.split("\n")[0] else "published"
        series = ratios[(ratios["region_code"] == region_code) & (ratios["method"] == method)]
        kinds = kinds_of(";".join(series["source_ids"]))
        assert entry.split("\n")[1].split(": ", 1)[1] == kind_label(kinds), entry
        assert ("统计部门" in entry) == ("statistics_office" in kinds), entry
    # Guangzhou's 2023 ratio, while 新快报's article is the chosen source, reads as a news report by 新快报.
    if chosen_2023 and chosen_2023[0] == "gz_programme_article_xkb_2024":
        listed = [row for row in labelled if '<tr data-region="440100" data-year="2023">' in row]
        assert listed and all("新闻报道 news report" in row and "新快报" in row for row in listed)
        assert all("统计部门" not in row for row in listed)
