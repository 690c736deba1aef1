"""The dataset card (the release README.md)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.core.metadata import dataset_url, load_dataset_metadata
from pipeline.publish.documents.answers import (
    METHOD_WORDS,
    Answers,
    grade_text,
    kind_label,
    kind_text,
    missing_text,
    value_text,
    year_ranges,
)
from pipeline.publish.documents.comments import model_description
from pipeline.publish.release.write import RELEASE_DATE_PLACEHOLDER, RELEASE_VERSION_PLACEHOLDER

if TYPE_CHECKING:
    import pandera.pandas as pa


STATUS_FLAGS = {
    "b": ("口径断裂", "series break"),
    "e": ("估计值", "estimated"),
    "p": ("初步数", "provisional"),
    "u": ("可靠性低", "low reliability"),
    ":": ("无数据", "not available"),
    "c": ("保密", "confidential"),
}
MAX_LISTED_FLAGGED = 30
LISTED_FLAGS = ("b", "u", "p", "e")
# The observations' columns the caveats use (publisher_kind when the table has it): with flagged_statuses, the
# card reads only these columns of the flagged rows.
CAVEAT_COLUMNS = ["indicator_code", "region_code", "year", "source_id", "status", "publisher_kind"]
# Characters that start Markdown or HTML markup inside a line of text (a line start is never data here).
MARKUP_CHARACTERS = re.compile(r"[\\`*_{}\[\]<>()#!|~&]")


def dataset_card(
    tables: dict[str, pd.DataFrame],
    coverage: pd.DataFrame,
    models: dict[str, type[pa.DataFrameModel]],
    title: str,
    answers: Answers,
    row_counts: dict[str, int] | None = None,
) -> str:
    """The release's README.md: what it answers, what it is, files, coverage, sources and licences, how to cite, caveats.

    `row_counts` (table → rows), when given, is what the Files section lists, and `tables["observations"]` need then
    hold only the flagged rows (flagged_statuses) and CAVEAT_COLUMNS: the card reads no more of a large table.
    """
    catalog = tables["indicator_catalog"].set_index("indicator_code")
    lines = [
        f"# {title}",
        "",
        f"Release `{RELEASE_VERSION_PLACEHOLDER}`. 城乡融合发展指标数据集（广州、广东，百县千镇万村高质量发展工程）.",
        "",
        *answers_lines(answers, catalog),
        "## What this is",
        "",
        "Official Chinese statistical tables (yearbooks, statistical communiqués, survey releases; where no official",
        "copy could be read, news reports and compilations quoting them, marked in `sources.url_kind` and",
        "`sources.authority`) transcribed as published, checked, and turned into urban–rural convergence",
        "indicators for Guangzhou, its districts, Guangdong",
        "and China: urban and rural income and consumption, urban–rural ratios, urbanisation, group aggregates for the",
        "一区一策 district groups, Guangzhou ÷ paired-city ratios, dispersion across units and β-convergence.",
        "Every figure keeps the raw table it came from (`source_id`, file, row, column). A gap stays a gap: nothing is",
        "imputed or estimated here.",
        "",
        "## Files",
        "",
        "| file | rows | what it holds |",
        "|---|---:|---|",
    ]
    for name, frame in tables.items():
        rows = len(frame) if row_counts is None else row_counts[name]
        lines.append(f"| `{name}.parquet` | {rows} | {markdown_cell(model_description(models[name], ''))} |")
    lines += [
        f"| `coverage.csv` | {len(coverage)} | regions with a value out of regions at each level, per indicator and year |",
        "| `dictionary.csv`, `dictionary.md` | | every column of every table: type, unit, meaning in Chinese and English |",
        "| `report.html` | | one self-contained page: key indicators, the charts, coverage and how to cite (no network) |",
        "| `chart_*.png` | | the charts: income ratios, Guangzhou district urbanisation and its CV, paired cities, district GDP and industry, dispersion across Guangdong's cities |",
        "| `CHANGES.md` | | what changed against the previous release |",
        "| `datapackage.json` | | Frictionless descriptor: rows and schema of every table |",
        "| `checksums.csv` | | sha256 and size in bytes of every other file (`sha256sum` can check them by hand) |",
        "",
        "## Coverage",
        "",
        "Years with at least one value, by indicator and region level, and the share of the level's regions with a",
        "value in the latest such year (from `coverage.csv`).",
        "",
        "| indicator | 指标 | level | years | latest year coverage |",
        "|---|---|---|---|---:|",
        *coverage_lines(coverage, catalog),
        "",
        "## Sources and licences",
        "",
        f"{len(tables['sources'])} raw tables. Each figure keeps its source's terms, as the sources state them below.",
        "The `sources` table has the URL, edition, access date and sha256 of every raw table.",
        "",
        *data_licence_lines(),
        "",
        "| licence | raw tables | publishers |",
        "|---|---:|---|",
        *licence_lines(tables["sources"]),
        "",
        "## How to cite",
        "",
        *citation_lines(),
        "",
        "Cite the release version: releases are write-once, so the same version always holds the same figures. Cite",
        "the original publisher (see `sources`) for any figure you reproduce.",
        "",
        *method_lines(),
        "## Caveats",
        "",
        *caveat_lines(tables, catalog),
        "",
        "## Changes",
        "",
        "`CHANGES.md` lists the rows added, removed and changed against the previous release, the largest value",
        "changes and new or retired codes.",
        "",
    ]
    return "\n".join(lines)


def citation_lines() -> list[str]:
    """The citation of this release: compiler, title, version, date and URL (pipeline/metadata/dataset.yaml)."""
    dataset = load_dataset_metadata()
    return [
        f"> {dataset['compiler']}. *{dataset['title']}*, release {RELEASE_VERSION_PLACEHOLDER}, {RELEASE_DATE_PLACEHOLDER}.",
        f"> {dataset_url(dataset)}. Licence: {dataset['data_licence']['name']}; sources' own terms for transcribed figures.",
        "",
        "| field | value |",
        "|---|---|",
        f"| compiler | {markdown_cell(dataset['compiler'])} |",
        f"| title | {markdown_cell(dataset['title'])} |",
        f"| version | `{RELEASE_VERSION_PLACEHOLDER}` |",
        f"| date | {RELEASE_DATE_PLACEHOLDER} |",
        f"| URL | {markdown_cell(dataset_url(dataset))} |",
    ]


def data_licence_lines() -> list[str]:
    """The licence of the project's own derived data, and the rule that transcribed figures keep their sources' terms."""
    dataset = load_dataset_metadata()
    licence = dataset["data_licence"]
    return [
        "**Licence of this dataset's own part** (derived indicators, aggregates, dispersion, convergence, catalogue,",
        f"documents, charts): [{licence['title']} ({licence['name']})]({licence['path']}). "
        f"{' '.join(str(dataset['source_terms']).split())} The code that builds it is under the {dataset['code_licence']} licence.",
    ]


def coverage_lines(coverage: pd.DataFrame, catalog: pd.DataFrame) -> list[str]:
    """Markdown rows: per indicator and level with values, the year span and the latest year's coverage."""
    lines = [
        f"| `{row['indicator_code']}` | {markdown_text(row['name_zh'])} | {row['level']} | {row['years']} | {row['latest']} |"
        for row in coverage_summary(coverage, catalog)
    ]
    return lines or ["| – | – | – | – | – |"]


