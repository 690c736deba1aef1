"""Issue 20's misleading messages, on MADE-UP tables: an unclosed quote is named where it opens, and a file split by
another separator than the sidecar declares is told so (not sent to check its encoding)."""

from __future__ import annotations

import pytest

from pipeline.core.errors import InputError, InputProblem
from tests.support.tables import LONG_LAYOUT_WITH_UNIT, write_table
from tests.unit.ingest.test_reader import figures, read

HEADER = "地区,年份,指标,数值\n"
ROWS = [f"广州市,{year},农村居民人均可支配收入,{30000 + year}\n" for year in range(2015, 2024)]


def raised_problem(sidecar_path) -> InputProblem:
    """The one problem of the InputError that reading the table raises."""
    with pytest.raises(InputError) as caught:
        read(sidecar_path)
    [problem] = caught.value.problems
    return problem


def test_an_unclosed_quote_is_named_on_the_line_and_cell_where_it_opens_not_at_the_end_of_the_file(tmp_path):
    rows = list(ROWS)
    rows[2] = '广州市,2017,"农村居民人均可支配收入,32017\n'  # the quote opens on line 4, field C, and never closes
    path = write_table(tmp_path, "made_up", HEADER + "".join(rows))
    problem = raised_problem(path)
    assert (problem.file, problem.rule, problem.row, problem.cell) == ("made_up.csv", "csv_unclosed_quote", 4, "C4")
    assert "end of the file" in problem.message and '"农村居民人均可支配收入,32017' in problem.message
    assert "row 4 (cell C4)" in problem.describe()


def test_a_quote_closed_lines_later_is_named_where_it_opens_and_where_the_reader_gave_up(tmp_path):
    rows = list(ROWS)
    rows[1] = '广州市,2016,农村居民人均可支配收入,"31016\n'  # opens on line 3, field D
    rows[5] = '广州市,2020,农村居民人均"可支配收入,32020\n'  # a stray quote on line 7 closes it, followed by text
    path = write_table(tmp_path, "made_up", HEADER + "".join(rows))
    problem = raised_problem(path)
    assert (problem.rule, problem.row, problem.cell) == ("csv_unclosed_quote", 3, "D3")
    assert "on line 7" in problem.message


def test_a_quoted_cell_with_a_doubled_quote_and_a_separator_reads(tmp_path):
    content = HEADER + '广州市,2023,"农村居民人均可支配收入",38000\n' + '广州市,2022,"农村居民人均可支配收入",37000\n'
    path = write_table(tmp_path, "made_up", content)
    assert figures(read(path))[("rural_disposable_income_per_capita", "440100", 2023)] == (38000.0, "")
    quoted = HEADER + '广州市,2023,农村居民人均可支配收入,38000\n"说明 ""甲"", 乙",2023,x,1\n'
    path = write_table(tmp_path, "made_up_quoted", quoted, skip_regions=['说明 "甲", 乙'])
    assert len(read(path)) == 1


def test_a_bad_quote_on_one_line_keeps_the_syntax_message_with_its_row(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROWS[0] + '广州市,2016,"农村居民"人均,31016\n')
    problem = raised_problem(path)
    assert (problem.rule, problem.row) == ("csv_syntax", 3)


@pytest.mark.parametrize(
    ("separator", "named"), [(";", "';'-separated"), ("\t", "tab-separated"), ("|", "'|'-separated")]
)
def test_a_file_split_by_another_separator_gets_a_separator_hint_not_an_encoding_hint(tmp_path, separator, named):
    content = (HEADER + "".join(ROWS)).replace(",", separator)
    path = write_table(tmp_path, "made_up", content)
    problem = raised_problem(path)
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "header_not_found", 1)
    assert f"the file is {named}" in problem.message and "encoding" not in problem.describe()
    assert "declares the separator ','" in problem.message
    assert "delimiter: " in (problem.expected or "")


def test_a_separator_hint_with_a_numbered_header_row(tmp_path):
    content = ("标题\n" + HEADER + "".join(ROWS)).replace(",", ";")
    layout = {**LONG_LAYOUT_WITH_UNIT, "header_row": 2}
    del layout["unit_column"]
    path = write_table(tmp_path, "made_up", content, layout=layout)
    problem = raised_problem(path)
    assert (problem.rule, problem.row) == ("missing_column", 2)
    assert "the file is ';'-separated" in problem.message


def test_a_semicolon_file_with_its_delimiter_declared_reads(tmp_path):
    content = (HEADER + "".join(ROWS)).replace(",", ";")
    path = write_table(tmp_path, "made_up", content, delimiter=";")
    staged = read(path)
    assert figures(staged)[("rural_disposable_income_per_capita", "440100", 2023)] == (32023.0, "")
    assert len(staged) == len(ROWS)


def test_a_comma_file_declared_semicolon_is_told_it_is_comma_separated(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + "".join(ROWS), delimiter=";")
    problem = raised_problem(path)
    assert "the file is ','-separated" in problem.message and "declares the separator ';'" in problem.message
