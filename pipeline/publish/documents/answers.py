"""What the dataset answers: the mission's questions (questions.yaml) answered from the published tables.

For each question and each of its indicators: the years and regions answered, how many values, the grades
(`reliability`) and publisher kinds of the evidence (counted, as the grading rule of pipeline/validate/grades.py set
them in `preferred_values`), and the expected region × year cells with no value. A `dispersion` question is answered
from `dispersion` (a year is answered when the units under the parent have a dispersion, i.e. at least 5 of them a
value), its evidence is the units' preferred values, and its finding is the β window and σ trend of the same units.
Nothing here is written by hand: a row arriving in the tables changes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.core.metadata import Question
from pipeline.indicators.units import unit_sets
from pipeline.validate.grades import PUBLISHER_KINDS, RELIABILITY_GRADES, source_grades

SUMMARY_COLUMNS = [
    "question_code",
    "indicator_code",
    "regions_expected",
    "regions_answered",
    "years_expected",
    "answered_years",
    "values",
    "reliability_counts",
    "publisher_kind_counts",
    "missing_cells",
    "cells_expected",
    "missing",
    "finding",
]
VALUE_COLUMNS = [
    "question_code",
    "indicator_code",
    "region_code",
    "year",
    "value",
    "unit",
    "method",
    "status",
    "reliability",
    "publisher_kind",
    "publishers",
    "source_ids",
]
# Dispersion measures whose σ trend answers "converging?", best first (logit_sd for bounded shares).
SIGMA_MEASURES = ["logit_sd", "cv", "gini", "theil", "weighted_cv"]
UNKNOWN_KIND = ("来源类型未知", "unknown publisher kind")
METHOD_WORDS = {"derived": "推算 derived here", "published": "公布 published"}


@dataclass(frozen=True)
class Answers:
    """The questions, one summary row per question and indicator, and the values listed for `list_values`."""

    questions: tuple[Question, ...]
    summary: pd.DataFrame
    values: pd.DataFrame
    region_names: dict[str, str]


def dataset_answers(questions: tuple[Question, ...], tables: dict[str, pd.DataFrame]) -> Answers:
    """Answer every question from the published tables (preferred_values, regions, indicator_catalog, sources, …)."""
    regions = tables["regions"].astype({"region_code": "str"})
    catalog = tables["indicator_catalog"]
    preferred = tables["preferred_values"]
    publishers = tables["sources"].astype({"source_id": "str"}).set_index("source_id")["publisher"].astype(str)
    summary, listed = [], []
    for question in questions:
        codes = question_indicators(question, catalog)
        expected = question_regions(question, regions)
        years = list(range(question.first_year, question.last_year + 1))
        # One pass over the whole table per question; the per-indicator filters then run on the few rows left.
        candidates = text_frame(
            preferred[preferred["region_code"].isin(expected) & preferred["indicator_code"].isin(codes)]
        )
        for indicator_code in codes:
            if question.table == "dispersion":
                summary.append(dispersion_answer(question, indicator_code, expected, years, candidates, tables))
            else:
                rows = question_values(candidates, indicator_code, expected, years)
                summary.append(values_answer(question, indicator_code, expected, years, rows))
                if indicator_code in question.list_values:
                    listed.append(listed_values(question, rows, publishers))
    values = pd.concat(listed, ignore_index=True) if listed else pd.DataFrame(columns=VALUE_COLUMNS)
    names = dict(zip(regions["region_code"], regions["name_zh"].astype(str), strict=True))
    return Answers(questions, pd.DataFrame(summary, columns=SUMMARY_COLUMNS), values, names)


def answer_rows(
    questions: tuple[Question, ...], regions: pd.DataFrame, catalog: pd.DataFrame
) -> dict[str, dict[str, list[str]]]:
    """The rows the answers use of each large table, as column → values: a superset, the answers filter again.

    preferred_values: the questions' expected regions and indicators; dispersion, convergence and σ: the dispersion
    questions' indicators, parents and unit levels (resolved from regions.csv and the catalogue as the answers do).
    """
    regions = regions.astype({"region_code": "str"})
    value_regions: set[str] = set()
    value_codes: set[str] = set()
    parents: set[str] = set()
    unit_levels: set[str] = set()
    unit_codes: set[str] = set()
    for question in questions:
        codes = question_indicators(question, catalog)
        value_regions.update(question_regions(question, regions))
        value_codes.update(codes)
        if question.table == "dispersion":
            parents.add(str(question.regions["parent"]))
            unit_levels.add(str(question.regions["unit_level"]))
            unit_codes.update(codes)
    of_units_rows: dict[str, list[str]] = {
        "indicator_code": sorted(unit_codes),
        "parent_region_code": sorted(parents),
        "unit_level": sorted(unit_levels),
    }
    return {
        "preferred_values": {"region_code": sorted(value_regions), "indicator_code": sorted(value_codes)},
        "dispersion": of_units_rows,
        "convergence": of_units_rows,
        "sigma_convergence": of_units_rows,
    }


def text_frame(preferred: pd.DataFrame) -> pd.DataFrame:
    """preferred_values with its text columns as plain strings (Parquet may hand them over as categoricals)."""
    texts = ["indicator_code", "region_code", "method", "status", "source_ids", "publisher_kind", "reliability", "unit"]
    return preferred.astype({column: "str" for column in texts if column in preferred}).astype({"year": "int64"})


def question_indicators(question: Question, catalog: pd.DataFrame) -> list[str]:
    """The question's indicator codes: its list, or every catalogue indicator with the named flag (no complements)."""
    known = set(catalog["indicator_code"].astype(str))
    spec = question.indicators
    if isinstance(spec, dict):
        flag = str(spec.get("catalogue_flag", ""))
        if flag not in catalog:
            raise ValueError(f"questions.yaml {question.code}: catalogue_flag {flag!r} is not a catalogue field")
        chosen = catalog[catalog[flag].astype(bool) & catalog["complement_of"].fillna("").astype(str).eq("")]
        return [str(code) for code in chosen["indicator_code"]]
    codes = [str(code) for code in spec] if isinstance(spec, list) else []
    unknown = [code for code in codes if code not in known]
    if not codes or unknown:
        raise ValueError(f"questions.yaml {question.code}: unknown or no indicator code(s) {unknown or spec}")
    return codes


