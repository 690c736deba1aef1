"""What the dataset answers: computed from the tables (MADE-UP frames, tests/support/made_up_answers.py), it changes
when a row arrives, resolves regions by rule, and renders with each value's publisher kind."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.metadata import load_questions
from pipeline.publish.documents.answers import dataset_answers, missing_text, year_ranges
from pipeline.publish.documents.card import answers_lines
from pipeline.publish.documents.report import answers_section
from tests.support.made_up_answers import (
    ANSWER_CATALOG,
    CITIES_CONVERGING_QUESTION,
    CITY_RATIO_QUESTION,
    DISTRICT_GDP_QUESTION,
    made_up_answer_tables,
    made_up_preferred,
    preferred_row,
)

QUESTIONS = (CITY_RATIO_QUESTION, DISTRICT_GDP_QUESTION, CITIES_CONVERGING_QUESTION)


def summary_row(answers, question_code: str, indicator_code: str) -> dict:
    """The one summary row of a question and indicator."""
    rows = answers.summary[
        (answers.summary["question_code"] == question_code) & (answers.summary["indicator_code"] == indicator_code)
    ]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def test_a_missing_year_becomes_answered_when_its_row_arrives():
    before = summary_row(dataset_answers(QUESTIONS, made_up_answer_tables()), "city_ratio", "urban_rural_income_ratio")
    assert before["answered_years"] == [2020]
    assert before["missing"] == [("440100", [2021])] and before["missing_cells"] == 1
    assert before["reliability_counts"] == {"unofficial": 1} and before["publisher_kind_counts"] == {"news_report": 1}

    arriving = preferred_row(
        "urban_rural_income_ratio", "440100", 2021, 2.05, "derived", "made_up_bureau;made_up_news",
        "news_report;statistics_office", "unofficial",
    )  # fmt: skip
    answers = dataset_answers(QUESTIONS, made_up_answer_tables(made_up_preferred(arriving)))
    after = summary_row(answers, "city_ratio", "urban_rural_income_ratio")
    assert after["answered_years"] == [2020, 2021]
    assert after["missing"] == [] and after["missing_cells"] == 0
    assert after["publisher_kind_counts"] == {"news_report": 1, "news_report;statistics_office": 1}
    assert list(answers.values["year"]) == [2020, 2021]  # the listed values follow too


def test_regions_come_from_the_rule_and_missing_cells_name_region_and_years():
    answers = dataset_answers(QUESTIONS, made_up_answer_tables())
    gdp = summary_row(answers, "district_gdp", "gdp")
    assert gdp["regions_expected"] == 3 and gdp["regions_answered"] == 2  # 区一 区二 区三, children of 市甲
    assert gdp["missing"] == [("440103", [2021]), ("440104", [2021]), ("440111", [2020, 2021])]
    text = missing_text(gdp, answers.region_names)
    assert text == "4 of 6; no value at all for 1 of 3: 区三; 区一 2021; 区二 2021"
    assert gdp["reliability_counts"] == {"official": 2}


def test_a_dispersion_question_is_answered_by_the_dispersion_years_and_the_units_values():
    answers = dataset_answers(QUESTIONS, made_up_answer_tables())
    rows = answers.summary[answers.summary["question_code"] == "cities_converging"]
    # catalogue_flag: dispersion, without the complement rural_population_share
    assert list(rows["indicator_code"]) == ["urban_rural_income_ratio", "urbanisation_rate"]
    urbanisation = summary_row(answers, "cities_converging", "urbanisation_rate")
    assert urbanisation["answered_years"] == [2020] and urbanisation["missing"] == [("440000", [2021])]
    assert urbanisation["values"] == 5 and urbanisation["regions_expected"] == 5
    assert urbanisation["reliability_counts"] == {"official": 5}
    assert "β: no window" in urbanisation["finding"]
    ratio = summary_row(answers, "cities_converging", "urban_rural_income_ratio")
    assert ratio["values"] == 0 and ratio["answered_years"] == []

    later = dataset_answers(QUESTIONS, made_up_answer_tables(dispersion_years=(2020, 2021)))
    assert summary_row(later, "cities_converging", "urbanisation_rate")["answered_years"] == [2020, 2021]


def test_the_rendered_sections_label_each_value_with_its_publisher_kind():
    answers = dataset_answers(QUESTIONS, made_up_answer_tables())
    catalog = ANSWER_CATALOG.set_index("indicator_code")
    card = "\n".join(answers_lines(answers, catalog))
    assert card.startswith("## What the dataset answers")
    (listed,) = [line for line in card.splitlines() if line.startswith("| 市甲 | 2020 |")]
    assert "新闻报道 news report" in listed and "统计部门" not in listed and "某报" in listed
    assert "No value at all in the expected regions and years: 收入比 `urban_rural_income_ratio`." in card
    page = "\n".join(answers_section(answers, catalog))
    assert page.startswith('<section id="answers">')
    assert '<td class="publisher-kind" data-kind="news_report">新闻报道 news report</td>' in page
    assert '<td class="answered-years">2020</td>' in page


def test_an_unknown_indicator_or_region_names_the_question():
    from dataclasses import replace

    tables = made_up_answer_tables()
    with pytest.raises(ValueError, match=r"city_ratio.*no_such_code"):
        dataset_answers((replace(CITY_RATIO_QUESTION, indicators=["no_such_code"]),), tables)
    with pytest.raises(ValueError, match=r"city_ratio.*999999"):
        dataset_answers((replace(CITY_RATIO_QUESTION, regions={"codes": ["999999"]}),), tables)


def test_a_malformed_questions_file_names_file_entry_and_field(tmp_path):
    (tmp_path / "questions.yaml").write_text(
        "- question_code: q\n  question_zh: 问\n  question_en: q\n  table: values\n  indicators: [gdp]\n"
        "  regions: {codes: ['440100']}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"questions.yaml: question 1 \(q\): missing field\(s\) years"):
        load_questions(tmp_path)


def test_the_package_questions_load_and_resolve_against_the_package_metadata():
    from pipeline.core.metadata import load_indicator_catalog, load_regions
    from pipeline.publish.documents.answers import question_indicators, question_regions

    questions = load_questions()
    regions, catalog = load_regions(), load_indicator_catalog()
    assert {question.table for question in questions} == {"values", "dispersion"}
    for question in questions:
        assert question_indicators(question, catalog)
        assert question_regions(question, regions)
    districts = question_regions(next(q for q in questions if q.code == "district_industry"), regions)
    assert districts == sorted(
        regions[(regions["parent_code"] == "440100") & (regions["level"] == "district")]["region_code"]
    )


@pytest.mark.parametrize(
    ("years", "text"),
    [
        ([], "–"),
        ([2020], "2020"),
        ([2015, 2016, 2020, 2021, 2022], "2015–2016, 2020–2022"),
        ([2013, 2015], "2013, 2015"),
    ],
)
def test_years_are_written_as_compact_runs(years, text):
    assert year_ranges(years) == text


def test_values_of_other_regions_years_and_indicators_do_not_answer():
    stray = [
        preferred_row("urban_rural_income_ratio", "440103", 2021, 2.0, "published", "made_up_news", "news_report", "unofficial"),
        preferred_row("urban_rural_income_ratio", "440100", 2019, 2.0, "published", "made_up_news", "news_report", "unofficial"),
        preferred_row("gdp", "440100", 2021, 9.0, "published", "made_up_bureau", "statistics_office", "official", ""),
    ]  # fmt: skip
    answers = dataset_answers(QUESTIONS, made_up_answer_tables(pd.DataFrame(made_up_preferred(*stray))))
    assert summary_row(answers, "city_ratio", "urban_rural_income_ratio")["answered_years"] == [2020]