def coverage_summary(coverage: pd.DataFrame, catalog: pd.DataFrame) -> list[dict[str, str]]:
    """Per indicator and level with values: Chinese name, year span and the latest year's regions with a value."""
    present = coverage[coverage["regions_with_value"] > 0]
    summary = []
    for (indicator, level), rows in present.groupby(["indicator_code", "level"], sort=True):
        latest = rows.sort_values("year").iloc[-1]
        count = rows["year"].nunique()
        summary.append(
            {
                "indicator_code": str(indicator),
                "name_zh": str(catalog["name_zh"].get(indicator, "")),
                "level": str(level),
                "years": f"{rows['year'].min()}–{rows['year'].max()} ({count} year{'s' if count > 1 else ''})",
                "latest": f"{latest['regions_with_value']}/{latest['regions_at_level']} in {latest['year']}",
            }
        )
    return summary


def licence_lines(sources: pd.DataFrame) -> list[str]:
    """Markdown rows: each distinct licence text with how many raw tables carry it and their publishers."""
    lines = []
    for licence, rows in sources.groupby("licence", sort=True):
        publishers = ", ".join(sorted(set(rows["publisher"])))
        lines.append(f"| {markdown_text(licence)} | {len(rows)} | {markdown_text(publishers)} |")
    return lines