def question_regions(question: Question, regions: pd.DataFrame) -> list[str]:
    """The regions a question expects, resolved from regions.csv by its rule (codes, children_of, parent)."""
    rule = question.regions
    if "codes" in rule:
        codes = [str(code) for code in rule["codes"]]
    elif "children_of" in rule:
        children = regions[regions["parent_code"].astype(str) == str(rule["children_of"])]
        if rule.get("level"):
            children = children[children["level"] == str(rule["level"])]
        codes = sorted(children["region_code"])
    elif "parent" in rule:
        sets = unit_sets(regions)
        chosen = sets[
            (sets["parent_region_code"] == str(rule["parent"])) & (sets["unit_level"] == str(rule["unit_level"]))
        ]
        codes = sorted(chosen["region_code"])
    else:
        raise ValueError(f"questions.yaml {question.code}: regions needs codes, children_of or parent, got {rule}")
    unknown = sorted(set(codes) - set(regions["region_code"]))
    if not codes or unknown:
        raise ValueError(
            f"questions.yaml {question.code}: the region rule {rule} gives no or unknown regions {unknown}"
        )
    return codes


def question_values(preferred: pd.DataFrame, indicator_code: str, regions: list[str], years: list[int]) -> pd.DataFrame:
    """The preferred values of one indicator in the expected regions and years."""
    rows = preferred[
        (preferred["indicator_code"] == indicator_code)
        & preferred["region_code"].isin(regions)
        & preferred["year"].isin(years)
        & preferred["value"].notna()
    ]
    return rows.sort_values(["region_code", "year"])


