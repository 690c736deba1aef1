"""The sidecar texts the property test (test_sidecar_property.py) found crashing, each now a named InputError or read
correctly, on MADE-UP tables: control characters, lone surrogates, file names that are no file names, duplicate keys,
deep nesting, too many nodes, status selectors of the wrong kind and layout keys written with no value."""

from __future__ import annotations

import time

import pytest

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.sidecar import MAX_YAML_DEPTH, MAX_YAML_NODES, load_sidecar, read_sidecar_fields
from pipeline.ingest.sources import raw_folder_problems
from tests.support.tables import write_table
from tests.unit.ingest.test_reader import figures, read

CONTENT = "地区,年份,指标,数值\n广州市,2023,农村居民人均可支配收入,38000\n广州市,2022,农村居民人均可支配收入,37000\n"


def raised_problem(action) -> InputProblem:
    """The first problem of the InputError an action raises (the test fails if it raises nothing or something else)."""
    with pytest.raises(InputError) as caught:
        action()
    return caught.value.problems[0]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("\x1f", None),  # a control character PyYAML refuses before parsing
        ('title: "made \\0 up"\n', "title"),  # an escaped NUL inside a quoted text
        ('caveats: ["ok", "\\ud800"]\n', "caveats[1]"),  # a lone surrogate: not storable as UTF-8
    ],
)
def test_control_characters_and_lone_surrogates_are_an_error_naming_the_sidecar(tmp_path, text, where):
    path = write_table(tmp_path, "made_up", CONTENT)
    path.write_text(text, encoding="utf-8")
    problem = raised_problem(lambda: read_sidecar_fields(path))
    assert problem.file == str(path) and problem.rule in ("sidecar_yaml", "sidecar_text")
    if where:
        assert problem.column == where


@pytest.mark.parametrize("name", ["x" * 300 + ".csv", "../made_up.csv", "sub/made_up.csv", "."])
def test_a_file_entry_that_is_not_a_plain_file_name_is_an_error_not_an_os_error(tmp_path, name):
    path = write_table(tmp_path, "made_up", CONTENT, file=name)
    problem = raised_problem(lambda: load_sidecar(path, tmp_path))
    assert (problem.file, problem.rule) == (str(path), "sidecar_file_path")
    assert {item.rule for item in raw_folder_problems(tmp_path)} <= {"data_file_without_sidecar"}


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    path = write_table(tmp_path, "made_up", CONTENT)
    lines = path.read_text(encoding="utf-8").splitlines()
    unit = next(number for number, line in enumerate(lines) if line.startswith("unit:"))
    lines.insert(unit + 1, "unit: 万元")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problem = raised_problem(lambda: load_sidecar(path, tmp_path))
    assert (problem.rule, problem.column, problem.row) == ("sidecar_duplicate_key", "unit", unit + 2)
    assert f"lines {unit + 1} and {unit + 2}" in problem.message


def test_a_merge_key_overridden_in_its_mapping_is_not_a_duplicate(tmp_path):
    path = tmp_path / "merged.meta.yaml"
    path.write_text("base: &base {x: 1, y: 2}\nmapping:\n  <<: *base\n  x: 3\n", encoding="utf-8")
    assert read_sidecar_fields(path) == {"base": {"x": 1, "y": 2}, "mapping": {"x": 3, "y": 2}}


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 20_000])
def test_deep_nesting_is_refused_at_once(tmp_path, depth):
    path = tmp_path / "nested.meta.yaml"
    path.write_text("caveats: " + "[" * depth + "1" + "]" * depth + "\n", encoding="utf-8")
    started = time.perf_counter()
    problem = raised_problem(lambda: read_sidecar_fields(path))
    assert problem.rule == "sidecar_yaml_limit" and "nests deeper" in problem.message
    assert time.perf_counter() - started < 5  # a generous bound: refused as the scanner meets it, not after parsing


def test_too_many_nodes_are_refused(tmp_path):
    path = tmp_path / "wide.meta.yaml"
    path.write_text("caveats: [" + ", ".join(["1"] * (MAX_YAML_NODES + 1)) + "]\n", encoding="utf-8")
    problem = raised_problem(lambda: read_sidecar_fields(path))
    assert problem.rule == "sidecar_yaml_limit" and "nodes" in problem.message


@pytest.mark.parametrize(
    "rule",
    [
        {"status": "p", "years": [float("inf")]},
        {"status": "p", "years": [""]},
        {"status": "p", "years": [None]},
        {"status": "p", "cells": 5},
        {"status": "p", "labels": [["nested"]]},
        {"status": "p", "regions": [None]},
    ],
)
def test_status_selectors_of_the_wrong_kind_are_an_error_naming_the_rule(tmp_path, rule):
    path = write_table(tmp_path, "made_up", CONTENT, status=[rule])
    problem = raised_problem(lambda: read(path))
    assert (problem.file, problem.rule) == (str(path), "sidecar_status")
    assert "status rule 1" in problem.message


def test_a_year_selector_written_as_text_still_selects(tmp_path):
    path = write_table(tmp_path, "made_up", CONTENT, status=[{"status": "p", "years": ["2023"]}])
    assert figures(read(path))[("rural_disposable_income_per_capita", "440100", 2023)] == (38000.0, "p")


def test_a_layout_key_written_with_no_value_is_a_key_not_given(tmp_path):
    layout = {"kind": "long", "region_column": "地区", "year_column": "年份", "label_column": "指标"}
    path = write_table(tmp_path, "made_up", CONTENT, layout={**layout, "value_column": "数值", "header_rows": None})
    assert len(read(path)) == 2


def test_a_line_saved_in_gbk_is_named_with_its_text_and_utf16_is_not_suggested(tmp_path):
    path = write_table(tmp_path, "made_up", CONTENT)
    path.write_bytes(path.read_bytes() + "# 来源：统计局\n".encode("gbk"))
    problem = raised_problem(lambda: read_sidecar_fields(path))
    assert (
        problem.rule == "sidecar_encoding" and "that line decodes as GB18030/GBK ('# 来源：统计局')" in problem.message
    )
    assert "utf-16" not in problem.describe().lower()
    path.write_bytes(path.read_text(encoding="utf-8", errors="ignore").encode("gbk", errors="ignore"))
    assert "the whole file decodes as GB18030/GBK" in raised_problem(lambda: read_sidecar_fields(path)).message


def test_an_unreadable_sidecar_is_reported_itself_and_its_data_file_is_not_called_orphaned(tmp_path):
    path = write_table(tmp_path, "made_up", CONTENT)
    path.write_text("title: [unclosed\n", encoding="utf-8")
    found = {(problem.rule, problem.file) for problem in raw_folder_problems(tmp_path)}
    assert found == {("sidecar_yaml", str(path))}