def caveat_lines(tables: dict[str, pd.DataFrame], catalog: pd.DataFrame) -> list[str]:
    """Caveat paragraphs: the 2013/2014 survey break, flagged figures (b, u, p, e) listed, catalogue caveats."""
    observations = tables["observations"]
    region_names = tables["regions"].set_index("region_code")["name_zh"]
    lines = [
        "- **Household survey reform (2013/2014).** Rural per-capita net income (纯收入, before the reform) and",
        "  disposable income (可支配收入, integrated survey) are different series and are never joined here.",
        "  Household consumption level (居民消费水平, national accounts) is not survey consumption expenditure.",
        "- **Status flags** on observations and indicators: "
        + "; ".join(f"`{flag}` {zh} {en}" for flag, (zh, en) in STATUS_FLAGS.items())
        + ".",
    ]
    for flag in LISTED_FLAGS:
        flagged = observations[observations["status"].str.contains(flag, regex=False)]
        zh, en = STATUS_FLAGS[flag]
        if flagged.empty:
            lines.append(f"- No observation is flagged `{flag}` ({en}, {zh}).")
            continue
        lines.append(f"- {len(flagged)} observation(s) flagged `{flag}` ({en}, {zh}):")
        ordered = flagged.sort_values(["indicator_code", "region_code", "year", "source_id"])
        for row in ordered.head(MAX_LISTED_FLAGGED).itertuples():
            region = f"{region_names.get(row.region_code, '')} {row.region_code}".strip()
            kind = kind_label(str(getattr(row, "publisher_kind", "")))
            lines.append(f"  - `{row.indicator_code}` {region} {row.year} (source `{row.source_id}`, {kind})")
        if len(flagged) > MAX_LISTED_FLAGGED:
            lines.append(f"  - … and {len(flagged) - MAX_LISTED_FLAGGED} more (filter `observations` on `status`).")
    lines += ["- **Indicator caveats** (from `indicator_catalog`):"]
    for indicator, row in catalog.sort_index().iterrows():
        if str(row["caveats"]).strip():
            lines.append(f"  - `{indicator}` {markdown_text(row['name_zh'])}: {markdown_text(row['caveats'])}")
    return lines