def values_answer(
    question: Question, indicator_code: str, regions: list[str], years: list[int], rows: pd.DataFrame
) -> dict:
    """One summary row of a `values` question: answered years and regions, evidence counts, missing cells."""
    present = set(zip(rows["region_code"], rows["year"], strict=True))
    missing = [(region, [year for year in years if (region, year) not in present]) for region in regions]
    missing = [(region, absent) for region, absent in missing if absent]
    return {
        "question_code": question.code,
        "indicator_code": indicator_code,
        "regions_expected": len(regions),
        "regions_answered": int(rows["region_code"].nunique()),
        "years_expected": years,
        "answered_years": sorted({int(year) for year in rows["year"]}),
        "values": len(rows),
        "reliability_counts": grade_counts(rows["reliability"]),
        "publisher_kind_counts": kind_counts(rows["publisher_kind"]),
        "missing_cells": sum(len(absent) for _, absent in missing),
        "cells_expected": len(regions) * len(years),
        "missing": missing,
        "finding": "",
    }


def dispersion_answer(
    question: Question,
    indicator_code: str,
    units: list[str],
    years: list[int],
    preferred: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
) -> dict:
    """One summary row of a `dispersion` question: years with a dispersion, the units' evidence, β and σ findings."""
    parent, unit_level = str(question.regions["parent"]), str(question.regions["unit_level"])
    dispersion = of_units(tables["dispersion"], indicator_code, parent, unit_level)
    answered = sorted({int(year) for year in dispersion["year"] if int(year) in years})
    evidence = question_values(preferred, indicator_code, units, answered)
    absent = [year for year in years if year not in answered]
    return {
        "question_code": question.code,
        "indicator_code": indicator_code,
        "regions_expected": len(units),
        "regions_answered": int(evidence["region_code"].nunique()),
        "years_expected": years,
        "answered_years": answered,
        "values": len(evidence),
        "reliability_counts": grade_counts(evidence["reliability"]),
        "publisher_kind_counts": kind_counts(evidence["publisher_kind"]),
        "missing_cells": len(absent),
        "cells_expected": len(years),
        "missing": [(parent, absent)] if absent else [],
        "finding": convergence_finding(tables, indicator_code, parent, unit_level) if answered else "",
    }


def of_units(table: pd.DataFrame, indicator_code: str, parent: str, unit_level: str) -> pd.DataFrame:
    """The rows of a dispersion, convergence or σ table for one indicator and one set of units."""
    return table[
        (table["indicator_code"].astype(str) == indicator_code)
        & (table["parent_region_code"].astype(str) == parent)
        & (table["unit_level"].astype(str) == unit_level)
    ]


def convergence_finding(tables: dict[str, pd.DataFrame], indicator_code: str, parent: str, unit_level: str) -> str:
    """The β of the longest window and the σ trend of the same units, with p-values, as one line."""
    parts = []
    betas = of_units(tables["convergence"], indicator_code, parent, unit_level)
    longest = betas[betas["window_kind"].astype(str).str.contains("longest", regex=False)]
    if longest.empty:
        parts.append("β: no window (needs ≥5 units with values at both ends)")
    else:
        row = longest.sort_values(["start_year", "end_year"]).iloc[-1]
        parts.append(
            f"β {row['start_year']}–{row['end_year']} {row['beta']:+.3f} ({row['scale']}, n {row['n_units']}, "
            f"p {row['p_value']:.3f}): {beta_reading(row)}"
        )
    sigmas = of_units(tables["sigma_convergence"], indicator_code, parent, unit_level)
    for measure in SIGMA_MEASURES:
        trend = sigmas[sigmas["measure"].astype(str) == measure]
        if not trend.empty:
            row = trend.iloc[0]
            parts.append(
                f"σ ({measure}) {row['start_year']}–{row['end_year']}: {row['reading']} (p {row['p_value']:.3f})"
            )
            break
    else:
        parts.append("σ: no trend tested (needs ≥3 years with the same units)")
    return "; ".join(parts)


