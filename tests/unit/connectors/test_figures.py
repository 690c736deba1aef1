"""Figures in prose: phrases → patterns, the printed value and sign, the page's visible text, the excerpt."""

from __future__ import annotations

import re

import pytest

from pipeline.connectors.figures import (
    excerpt_around,
    figure_specs,
    phrase_regex,
    printed_value,
    unread_decline,
    visible_text,
)

# A made-up sentence, not a statistic.
SENTENCE = "全区规模以上工业总产值1,234.50亿元,同比下降2.0%;规模以上工业增加值300.00亿元,同比增长1.5%。"


def test_visible_text_drops_scripts_styles_comments_and_tags_and_normalises_width():
    page = (
        "<html><head><script>var x='产值9亿元';</script><style>p{}</style></head><body><!-- 产值8亿元 -->"
        "<p>　　产值１２．５亿元，增长３％。</p><p>第二段&nbsp;文字</p></body></html>"
    )
    text = visible_text(page)
    assert "9亿元" not in text and "8亿元" not in text
    assert "产值12.5亿元,增长3%。" in text
    assert "第二段文字" in text
    assert "。\n第二段" in text  # paragraphs stay apart


@pytest.mark.parametrize(
    ("phrase", "value"),
    [
        ("规模以上工业总产值{value}亿元", "1234.50"),
        ("规模以上工业总产值…同比{direction}{value}%", "-2.0"),
        ("规模以上工业增加值…同比{direction}{value}%", "1.5"),
        ("规模以上工业增加值{value}亿元", "300.00"),
    ],
)
def test_a_phrase_finds_the_figure_as_printed_with_its_direction(phrase, value):
    match = re.search(phrase_regex(phrase), SENTENCE)
    assert match is not None
    assert printed_value(match) == value


@pytest.mark.parametrize(
    ("sentence", "value"),
    [("同比负增长0.5%。", "-0.5"), ("同比下降0.5%。", "-0.5"), ("同比增长0.5%。", "0.5"), ("同比增长-0.5%。", "-0.5")],
)
def test_a_printed_decline_is_a_minus_sign(sentence, value):
    match = re.search(phrase_regex("同比…{direction}{value}%"), sentence)
    assert match is not None and printed_value(match) == value


def test_a_decline_the_phrase_does_not_read_is_noticed():
    match = re.search(phrase_regex("同比…{value}%"), "同比下降0.5%。")
    assert match is not None and unread_decline(match) == "下降"
    rising = re.search(phrase_regex("同比…{value}%"), "同比增长0.5%。")
    assert rising is not None and unread_decline(rising) is None


def test_a_gap_never_crosses_a_clause_so_a_phrase_cannot_take_the_next_clause_figure():
    assert re.search(phrase_regex("规模以上工业总产值…增长{value}%"), SENTENCE) is None


def test_the_excerpt_is_the_sentence_around_the_match():
    start = SENTENCE.index("300.00")
    assert excerpt_around("前一句。" + SENTENCE + "后一句。", start + 4, start + 10) == SENTENCE


def test_figure_specs_name_every_problem_and_default_the_label_to_the_catalogue_name():
    specs, problems = figure_specs(
        "sources.made_up",
        [
            {
                "indicator": "gdp",
                "region_code": "440114",
                "year": 2024,
                "unit": "亿元",
                "phrase": "生产总值{value}亿元",
            },
            {"indicator": "gdp", "region_code": "440114", "year": 2024, "unit": "亿元", "pattern": "生产总值(\\d+)"},
        ],
    )
    assert [(spec.label, spec.region_name) for spec in specs] == [("地区生产总值", "花都区")]
    assert [problem.rule for problem in problems] == ["connectors_phrase"]
    assert "figures[2]" in problems[0].file