def flagged_statuses(statuses: list[object]) -> list[str]:
    """Of the distinct status values, those holding a flag the caveats list (b, u, p, e): the rows the caveats read."""
    return sorted({str(value) for value in statuses if any(flag in str(value) for flag in LISTED_FLAGS)})


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped (the project's own texts, markup kept)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_text(text: object) -> str:
    """Text from the data (sidecars, catalogue) as inert Markdown: one line; HTML, links, emphasis, code escaped.

    Every character Markdown or an HTML renderer would act on gets a backslash (CommonMark escapes any ASCII
    punctuation that way), so `<script>`, `[link](…)`, `**bold**` or a `|` read as the characters they are.
    """
    return MARKUP_CHARACTERS.sub(r"\\\g<0>", " ".join(str(text).split()))


def method_lines() -> list[str]:
    """The method section: the formulas of the convergence measures and the rules they follow."""
    return [
        "## Method: convergence measures",
        "",
        "- **Dispersion** across the units under a parent (`dispersion`, ≥5 units): CV = σ/μ (ddof = 0);",
        "  Theil T = (1/n) Σ (xᵢ/μ) ln(xᵢ/μ); Gini = Σᵢ Σⱼ |xᵢ − xⱼ| / (2n²μ); population-weighted versions with",
        "  population shares wᵢ and μ_w = Σ wᵢxᵢ: T_w = Σ wᵢ (xᵢ/μ_w) ln(xᵢ/μ_w), Gini_w = Σᵢ Σⱼ wᵢwⱼ |xᵢ − xⱼ| / (2μ_w).",
        "- **Urban–rural Theil** (`urban_rural_theil`, 城乡泰尔指数): T = Σ_{j ∈ urban, rural} (I_j/I) ln((I_j/I)/(P_j/P)),",
        "  I_j = per-capita disposable income × P_j; P_j the year-end resident urban and rural population, else the",
        "  census urban and rural counts (stated per row in `population_basis`).",
        "- **β-convergence** (`convergence`): statsmodels OLS of ln(x_T/x_0)/T on ln(x_0) across units, with standard",
        "  error, t, p, 95 % interval and `significant_at_5pct`; speed λ = −ln(1 + Tβ)/T and half-life ln 2/λ (λ > 0).",
        "  A β with `significant_at_5pct` false is not evidence of convergence or divergence.",
        "- **σ-convergence** (`sigma_convergence`): statsmodels OLS slope of CV, Gini and Theil (unweighted and",
        "  weighted) on the year, over the longest run of at least 3 years with the same number of units; a",
        "  significantly negative slope is σ-convergence.",
        "- **Bounded shares** (catalogue `bounded`, e.g. urbanisation rates, Engel coefficients): β and the σ trend on",
        "  the logit ln(p/(100 − p)) (σ: `logit_sd`); units at 0 or 100 % are left out and counted",
        "  (`n_units_at_bound`). A share's complement (catalogue `complement_of`, e.g. the rural population share) gives",
        "  the same result on this scale and is not published as a second convergence result.",
        "- **Decomposition** (`theil_decomposition`): T = Σ_g s_g ln(s_g/p_g) (between) + Σ_g s_g T_g (within), s_g the",
        "  group's income share, p_g its population (or unit) share; groups: Guangzhou's 一区一策 district groups and",
        "  Guangdong's 珠三角, 粤东, 粤西, 粤北 (provincial statistics bureau classification, `guangdong_regions.csv`).",
        "- **Breaks**: status `b` on year t means a break between t − 1 and t (after the 2014 merger, 黄埔区 2014 carries",
        "  it); no growth, window or β runs across a `b`.",
        "",
    ]


ANSWERS_INTRO = [
    "## What the dataset answers",
    "",
    "The mission's questions (`pipeline/metadata/questions.yaml`), each answered from this release's tables",
    "(`preferred_values`; for convergence `dispersion`, `convergence`, `sigma_convergence`), not written by hand: the",
    "years and regions answered, the grades (`reliability`) and publisher kinds of the evidence as the grading rule",
    "set them (a derived value counts under the kinds of all its inputs), and the expected region × year cells with",
    "no value. A figure that arrives changes this section by itself.",
    "",
]


def answers_lines(answers: Answers, catalog: pd.DataFrame) -> list[str]:
    """The card's opening section: per question, its expectation, a row per indicator, listed values, what is empty."""
    lines = list(ANSWERS_INTRO)
    for number, question in enumerate(answers.questions, start=1):
        rows = answers.summary[answers.summary["question_code"] == question.code]
        lines += [f"### {number}. {markdown_text(question.question_zh)} {markdown_text(question.question_en)}", ""]
        lines += [expectation(question, rows, answers.region_names), ""]
        answered = rows[rows["values"] > 0]
        if question.table == "dispersion":
            header = "| indicator | years with a dispersion | units with a value | values | grades | publisher kinds | years missing | finding |"
        else:
            header = "| indicator | years answered | regions answered | values | grades | publisher kinds | missing region × year |"
        lines += [header, "|---|---|---:|---:|---|---|---|" + ("---|" if question.table == "dispersion" else "")]
        for row in answered.to_dict("records"):
            cells = [
                f"{markdown_text(catalog['name_zh'].get(row['indicator_code'], ''))} `{row['indicator_code']}`",
                year_ranges(row["answered_years"]),
                f"{row['regions_answered']}/{row['regions_expected']}",
                str(row["values"]),
                grade_text(row["reliability_counts"]),
                markdown_text(kind_text(row["publisher_kind_counts"])),
                markdown_text(missing_text(row, answers.region_names)),
            ]
            if question.table == "dispersion":
                cells[-1] = year_ranges(list(row["missing"][0][1])) if row["missing"] else "none"
                cells.append(markdown_text(row["finding"]))
            lines.append("| " + " | ".join(cells) + " |")
        if answered.empty:
            lines.append(
                "| no value yet | – | – | – | – | – | – |" + (" – |" if question.table == "dispersion" else "")
            )
        empty = rows[rows["values"] == 0]
        if not empty.empty:
            names = ", ".join(
                f"{markdown_text(catalog['name_zh'].get(code, ''))} `{code}`" for code in empty["indicator_code"]
            )
            lines += ["", f"No value at all in the expected regions and years: {names}."]
        lines += ["", *listed_value_lines(answers, question.code, catalog)]
    return lines


def expectation(question, rows: pd.DataFrame, names: dict[str, str]) -> str:
    """One sentence: the regions and years the question expects and the table that answers it."""
    count = int(rows["regions_expected"].max()) if not rows.empty else 0
    years = f"{question.first_year}–{question.last_year}"
    if question.table == "dispersion":
        parent = str(question.regions["parent"])
        return (
            f"Expected: the dispersion of the {count} units (`{question.regions['unit_level']}`) under "
            f"{markdown_text(names.get(parent, parent))} {parent} in {years} (at least 5 with a value), from `dispersion`, with β "
            "(`convergence`) and σ (`sigma_convergence`); evidence: the units' `preferred_values`."
        )
    return f"Expected: {count} region(s) ({regions_rule_text(question.regions, names)}) × {years}, from `preferred_values`."


def regions_rule_text(rule: dict, names: dict[str, str]) -> str:
    """The region rule of a question in words."""
    if "children_of" in rule:
        parent = str(rule["children_of"])
        level = markdown_text(rule.get("level", "region"))
        return f"every {level} of {markdown_text(names.get(parent, parent))} {parent} in `regions.csv`"
    return ", ".join(f"{markdown_text(names.get(str(code), code))} {code}" for code in rule.get("codes", []))


def listed_value_lines(answers: Answers, question_code: str, catalog: pd.DataFrame) -> list[str]:
    """Every value of the question's listed indicators with method, flags, grade, publisher kind and publisher."""
    values = answers.values[answers.values["question_code"] == question_code]
    lines: list[str] = []
    for indicator_code, rows in values.groupby("indicator_code", sort=False):
        lines += [
            f"Every value of {markdown_text(catalog['name_zh'].get(indicator_code, ''))} `{indicator_code}` "
            "(`preferred_values`):",
            "",
            "| region | year | value | method | flags | grade | publisher kind | publisher | sources |",
            "|---|---:|---:|---|---|---|---|---|---|",
        ]
        for row in rows.itertuples(index=False):
            lines.append(
                f"| {markdown_text(answers.region_names.get(row.region_code, row.region_code))} | {row.year} | "
                f"{value_text(row.value)} | {METHOD_WORDS.get(row.method, row.method)} | {markdown_text(row.status) or '–'} | "
                f"{row.reliability} | {markdown_text(kind_label(row.publisher_kind))} | {markdown_text(row.publishers)} | "
                + "; ".join(f"`{part}`" for part in str(row.source_ids).split(";") if part)
                + " |"
            )
        lines.append("")
    return lines