def beta_reading(row: pd.Series) -> str:
    """converging / diverging when β is significant at 5 %, else no significant β."""
    if not bool(row["significant_at_5pct"]):
        return "no significant β"
    return "converging" if float(row["beta"]) < 0 else "diverging"


def grade_counts(grades: pd.Series) -> dict[str, int]:
    """How many values of each reliability grade, best grade first."""
    counts = grades.astype(str).value_counts()
    order = [grade for grade in RELIABILITY_GRADES if grade in counts] + sorted(
        set(counts.index) - set(RELIABILITY_GRADES)
    )
    return {grade: int(counts[grade]) for grade in order}


def kind_counts(kinds: pd.Series) -> dict[str, int]:
    """How many values rest on each publisher kind or combination of kinds (a derived value: its inputs' kinds)."""
    counts = (
        kinds.astype(str).map(lambda text: ";".join(sorted(part for part in text.split(";") if part))).value_counts()
    )
    return {str(kind): int(count) for kind, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))}


def listed_values(question: Question, rows: pd.DataFrame, publishers: pd.Series) -> pd.DataFrame:
    """Every value of a listed indicator with its method, grade, publisher kind and the publishers of its sources."""
    names = [
        "; ".join(dict.fromkeys(str(publishers.get(part, part)) for part in str(ids).split(";") if part))
        for ids in rows["source_ids"]
    ]
    return rows.assign(question_code=question.code, publishers=names)[VALUE_COLUMNS].reset_index(drop=True)


def source_publisher_kinds(source_ids: pd.Series, sources: pd.DataFrame) -> list[str]:
    """Per ';'-separated source ids: the ';'-joined publisher kinds of those sources (the grading rule's kinds)."""
    kinds = source_grades(sources)["publisher_kind"]
    return [
        ";".join(sorted({str(kinds.get(part, "unknown")) for part in str(ids).split(";") if part})) or "unknown"
        for ids in source_ids
    ]


def year_ranges(years: list[int]) -> str:
    """Years as compact runs: [2015, 2016, 2020, 2021, 2022] → '2015–2016, 2020–2022' ('–' when none)."""
    if not years:
        return "–"
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


def kind_label(kinds: str) -> str:
    """Publisher kind(s) in words, Chinese and English: 'news_report;statistics_office' → '新闻报道 news report + …'."""
    parts = [part for part in str(kinds).split(";") if part]
    return " + ".join(" ".join(PUBLISHER_KINDS.get(part, UNKNOWN_KIND)) for part in parts) or "–"


def grade_text(counts: dict[str, int]) -> str:
    """Reliability counts as text: 'official 3, unofficial 2' ('–' when none)."""
    return ", ".join(f"{grade} {count}" for grade, count in counts.items()) or "–"


def kind_text(counts: dict[str, int]) -> str:
    """Publisher kind counts as text: '新闻报道 news report 2; 研究汇编 research compilation 1'."""
    return "; ".join(f"{kind_label(kind)} {count}" for kind, count in counts.items()) or "–"


def missing_text(row: dict | pd.Series, names: dict[str, str]) -> str:
    """The expected cells with no value: how many, the regions with none at all, then each region's missing years."""
    if not row["missing_cells"]:
        return "none"
    all_years = list(row["years_expected"])
    empty = [region for region, absent in row["missing"] if list(absent) == all_years]
    partial = [(region, absent) for region, absent in row["missing"] if list(absent) != all_years]
    parts = [f"{row['missing_cells']} of {row['cells_expected']}"]
    if empty and row["regions_expected"] > 1:
        parts.append(
            f"no value at all for {len(empty)} of {row['regions_expected']}: "
            + " ".join(names.get(code, code) for code in empty)
        )
    elif empty:
        parts.append(f"{names.get(empty[0], empty[0])} {year_ranges(all_years)}")
    parts += [f"{names.get(region, region)} {year_ranges(list(absent))}" for region, absent in partial]
    return "; ".join(parts)


def value_text(value: float) -> str:
    """A value as printed in the answers: thousands without decimals, smaller values to at most 3 decimals."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}".rstrip("0").rstrip(".")
