"""report.html: one self-contained page with the key indicators, the charts, coverage and how to cite."""

from __future__ import annotations

import html

import pandas as pd

from pipeline.core.metadata import dataset_url, load_dataset_metadata
from pipeline.publish.documents.answers import (
    METHOD_WORDS,
    Answers,
    grade_text,
    kind_label,
    kind_text,
    missing_text,
    source_publisher_kinds,
    value_text,
    year_ranges,
)
from pipeline.publish.documents.card import STATUS_FLAGS, coverage_summary
from pipeline.publish.documents.charts import (
    DISTRICT_UNIT_LEVEL,
    GUANGZHOU,
    INCOME_RATIO_INDICATOR,
    INCOME_RATIO_REGIONS,
    URBANISATION_INDICATOR,
    png_data_uri,
)
from pipeline.publish.release.write import PACKAGE_TITLE, RELEASE_DATE_PLACEHOLDER, RELEASE_VERSION_PLACEHOLDER

# Everything is inline: no script, no font, no request may leave the page (images are data: URIs).
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
METHOD_NAMES = METHOD_WORDS
CHARTS = [  # (asset, release file, Chinese caption, English caption)
    (
        "income_ratio_chart",
        "chart_income_ratio.png",
        "城乡居民人均可支配收入比：广州、广东、全国。实线为本数据集推算，虚线为来源公布值；图例注明每个系列来源的发布者类型（统计部门、政府部门、新闻报道、自媒体或研究汇编），红圈为有标记的数值（如单一非官方来源 u）。",
        "Urban–rural income ratio of Guangzhou, Guangdong and China. Solid: derived here; dashed: published; the "
        "legend names the publisher kinds of each series' sources; red ring: flagged value.",
    ),
    (
        "district_urbanisation_chart",
        "chart_district_urbanisation.png",
        "广州各区常住人口城镇化率及其区际变异系数。",
        "Urbanisation rate of Guangzhou's districts and its coefficient of variation across districts.",
    ),
    (
        "paired_city_chart",
        "chart_paired_cities.png",
        "广州与对口城市（梅州、湛江、清远、肇庆）之比，按指标分面；1 表示持平。",
        "Guangzhou ÷ each paired city (Meizhou, Zhanjiang, Qingyuan, Zhaoqing), one panel per indicator; 1 = parity.",
    ),
    (
        "district_economy_chart",
        "chart_district_economy.png",
        "广州各区地区生产总值与规模以上工业总产值（亿元，取最权威来源；斜线为可靠性低）。",
        "GDP and industrial output of Guangzhou's districts (100 million yuan, most authoritative source; hatched: "
        "low reliability).",
    ),
    (
        "city_dispersion_chart",
        "chart_city_dispersion.png",
        "广东各地级市之间的变异系数，及按指标目录规定权重计算的加权变异系数；纵轴从 0 起。",
        "Coefficient of variation across Guangdong's prefecture cities, unweighted and with the catalogue's weights; "
        "axis from 0.",
    ),
]
STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #1d2733; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
img { max-width: 100%; height: auto; border: 1px solid #e5e8eb; }
figcaption { font-size: 0.9rem; color: #4a5562; }
.flag { color: #c0392b; font-weight: bold; }
.version { font-size: 1.05rem; }
blockquote { border-left: 4px solid #d0d7de; margin: 0; padding: 0.3rem 1rem; background: #f8f9fa; }
code { background: #f3f5f7; padding: 0 0.2rem; }
#answers td code { overflow-wrap: anywhere; }
#answers td.missing { min-width: 16rem; }
"""


def report_html(
    indicators: pd.DataFrame,
    regions: pd.DataFrame,
    catalog: pd.DataFrame,
    dispersion: pd.DataFrame,
    coverage: pd.DataFrame,
    charts: dict[str, bytes],
    sources: pd.DataFrame,
    answers: Answers,
) -> str:
    """The whole page as one string, opening with what the dataset answers; every text from the data is escaped."""
    catalog_by_code = catalog.set_index("indicator_code")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escaped(PACKAGE_TITLE)} · {RELEASE_VERSION_PLACEHOLDER}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{escaped(PACKAGE_TITLE)}</h1>",
        f'<p class="version">数据版本 Release <code id="release-version">{RELEASE_VERSION_PLACEHOLDER}</code></p>',
        "<p>城乡融合发展指标（广州、广东，百县千镇万村高质量发展工程），由官方统计表格整理、核验并计算。"
        "Official Chinese statistical tables transcribed as published, checked, and turned into urban–rural "
        "convergence indicators. A gap stays a gap: nothing is imputed.</p>",
        "</header>",
        *answers_section(answers, catalog_by_code),
        '<section id="key-indicators">',
        "<h2>关键指标 Key indicators</h2>",
        *income_ratio_section(indicators, regions, catalog_by_code, sources),
        *dispersion_section(dispersion, catalog_by_code),
        "</section>",
        '<section id="charts">',
        "<h2>图表 Charts</h2>",
        *chart_figures(charts),
        "</section>",
        '<section id="coverage">',
        "<h2>数据覆盖 Coverage</h2>",
        *coverage_section(coverage, catalog_by_code),
        "</section>",
        '<section id="cite">',
        "<h2>如何引用 How to cite</h2>",
        *citation_block(),
        "<p>请引用数据版本号：版本只写一次，同一版本永远对应同样的数字。复用某个数字时请同时引用原始发布机构（见 "
        "<code>sources</code>）。Cite the release version: releases are write-once, so the same version always holds "
        "the same figures. Cite the original publisher (see <code>sources</code>) for any figure you reproduce. "
        "The release's <code>README.md</code> lists every file, the sources, their licences and the caveats; "
        "<code>datapackage.json</code> holds each file's sha256.</p>",
        "</section>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def citation_block() -> list[str]:
    """The citation (compiler, title, version, date, URL) and the licences, from pipeline/metadata/dataset.yaml."""
    dataset = load_dataset_metadata()
    licence = dataset["data_licence"]
    return [
        f"<blockquote>{escaped(dataset['compiler'])}. <em>{escaped(dataset['title'])}</em>, release "
        f"{RELEASE_VERSION_PLACEHOLDER}, {RELEASE_DATE_PLACEHOLDER}. {escaped(dataset_url(dataset))}.</blockquote>",
        f'<p id="licence">许可 Licence: 本数据集自身部分（推算指标、汇总、离散度、收敛、目录、文档、图表）采用 '
        f"{escaped(licence['title'])} ({escaped(licence['name'])}, {escaped(licence['path'])})；"
        f"照录的数字保留其来源的条款。The project's own part uses {escaped(licence['name'])}. "
        f"{escaped(' '.join(str(dataset['source_terms']).split()))} "
        f"Code: {escaped(dataset['code_licence'])}.</p>",
    ]


def income_ratio_section(
    indicators: pd.DataFrame, regions: pd.DataFrame, catalog: pd.DataFrame, sources: pd.DataFrame
) -> list[str]:
    """The latest income ratio of each charted region and method, with its year, flags, publisher kind and sources."""
    rows = indicators[
        (indicators["indicator_code"] == INCOME_RATIO_INDICATOR) & indicators["region_code"].isin(INCOME_RATIO_REGIONS)
    ]
    names = regions.set_index("region_code")
    lines = [
        f"<h3>{escaped(catalog_name(catalog, INCOME_RATIO_INDICATOR))}（最新年份）· latest year</h3>",
        "<table>",
        "<thead><tr><th>地区 region</th><th>年份 year</th><th>比值 ratio</th><th>方法 method</th>"
        "<th>标记 flags</th><th>发布者类型 publisher kind</th><th>来源 sources</th></tr></thead>",
        "<tbody>",
    ]
    publishers = sources.astype({"source_id": "str"}).set_index("source_id")["publisher"].astype(str)
    for region_code in INCOME_RATIO_REGIONS:
        for method in METHOD_NAMES:
            series = rows[(rows["region_code"] == region_code) & (rows["method"] == method)]
            if series.empty:
                continue
            latest = series.sort_values("year").iloc[-1]
            region = f"{names['name_zh'].get(region_code, '')} {names['name_en'].get(region_code, '')} ({region_code})"
            ids = [part for part in str(latest["source_ids"]).split(";") if part]
            kind = source_publisher_kinds(pd.Series([latest["source_ids"]]), sources)[0]
            named = "; ".join(dict.fromkeys(str(publishers.get(part, part)) for part in ids))
            lines.append(
                "<tr>"
                f"<td>{escaped(region)}</td>"
                f'<td class="number">{escaped(latest["year"])}</td>'
                f'<td class="number">{latest["value"]:.3f}</td>'
                f"<td>{escaped(METHOD_NAMES.get(method, method))}</td>"
                f"<td>{flag_cell(latest['status'])}</td>"
                f'<td class="publisher-kind" data-kind="{escaped(kind)}">{escaped(kind_label(kind))}'
                f"（{escaped(named)}）</td>"
                f"<td>{escaped('; '.join(ids))}</td>"
                "</tr>"
            )
    if len(lines) == 4:
        lines.append('<tr><td colspan="7">本版本无数据 · no value in this release</td></tr>')
    lines += [
        "</tbody>",
        "</table>",
        "<p>推算值由城镇、农村居民人均可支配收入相除得到；公布值照原表抄录。两者并列，不相互替代。"
        "Derived values divide urban by rural per-capita disposable income; published values are transcribed as "
        "printed. Both are shown; neither replaces the other. 发布者类型按分级规则（统计部门、政府部门、新闻报道、"
        "自媒体、研究汇编；推算值为其输入的来源类型）。Publisher kind as the grading rule sets it (for a derived "
        "value: the kinds of its inputs).</p>",
    ]
    return lines


def dispersion_section(dispersion: pd.DataFrame, catalog: pd.DataFrame) -> list[str]:
    """The coefficient of variation of urbanisation across Guangzhou's districts: first and latest year."""
    rows = dispersion[
        (dispersion["indicator_code"] == URBANISATION_INDICATOR)
        & (dispersion["parent_region_code"] == GUANGZHOU)
        & (dispersion["unit_level"] == DISTRICT_UNIT_LEVEL)
        & (dispersion["measure"] == "cv")
    ].sort_values("year")
    heading = (
        f"<h3>广州各区{escaped(catalog_name(catalog, URBANISATION_INDICATOR))}的变异系数 · CV across districts</h3>"
    )
    if rows.empty:
        return [heading, "<p>本版本无数据 · no value in this release.</p>"]
    first, latest = rows.iloc[0], rows.iloc[-1]
    return [
        heading,
        "<table>",
        "<thead><tr><th>年份 year</th><th>变异系数 CV</th><th>区数 districts</th></tr></thead>",
        "<tbody>",
        *(
            f'<tr><td class="number">{escaped(row["year"])}</td><td class="number">{row["value"]:.4f}</td>'
            f'<td class="number">{escaped(row["n_units"])}</td></tr>'
            for row in ([first, latest] if len(rows) > 1 else [latest])
        ),
        "</tbody>",
        "</table>",
    ]


def chart_figures(charts: dict[str, bytes]) -> list[str]:
    """Each chart as an inline data: URI image with a bilingual caption naming its release file."""
    lines = []
    for asset_name, file_name, caption_zh, caption_en in CHARTS:
        alt = f"{caption_zh} {caption_en}"
        lines += [
            f'<figure id="{escaped(asset_name)}">',
            f'<img src="{png_data_uri(charts[asset_name])}" alt="{escaped(alt)}">',
            f"<figcaption>{escaped(caption_zh)}<br>{escaped(caption_en)} "
            f"(<code>{escaped(file_name)}</code>)</figcaption>",
            "</figure>",
        ]
    return lines


def coverage_section(coverage: pd.DataFrame, catalog: pd.DataFrame) -> list[str]:
    """Years with values by indicator and region level, and the latest year's regions with a value."""
    lines = [
        "<p>每个指标、每个地区层级有数值的年份，以及最近一年有数值的地区数（来自 <code>coverage.csv</code>）。"
        "Years with at least one value by indicator and region level, and the share of the level's regions with a "
        "value in the latest such year.</p>",
        "<table>",
        "<thead><tr><th>指标 indicator</th><th>层级 level</th><th>年份 years</th>"
        "<th>最近一年覆盖 latest year coverage</th></tr></thead>",
        "<tbody>",
    ]
    summary = coverage_summary(coverage, catalog)
    lines = [*coverage_overview(summary), *lines]
    for row in summary:
        lines.append(
            f"<tr><td>{escaped(row['name_zh'])} <code>{escaped(row['indicator_code'])}</code></td>"
            f"<td>{escaped(row['level'])}</td><td>{escaped(row['years'])}</td>"
            f'<td class="number">{escaped(row["latest"])}</td></tr>'
        )
    if not summary:
        lines.append('<tr><td colspan="4">本版本无数据 · no value in this release</td></tr>')
    return [*lines, "</tbody>", "</table>", "</details>"]


def coverage_overview(summary: list[dict[str, str]]) -> list[str]:
    """A short count of indicators by region level, then the opening of the collapsible full coverage table."""
    levels: dict[str, int] = {}
    for row in summary:
        levels[row["level"]] = levels.get(row["level"], 0) + 1
    counts = "; ".join(f"{escaped(level)}: {count}" for level, count in sorted(levels.items()))
    indicators = len({row["indicator_code"] for row in summary})
    return [
        f'<p id="coverage-overview">{indicators} 个指标有数值 · indicators with values; '
        f"按层级的指标数 · indicators by region level: {counts or '–'}.</p>",
        '<details id="coverage-details">',
        f"<summary>完整覆盖表 Full coverage table ({len(summary)} 行 rows)</summary>",
    ]


def flag_cell(status: str) -> str:
    """Status flags with their meaning (e.g. `u` 可靠性低 low reliability), or a dash."""
    letters = [letter for letter in str(status) if letter.strip()]
    if not letters:
        return "–"
    return "; ".join(
        f'<span class="flag">{escaped(letter)}</span> {escaped(" ".join(STATUS_FLAGS.get(letter, ("", ""))).strip())}'
        for letter in letters
    )


def catalog_name(catalog: pd.DataFrame, indicator_code: str) -> str:
    """An indicator's Chinese name from the catalogue, or its code."""
    return str(catalog["name_zh"].get(indicator_code, indicator_code))


def escaped(value) -> str:
    """Text from the data made safe inside HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def answers_section(answers: Answers, catalog: pd.DataFrame) -> list[str]:
    """The page's opening section: the mission's questions, each answered from the tables (answers.py)."""
    lines = [
        '<section id="answers">',
        "<h2>本数据集能回答什么 What the dataset answers</h2>",
        "<p>以下问题（<code>pipeline/metadata/questions.yaml</code>）的答案均由本版本的数据表计算，并非手写："
        "已有数据的年份和地区、证据的可靠性分级和发布者类型（推算值计入其全部输入的类型）、以及缺失的地区×年份。"
        "The mission's questions, each answered from this release's tables, not written by hand: years and regions "
        "answered, the grades and publisher kinds of the evidence (a derived value counts under all its inputs' "
        "kinds), and the expected region × year cells with no value. New data changes this section by itself.</p>",
    ]
    for question in answers.questions:
        rows = answers.summary[answers.summary["question_code"] == question.code]
        dispersion = question.table == "dispersion"
        lines += [
            f'<article class="question" id="question-{escaped(question.code)}">',
            f"<h3>{escaped(question.question_zh)} · {escaped(question.question_en)}</h3>",
            "<table>",
            "<thead><tr><th>指标 indicator</th><th>已答年份 years answered</th>"
            f"<th>{'有数值的单位 units' if dispersion else '已答地区 regions'}</th><th>数值 values</th>"
            "<th>可靠性 grades</th><th>发布者类型 publisher kinds</th><th>缺失 missing</th>"
            f"{'<th>结论 finding</th>' if dispersion else ''}</tr></thead>",
            "<tbody>",
        ]
        for row in rows[rows["values"] > 0].to_dict("records"):
            missing = (
                (year_ranges(list(row["missing"][0][1])) if row["missing"] else "none")
                if dispersion
                else missing_text(row, answers.region_names)
            )
            lines.append(
                f'<tr data-indicator="{escaped(row["indicator_code"])}">'
                f"<td>{escaped(catalog_name(catalog, row['indicator_code']))}<br>"
                f"<code>{escaped(row['indicator_code'])}</code></td>"
                f'<td class="answered-years">{escaped(year_ranges(row["answered_years"]))}</td>'
                f'<td class="number">{row["regions_answered"]}/{row["regions_expected"]}</td>'
                f'<td class="number">{row["values"]}</td>'
                f"<td>{escaped(grade_text(row['reliability_counts']))}</td>"
                f"<td>{escaped(kind_text(row['publisher_kind_counts']))}</td>"
                f'<td class="missing">{escaped(missing)}</td>'
                + (f"<td>{escaped(row['finding'])}</td>" if dispersion else "")
                + "</tr>"
            )
        if (rows["values"] > 0).sum() == 0:
            lines.append(f'<tr><td colspan="{8 if dispersion else 7}">尚无数值 · no value yet</td></tr>')
        lines += ["</tbody>", "</table>"]
        empty = rows[rows["values"] == 0]["indicator_code"]
        if not empty.empty:
            names = ", ".join(f"{catalog_name(catalog, code)} ({code})" for code in empty)
            lines.append(f'<p class="unanswered">尚无数值 No value at all yet: {escaped(names)}.</p>')
        lines += [*listed_values_table(answers, question.code, catalog), "</article>"]
    return [*lines, "</section>"]


def listed_values_table(answers: Answers, question_code: str, catalog: pd.DataFrame) -> list[str]:
    """Every value of the question's listed indicators, with method, flags, grade, publisher kind and publisher."""
    values = answers.values[answers.values["question_code"] == question_code]
    lines: list[str] = []
    for indicator_code, rows in values.groupby("indicator_code", sort=False):
        lines += [
            f"<p>{escaped(catalog_name(catalog, indicator_code))}的全部数值 · every value "
            f"(<code>preferred_values</code>):</p>",
            f'<table class="listed-values" data-indicator="{escaped(indicator_code)}">',
            "<thead><tr><th>地区 region</th><th>年份 year</th><th>数值 value</th><th>方法 method</th>"
            "<th>标记 flags</th><th>可靠性 grade</th><th>发布者类型 publisher kind</th><th>发布者 publisher</th>"
            "<th>来源 sources</th></tr></thead>",
            "<tbody>",
        ]
        for row in rows.itertuples(index=False):
            lines.append(
                f'<tr data-region="{escaped(row.region_code)}" data-year="{escaped(row.year)}">'
                f"<td>{escaped(answers.region_names.get(row.region_code, row.region_code))}</td>"
                f'<td class="number">{escaped(row.year)}</td>'
                f'<td class="number">{escaped(value_text(row.value))}</td>'
                f"<td>{escaped(METHOD_WORDS.get(row.method, row.method))}</td>"
                f"<td>{flag_cell(row.status)}</td>"
                f"<td>{escaped(row.reliability)}</td>"
                f'<td class="publisher-kind" data-kind="{escaped(row.publisher_kind)}">'
                f"{escaped(kind_label(row.publisher_kind))}</td>"
                f"<td>{escaped(row.publishers)}</td>"
                f"<td>{escaped(str(row.source_ids).replace(';', '; '))}</td>"
                "</tr>"
            )
        lines += ["</tbody>", "</table>"]
    return lines
