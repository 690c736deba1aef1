"""Every kind of bad input gets an error naming the file, row, column, rule and what was expected."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.metadata import load_indicator_catalog, load_regions, load_units, region_name_lookup
from pipeline.defs.validate import schema_check_result
from pipeline.ingest.reader import model, read_source_table
from pipeline.ingest.reader.model import STAGED_COLUMNS
from pipeline.ingest.sidecar import MAX_FILE_BYTES, load_sidecar, rehash_sidecar
from pipeline.validate.observations import describe_excess, parts_exceeding_totals
from pipeline.validate.schemas import observation_schema
from tests.support.paths import REPO_ROOT
from tests.support.tables import (
    LONG_LAYOUT,
    LONG_LAYOUT_WITH_UNIT,
    corrupt_one_figure,
    write_sidecar_fields,
    write_table,
)
from tests.unit.ingest.test_reader import read, write_workbook_table

HEADER = "地区,年份,指标,数值\n"
ROW = "广州市,2023,农村居民人均可支配收入,38000\n"


def problems_of(sidecar_path: Path, **read_options) -> list[InputProblem]:
    """The problems a made-up table raises when loaded and read; fails the test when it reads cleanly."""
    with pytest.raises(InputError) as caught:
        read(sidecar_path, **read_options)
    problems = caught.value.problems
    for problem in problems:
        assert problem.rule and problem.message
        assert problem.describe().startswith(problem.file)
    return problems


def only_problem(sidecar_path: Path, **read_options) -> InputProblem:
    """The single problem a made-up table raises."""
    problems = problems_of(sidecar_path, **read_options)
    assert len(problems) == 1, [problem.describe() for problem in problems]
    return problems[0]


def test_empty_file(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", b""))
    assert (problem.file, problem.rule) == ("made_up.csv", "empty_file")
    assert problem.expected


def test_file_of_blank_lines(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", "\n \n\u3000\n"))
    assert (problem.file, problem.rule) == ("made_up.csv", "empty_file")


def test_header_only(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", "MADE-UP 标题\n单位：元\n" + HEADER))
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "no_data_rows", 3)
    assert "data row" in problem.expected


def test_declared_encoding_that_does_not_decode(tmp_path):
    content = (HEADER + ROW + "广州市,2022,农村居民人均可支配收入,36000\n").encode("gbk")
    problem = only_problem(write_table(tmp_path, "made_up", content, encoding="utf-8"))
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "encoding", 1)
    assert "does not decode as utf-8" in problem.message and "gb18030" in problem.message
    assert "declared encoding utf-8" in problem.expected


def test_declared_gbk_for_a_utf8_file_is_refused_not_read_as_mojibake(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", (HEADER + ROW).encode("utf-8"), encoding="gbk"))
    assert (problem.file, problem.rule) == ("made_up.csv", "encoding")
    assert "utf-8" in problem.message


def test_encoding_auto_refuses_what_it_cannot_confirm(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", "名称,值\n甲,1\n".encode("gbk"), encoding="auto"))
    assert (problem.rule, problem.file) == ("encoding", "made_up.csv")
    assert "cannot be confirmed" in problem.message
    undecodable = write_table(tmp_path, "other", b"\x81\x20\xff\xfe\x00", encoding="auto")
    assert only_problem(undecodable).rule == "encoding"


def test_sha256_in_sidecar_does_not_match_the_file(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    (tmp_path / "made_up.csv").write_text(HEADER + ROW.replace("38000", "39000"), encoding="utf-8")
    problem = only_problem(path)
    assert problem.rule == "sha256_mismatch"
    assert problem.file.endswith("made_up.csv")
    assert "rehash" in problem.expected


@pytest.mark.parametrize("field", ["url_kind", "sha256", "licence", "labels", "layout", "encoding"])
def test_sidecar_missing_a_required_field(tmp_path, field):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    del fields[field]
    write_sidecar_fields(path, fields)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == (str(path), "sidecar_required_field")
    assert field in problem.message and problem.expected


@pytest.mark.parametrize("file_name", ["../outside.csv", "{tmp_path}/outside.csv", "sub/../../outside.csv"])
def test_sidecar_naming_a_path_outside_raw(tmp_path, file_name):
    raw_dir = tmp_path / "raw"
    file_name = file_name.format(tmp_path=tmp_path)
    (tmp_path / "outside.csv").write_text(HEADER + ROW, encoding="utf-8")
    path = write_table(raw_dir, "made_up", HEADER + ROW, file=file_name)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == (str(path), "sidecar_file_path")
    assert "outside" in problem.message


def test_duplicate_rows(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW + ROW))
    assert (problem.file, problem.rule, problem.row, problem.column, problem.cell) == (
        "made_up.csv",
        "duplicate_row",
        3,
        "数值",
        "D3",
    )
    assert "first at row 2" in problem.message


def test_duplicate_header_columns(tmp_path):
    content = "指标,单位,2022,2022\n农村居民人均可支配收入,元,1,2\n"
    path = write_table(
        tmp_path, "made_up", content, layout={"kind": "wide", "label_column": "指标", "region": "广东省"}
    )
    problem = only_problem(path)
    assert (problem.rule, problem.row, problem.column) == ("duplicate_column", 1, "2022")


def test_unknown_region_name(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("广州市", "广州新区")))
    assert (problem.file, problem.rule, problem.row, problem.column, problem.cell) == (
        "made_up.csv",
        "unknown_region",
        2,
        "地区",
        "D2",
    )
    assert "region_aliases.csv" in problem.expected


def test_region_merged_away_is_not_silently_added_to_its_successor(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + "萝岗区,2012,农村居民人均可支配收入,100\n"))
    assert (problem.rule, problem.row, problem.column) == ("former_region", 2, "地区")
    assert "440116" in problem.message and "黄埔区" in problem.message and "skip_regions" in problem.expected


def test_unknown_row_label(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("可支配收入", "纯收入")))
    assert (problem.file, problem.rule, problem.row, problem.column) == ("made_up.csv", "unknown_label", 2, "指标")
    assert "农村居民人均可支配收入" in problem.expected


def test_label_mapped_to_an_indicator_missing_from_the_catalogue(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW, labels={"农村居民人均可支配收入": "rural_income_typo"})
    problem = only_problem(path)
    assert (problem.file, problem.rule, problem.column) == (str(path), "unknown_indicator", "labels")
    assert "rural_income_typo" in problem.message and "indicators.yaml" in problem.message


@pytest.mark.parametrize("text", ["abc", "38000元", "3,80,00", "约38000"])
def test_text_in_a_numeric_cell(tmp_path, text):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("38000", f'"{text}"')))
    assert (problem.file, problem.rule, problem.row, problem.column, problem.cell) == (
        "made_up.csv",
        "numeric_cell",
        2,
        "数值",
        "D2",
    )
    assert "placeholder" in problem.expected


def plausibility_failures(staged: pd.DataFrame) -> str:
    """The description of the observations schema check (plausible ranges) on a read table, as the pipeline runs it."""
    schema = observation_schema(list(load_regions()["region_code"]), load_indicator_catalog())
    result = schema_check_result(schema, staged, "observations")
    assert not result.passed
    return result.description


def test_negative_income(tmp_path):
    staged = read(write_table(tmp_path, "made_up", HEADER + ROW.replace("38000", "-38000")))
    description = plausibility_failures(staged)
    assert "made_up.csv, row 2" in description and "-38000" in description
    assert "valid_min" in description or "value_in_plausible_range" in description


@pytest.mark.parametrize("ratio", ["0.8", "12.5"])
def test_ratio_outside_its_plausible_range(tmp_path, ratio):
    content = f"地区,年份,指标,数值,单位\n广东省,2023,城乡居民收入比,{ratio},比值\n"
    path = write_table(
        tmp_path,
        "made_up",
        content,
        unit="比值",
        labels={"城乡居民收入比": "urban_rural_income_ratio"},
        layout=LONG_LAYOUT_WITH_UNIT,
    )
    description = plausibility_failures(read(path))
    assert "made_up.csv, row 2" in description and ratio in description
    assert "valid_min" in description or "value_in_plausible_range" in description


@pytest.mark.parametrize("year", ["2031", "1948年"])
def test_year_in_the_future_or_before_1949_in_a_year_column(tmp_path, year):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("2023", year)))
    assert (problem.file, problem.rule, problem.row, problem.column) == ("made_up.csv", "year_range", 2, "年份")
    assert "1949" in problem.expected


def test_year_in_the_future_in_a_wide_header(tmp_path):
    content = "指标,2026,2027年\n农村居民人均可支配收入,1,2\n"
    path = write_table(
        tmp_path, "made_up", content, layout={"kind": "wide", "label_column": "指标", "region": "广东省"}
    )
    problem = only_problem(path)
    assert (problem.rule, problem.row, problem.column, problem.cell) == ("year_range", 2, "2027年", "C2")


def test_unparseable_year(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("2023", "二〇二三")))
    assert (problem.rule, problem.row, problem.column) == ("year_format", 2, "年份")


@pytest.mark.parametrize("unit_line", ["单位：万元", "(亿元)", "（万元）", "表1 MADE UP 单位: 万元"])
def test_unit_line_that_differs_from_the_sidecar(tmp_path, unit_line):
    path = write_table(tmp_path, "made_up", f"MADE-UP 表1\n{unit_line}\n{HEADER}{ROW}")
    problem = only_problem(path)
    assert (problem.file, problem.rule, problem.row, problem.cell) == ("made_up.csv", "unit_line_mismatch", 2, "A2")
    assert "元" in problem.message and "sidecar" in problem.expected


def test_unit_line_naming_an_unknown_unit(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", f"单位：万美元\n{HEADER}{ROW}"))
    assert (problem.rule, problem.row) == ("unknown_unit", 1)


def test_percent_sign_in_a_money_row(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("38000", "38%")))
    assert (problem.rule, problem.row, problem.column) == ("unit_mismatch", 2, "数值")


def test_truncated_xlsx(tmp_path):
    path = write_workbook_table(
        tmp_path,
        "made_up",
        [["地区", "年份", "指标", "数值"], ["广州市", 2023, "农村居民人均可支配收入", 38000]],
        layout=long_layout(),
    )
    data = (tmp_path / "made_up.xlsx").read_bytes()
    (tmp_path / "made_up.xlsx").write_bytes(data[: len(data) // 2])
    rehash_sidecar(path)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == ("made_up.xlsx", "xlsx_corrupt")
    assert "truncated" in problem.expected


def test_corrupt_xlsx(tmp_path):
    path = write_workbook_table(tmp_path, "made_up", [["地区"]], layout=long_layout())
    with zipfile.ZipFile(tmp_path / "made_up.xlsx", "w") as archive:
        archive.writestr("[Content_Types].xml", "MADE UP: not a workbook")
    rehash_sidecar(path)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == ("made_up.xlsx", "xlsx_corrupt")


def test_xlsx_with_several_sheets_and_none_named(tmp_path):
    rows = [["地区", "年份", "指标", "数值"], ["广州市", 2023, "农村居民人均可支配收入", 38000]]
    path = write_workbook_table(tmp_path, "made_up", rows, other_sheets=("附表",), layout=long_layout())
    fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    del fields["sheet"]
    write_sidecar_fields(path, fields)
    problem = only_problem(path)
    assert (problem.rule, problem.column) == ("xlsx_sheet", "sheet")
    assert "附表" in problem.expected


def test_xlsx_naming_a_missing_sheet(tmp_path):
    rows = [["地区", "年份", "指标", "数值"], ["广州市", 2023, "农村居民人均可支配收入", 38000]]
    path = write_workbook_table(tmp_path, "made_up", rows, layout=long_layout())
    fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    fields["sheet"] = "表9"
    write_sidecar_fields(path, fields)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == ("made_up.xlsx", "xlsx_sheet")


def test_xlsx_formula_without_a_saved_value(tmp_path):
    rows = [["地区", "年份", "指标", "数值"], ["广州市", 2023, "农村居民人均可支配收入", "=1+1"]]
    problem = only_problem(write_workbook_table(tmp_path, "made_up", rows, layout=long_layout()))
    assert (problem.file, problem.rule, problem.row, problem.cell) == ("made_up.xlsx", "xlsx_formula", 2, "D2")


def test_csv_over_the_size_limit_is_refused_before_hashing(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    with (tmp_path / "made_up.csv").open("r+b") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no 20 MiB written
    problem = only_problem(path)
    assert problem.rule == "file_size" and problem.file.endswith("made_up.csv")
    assert "20 MiB" in problem.expected


def test_xlsx_expanding_over_the_size_limit(tmp_path, monkeypatch):
    rows = [["地区", "年份", "指标", "数值"], ["广州市", 2023, "农村居民人均可支配收入", 38000]]
    path = write_workbook_table(tmp_path, "made_up", rows, layout=long_layout())
    monkeypatch.setattr(model, "MAX_XLSX_UNCOMPRESSED_BYTES", 1000)
    problem = only_problem(path)
    assert (problem.file, problem.rule) == ("made_up.xlsx", "file_size")


def test_table_over_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(model, "MAX_ROWS", 2)
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW + ROW.replace("2023", "2022")))
    assert (problem.file, problem.rule) == ("made_up.csv", "table_size")


def test_row_wider_than_the_header(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW.replace("\n", ",7\n")))
    assert (problem.rule, problem.row, problem.cell) == ("ragged_row", 2, "E2")


def test_header_row_not_found(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", "区域,年度,项目,值\n广州市,2023,农村,1\n"))
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "header_not_found", 1)


def test_malformed_csv_quoting(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + '广州市,2023,"农村居民人均可支配收入"x,1\n'))
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "csv_syntax", 2)


@pytest.mark.parametrize(
    ("rule", "expected_rule"),
    [
        ({"status": "q"}, "sidecar_status"),
        ({"status": "e", "year": [2023]}, "sidecar_status"),
        ({"status": "e", "cells": ["D2-D9"]}, "sidecar_status"),
    ],
)
def test_malformed_status_rules(tmp_path, rule, expected_rule):
    path = write_table(tmp_path, "made_up", HEADER + ROW, status=[rule])
    problem = only_problem(path)
    assert (problem.file, problem.rule) == (str(path), expected_rule)


def test_status_rule_that_selects_nothing(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW, status=[{"status": "e", "years": [1999]}])
    problem = only_problem(path)
    assert (problem.file, problem.rule, problem.column) == (str(path), "status_rule_unmatched", "status")


def test_every_problem_in_a_table_is_reported_at_once(tmp_path):
    content = (
        HEADER + ROW.replace("38000", "abc") + "广州新区,2023,农村居民人均可支配收入,1\n" + ROW.replace("2023", "2099")
    )
    rules = [problem.rule for problem in problems_of(write_table(tmp_path, "made_up", content))]
    assert rules == ["numeric_cell", "unknown_region", "year_range"]


def long_layout() -> dict:
    """The long layout of the made-up XLSX tables."""
    return dict(LONG_LAYOUT)


def test_district_values_exceeding_the_city_total_of_the_same_table():
    rows = [
        ("440100", 5, 100.0, 0.5),  # 广州市: total 100
        ("440103", 6, 60.0, 0.5),
        ("440104", 7, 50.0, 0.5),  # parts: 110 > 100
        ("440000", 8, 500.0, 0.5),  # 广东省 with only 广州市 as a part: within the total
    ]
    observations = pd.DataFrame(
        [
            {
                "source_id": "made_up",
                "source_file": "made_up.csv",
                "source_row": row,
                "source_column": "2023",
                "printed_label": "MADE UP",
                "region_code": code,
                "year": 2023,
                "indicator_code": "made_up_additive",
                "value": value,
                "unit": "persons",
                "status": "",
                "rounding_radius": radius,
            }
            for code, row, value, radius in rows
        ]
    )
    excesses = parts_exceeding_totals(observations, load_regions(), {"made_up_additive"})
    assert len(excesses) == 1
    record = excesses[0]
    assert (record["file"], record["row"], record["column"], record["rule"]) == (
        "made_up.csv",
        5,
        "2023",
        "parts_within_total",
    )
    assert record["part_rows"] == [6, 7]
    assert "made_up.csv, row 5, column '2023'" in describe_excess(record)
    # Within rounding: parts 100.6 against a total of 100 with radii 0.5 + 0.5 + 0.5 pass.
    observations.loc[observations["region_code"] == "440104", "value"] = 40.6
    assert parts_exceeding_totals(observations, load_regions(), {"made_up_additive"}) == []
    # Not additive (a per-capita income): never summed.
    assert parts_exceeding_totals(observations.assign(value=observations["value"] * 10), load_regions(), set()) == []


@pytest.mark.parametrize("sidecar_name", sorted(path.name for path in (REPO_ROOT / "raw").glob("*.meta.yaml")))
def test_a_malformed_copy_of_any_real_table_fails_naming_that_file(tmp_path, sidecar_name):
    raw_dir = tmp_path / "raw"
    shutil.copytree(REPO_ROOT / "raw", raw_dir)
    sidecar_path = raw_dir / sidecar_name
    data_name = yaml.safe_load(sidecar_path.read_text(encoding="utf-8"))["file"]
    line, column = corrupt_one_figure(sidecar_path)
    rehash_sidecar(sidecar_path)
    sidecar = load_sidecar(sidecar_path, raw_dir)
    with pytest.raises(InputError) as caught:
        read_source_table(sidecar, raw_dir, region_name_lookup(), load_units())
    problem = caught.value.problems[0]
    assert (problem.file, problem.rule, problem.row, problem.column) == (data_name, "numeric_cell", line, column)
    assert data_name in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"layout": {"kind": "long", "region_column": "地区", "year_column": "年份", "label_column": "指标"}},
            "value_column",
        ),
        (
            {"layout": {"kind": "long", "value_column": "数值", "year_column": "年份", "label_column": "指标"}},
            "region_column",
        ),
        ({"layout": {"kind": "wide", "label_column": "指标", "region": "广州市", "year": "2023x"}}, "layout.year"),
        ({"layout": {"kind": "sideways"}}, "layout.kind"),
        ({"multiplier": "ten"}, "multiplier"),
        ({"encoding": "latin-1"}, "encoding"),
        ({"file": "made_up.xls"}, "xls"),
        ({"skip_regions": "萝岗区"}, "skip_regions"),
    ],
)
def test_malformed_sidecar_fields(tmp_path, change, message):
    (tmp_path / "made_up.xls").write_bytes(b"MADE UP")
    path = write_table(tmp_path, "made_up", (HEADER + ROW).encode("utf-8"), **change)
    problems = problems_of(path)
    assert all(problem.file == str(path) and problem.rule.startswith("sidecar_") for problem in problems)
    assert any(message in problem.message or message in (problem.expected or "") for problem in problems)


table_text = st.lists(
    st.lists(
        st.sampled_from(
            [
                "地区",
                "年份",
                "指标",
                "数值",
                "广州市",
                "2023",
                "2023年",
                "1949",
                "农村居民人均可支配收入",
                "38,000",
                "—",
                "x",
                "abc",
                "",
                "\u3000",
                '"',
                "单位：万元",
                "①",
                "-1",
            ]
        ),
        max_size=6,
    ),
    max_size=6,
).map(lambda rows: "\n".join(",".join(row) for row in rows))


@settings(max_examples=60, deadline=None)
@given(st.one_of(table_text, st.binary(max_size=200).map(lambda data: data)))
def test_any_file_content_reads_or_raises_an_input_error(content):
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(Path(folder), "made_up", content)
        try:
            staged = read(path)
        except InputError as error:
            assert error.problems and all(problem.rule for problem in error.problems)
            return
        assert list(staged.columns) == STAGED_COLUMNS
        assert ((staged["value"] != 0) | staged["value"].isna()).all() or "0" in str(content)


def test_table_whose_every_row_is_skipped(tmp_path):
    problem = only_problem(write_table(tmp_path, "made_up", HEADER + ROW, skip_regions=["广州市"]))
    assert (problem.file, problem.rule) == ("made_up.csv", "no_figures")
