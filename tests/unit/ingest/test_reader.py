"""The generic reader on made-up tables in the shapes official tables come in, and on every real raw table."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.metadata import load_units, region_name_lookup
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.reader.model import STAGED_COLUMNS
from pipeline.ingest.sidecar import load_sidecar, sidecar_paths
from tests.support.paths import FIXTURE_TABLES, REPO_ROOT
from tests.support.tables import LONG_LAYOUT_WITH_UNIT, made_up_sidecar_fields, write_sidecar_fields, write_table

TODAY = dt.date(2026, 11, 28)


def write_sidecar(raw_dir: Path, source_id: str, data_name: str, **fields) -> Path:
    """A sidecar for an already written made-up data file, with its sha256; fields override the defaults."""
    defaults = made_up_sidecar_fields(source_id, raw_dir / data_name)
    defaults.update(fields)
    path = raw_dir / f"{source_id}.meta.yaml"
    return write_sidecar_fields(path, defaults)


def write_workbook_table(
    raw_dir: Path,
    source_id: str,
    rows: list[list],
    sheet: str = "表1",
    other_sheets: tuple[str, ...] = (),
    merged: tuple[str, ...] = (),
    number_formats: dict[str, str] | None = None,
    **fields,
) -> Path:
    """A made-up XLSX table (the rows written from A1) and its sidecar. Returns the sidecar path."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    for row in rows:
        worksheet.append(row)
    for cell_range in merged:
        worksheet.merge_cells(cell_range)
    for coordinate, number_format in (number_formats or {}).items():
        worksheet[coordinate].number_format = number_format
    for name in other_sheets:
        workbook.create_sheet(name).append(["MADE UP", "other sheet"])
    workbook.save(raw_dir / f"{source_id}.xlsx")
    return write_sidecar(raw_dir, source_id, f"{source_id}.xlsx", **{"sheet": sheet, **fields})


def read(sidecar_path: Path, today: dt.date = TODAY) -> pd.DataFrame:
    """Load a sidecar (checking its sha256) and read its table as the pipeline does."""
    raw_dir = sidecar_path.parent
    sidecar = load_sidecar(sidecar_path, raw_dir)
    return read_source_table(sidecar, raw_dir, region_name_lookup(), load_units(), today=today)


def figures(staged: pd.DataFrame) -> dict[tuple[str, str, int], tuple[float | None, str]]:
    """(indicator, region, year) → (value, status), for compact assertions."""
    return {
        (row.indicator_code, row.region_code, row.year): (None if pd.isna(row.value) else row.value, row.status)
        for row in staged.itertuples(index=False)
    }


@pytest.mark.parametrize("sidecar_path", sidecar_paths(REPO_ROOT / "raw"), ids=lambda path: path.stem)
def test_every_real_raw_table_reads_through_the_generic_reader(sidecar_path):
    sidecar = load_sidecar(sidecar_path, REPO_ROOT / "raw")
    staged = read_source_table(sidecar, REPO_ROOT / "raw", region_name_lookup(), load_units())
    assert list(staged.columns) == STAGED_COLUMNS
    assert len(staged) > 0
    assert staged["value"].notna().any()
    assert staged.loc[staged["value"].isna(), "status"].str.contains(":|c").all(), "a gap says why"
    assert (staged["source_file"] == sidecar.fields["file"]).all()


def test_yearbook_style_table_in_gbk_with_title_unit_line_two_header_rows_and_notes():
    raw_dir = FIXTURE_TABLES
    staged = read(raw_dir / "fixture_district_income_gbk.meta.yaml")
    found = figures(staged)
    # Region rows printed with full-width indentation and spaced names: 　　荔 湾 区 → 440103.
    assert found[("urban_disposable_income_per_capita", "440103", 2022)] == (60000.0, "")
    assert found[("rural_disposable_income_per_capita", "440103", 2023)] == (None, ":")  # printed —
    assert found[("rural_disposable_income_per_capita", "440117", 2023)] == (30100.0, "")  # 30,100① in full width
    assert found[("urban_disposable_income_per_capita", "440100", 2023)] == (70000.0, "p")  # status rule per column
    # The notes row below the data is not a data row; the title and unit line are not either.
    assert set(staged["source_row"]) == {5, 6, 7, 8}
    rural = staged["indicator_code"] == "rural_disposable_income_per_capita"
    row = staged[rural & (staged["region_code"] == "440117") & (staged["year"] == 2023)].iloc[0]
    assert row["source_column"] == "农村居民人均可支配收入 2023年"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_declared_encodings_read_the_same_figures(tmp_path, encoding):
    content = '地区,年份,指标,数值\n广州市,2023年,农村居民人均可支配收入,"38,000"\n'
    path = write_table(tmp_path, "made_up", content.encode(encoding), encoding=encoding)
    staged = read(path)
    assert figures(staged) == {("rural_disposable_income_per_capita", "440100", 2023): (38000.0, "")}


@pytest.mark.parametrize(
    ("encoding", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")]
)
def test_encoding_auto_detects_and_says_what_it_detected(tmp_path, caplog, encoding, detected):
    content = "地区,年份,指标,数值\n广州市,2023,农村居民人均可支配收入,38000\n"
    path = write_table(tmp_path, "made_up", content.encode(encoding), encoding="auto")
    with caplog.at_level(logging.WARNING, logger="pipeline.ingest.reader"):
        staged = read(path)
    assert staged["value"].tolist() == [38000.0]
    assert f"detected {detected}" in caplog.text
    assert "made_up.csv" in caplog.text


def test_xlsx_named_sheet_and_cell_range_with_merged_headers_and_number_formats(tmp_path):
    rows = [
        ["MADE-UP 表 3-1 各区居民收入"],
        ["单位：元"],
        ["地区", "城镇居民人均可支配收入", None, "城镇居民恩格尔系数"],
        [None, "2022年", "2023年", "2023年"],
        ["广州市", 70000.04, 72000, 0.3126],
        ["　荔湾区", 60000, "—", 0.30],
        ["注：MADE UP.", None, None, None],
        [None, None, None, None, None, "stray text outside the range"],
    ]
    path = write_workbook_table(
        tmp_path,
        "made_up_book",
        rows,
        sheet="表3-1",
        other_sheets=("说明",),
        merged=("B3:C3", "A3:A4"),
        number_formats={"B5": "#,##0.0", "D5": "0.0%", "D6": "0.0%"},
        labels={
            "城镇居民人均可支配收入": "urban_disposable_income_per_capita",
            "城镇居民恩格尔系数": "urban_engel_coefficient",
        },
        layout={"kind": "wide", "region_column": "地区", "header_rows": 2},
        cell_range="A1:D7",
    )
    staged = read(path)
    found = figures(staged)
    assert found[("urban_disposable_income_per_capita", "440100", 2022)] == (70000.0, "")  # printed 70,000.0
    assert found[("urban_disposable_income_per_capita", "440103", 2023)] == (None, ":")
    assert found[("urban_engel_coefficient", "440100", 2023)][0] == pytest.approx(31.3)  # 0.3125 shown as 31.3%
    radius = staged.set_index(["indicator_code", "region_code", "year"])["rounding_radius"]
    assert radius[("urban_disposable_income_per_capita", "440100", 2022)] == pytest.approx(0.05)
    assert staged["source_row"].max() == 6


def test_long_table_with_aliases_renamed_and_merged_regions(tmp_path):
    content = (
        "地区,年份,指标,数值\n"
        "广州,2013年,农村居民人均可支配收入,100\n"  # alias of 广州市
        "从化市,2013年,农村居民人均可支配收入,90\n"  # renamed in 2014: same territory → 从化区 440117
        "黄埔区,2013年,农村居民人均可支配收入,95\n"  # before the 2014 merger: old boundary, no flag of its own
        "黄埔区,2015年,农村居民人均可支配收入,97\n"  # the first figure on the new boundary: b (break since 2013)
        "萝岗区,2013年,农村居民人均可支配收入,98\n"  # merged away: deliberately skipped by the sidecar
    )
    path = write_table(tmp_path, "made_up", content, skip_regions=["萝岗区"])
    found = figures(read(path))
    assert found == {
        ("rural_disposable_income_per_capita", "440100", 2013): (100.0, ""),
        ("rural_disposable_income_per_capita", "440117", 2013): (90.0, ""),
        ("rural_disposable_income_per_capita", "440112", 2013): (95.0, ""),
        ("rural_disposable_income_per_capita", "440112", 2015): (97.0, "b"),
    }


def test_a_table_starting_after_the_merger_holds_no_break(tmp_path):
    # MADE-UP figures. A table whose first 黄埔区 figure comes years after the 2014 merger (a work report's one 2018
    # figure) has no break inside it: b on 2018 would claim one between 2017 and 2018. The merger's own year is b.
    header = "地区,年份,指标,数值\n"
    later = header + "黄埔区,2018年,农村居民人均可支配收入,97\n" + "黄埔区,2019年,农村居民人均可支配收入,99\n"
    assert figures(read(write_table(tmp_path, "made_up_later", later))) == {
        ("rural_disposable_income_per_capita", "440112", 2018): (97.0, ""),
        ("rural_disposable_income_per_capita", "440112", 2019): (99.0, ""),
    }
    merger_year = header + "黄埔区,2014年,农村居民人均可支配收入,95\n" + "黄埔区,2015年,农村居民人均可支配收入,97\n"
    assert figures(read(write_table(tmp_path, "made_up_from_2014", merger_year))) == {
        ("rural_disposable_income_per_capita", "440112", 2014): (95.0, "b"),
        ("rural_disposable_income_per_capita", "440112", 2015): (97.0, ""),
    }


def test_the_2014_huangpu_luogang_merger_flags_only_the_first_year_on_the_new_boundary(tmp_path):
    # MADE-UP rates for 黄埔区 2010–2019 in a wide table printed on the boundaries of each year: b on 2014 only,
    # the break between 2013 and 2014 (the catalogue's meaning of b on year t), never on the pre-merger years.
    years = list(range(2010, 2020))
    content = "地区," + ",".join(str(year) for year in years) + "\n"
    content += "黄埔区," + ",".join(str(90 + index / 10) for index in range(len(years))) + "\n"
    content += "天河区," + ",".join("100" for _ in years) + "\n"
    path = write_table(
        tmp_path,
        "made_up",
        content,
        labels={"常住人口城镇化率": "urbanisation_rate"},
        layout={"kind": "wide", "region_column": "地区", "label": "常住人口城镇化率"},
        unit="%",
    )
    found = figures(read(path))
    huangpu = {year: status for (code, region, year), (_, status) in found.items() if region == "440112"}
    assert huangpu == {year: ("b" if year == 2014 else "") for year in years}
    assert all(status == "" for (code, region, year), (_, status) in found.items() if region == "440106")


def test_status_codes_per_table_column_indicator_and_cell_range(tmp_path):
    content = "指标,单位,2021,2022,2023\n城镇居民人均可支配收入,元,100,110,120\n农村居民人均可支配收入,元,50,55,—\n"
    labels = {
        "城镇居民人均可支配收入": "urban_disposable_income_per_capita",
        "农村居民人均可支配收入": "rural_disposable_income_per_capita",
    }
    rules = [
        {"status": "e"},  # the whole table is estimated
        {"status": "p", "columns": ["2023"]},
        {"status": "b", "indicators": ["rural_disposable_income_per_capita"], "years": [2021]},
        {"status": "u", "cells": ["D2:D3"]},  # column D = 2022, rows 2–3
    ]
    path = write_table(
        tmp_path,
        "made_up",
        content,
        labels=labels,
        layout={"kind": "wide", "label_column": "指标", "unit_column": "单位", "region": "广东省"},
        status=rules,
    )
    found = figures(read(path))
    urban, rural = "urban_disposable_income_per_capita", "rural_disposable_income_per_capita"
    assert found[(urban, "440000", 2021)] == (100.0, "e")
    assert found[(urban, "440000", 2022)] == (110.0, "eu")
    assert found[(urban, "440000", 2023)] == (120.0, "ep")
    assert found[(rural, "440000", 2021)] == (50.0, "be")
    assert found[(rural, "440000", 2023)] == (None, ":ep")


def test_unit_column_scales_each_row_and_rounding_radius_follows(tmp_path):
    content = "地区,年份,指标,数值,单位\n广东省,2023,农村居民人均可支配收入,2.5,万元\n广州市,2023,城镇居民人均可支配收入,78000,元/人\n广州市,2023,农村居民人均可支配收入,3.8,\n"
    labels = {
        "农村居民人均可支配收入": "rural_disposable_income_per_capita",
        "城镇居民人均可支配收入": "urban_disposable_income_per_capita",
    }
    path = write_table(
        tmp_path,
        "made_up",
        content,
        unit="万元",
        multiplier=10000,
        labels=labels,
        label_units={"城镇居民人均可支配收入": "元/人"},
        layout=LONG_LAYOUT_WITH_UNIT,
    )
    staged = read(path).set_index(["region_code", "indicator_code"])
    assert staged.loc[("440000", "rural_disposable_income_per_capita"), "value"] == 25000.0
    assert staged.loc[("440000", "rural_disposable_income_per_capita"), "rounding_radius"] == pytest.approx(500.0)
    assert staged.loc[("440100", "urban_disposable_income_per_capita"), "value"] == 78000.0
    assert staged.loc[("440100", "rural_disposable_income_per_capita"), "value"] == 38000.0  # blank: the declared unit


def test_regions_by_indicators_for_one_year_with_labels_from_the_header(tmp_path):
    content = "MADE-UP 2023年各区居民收入\n（元）\n地区,城镇居民人均可支配收入,农村居民人均可支配收入\n广州市,80000,40000\n　其中：越秀区,90000,x\n"
    labels = {
        "城镇居民人均可支配收入": "urban_disposable_income_per_capita",
        "农村居民人均可支配收入": "rural_disposable_income_per_capita",
    }
    path = write_table(
        tmp_path, "made_up", content, labels=labels, layout={"kind": "wide", "region_column": "地区", "year": 2023}
    )
    found = figures(read(path))
    assert found[("urban_disposable_income_per_capita", "440104", 2023)] == (90000.0, "")
    assert found[("rural_disposable_income_per_capita", "440104", 2023)] == (None, "c")
    assert found[("rural_disposable_income_per_capita", "440100", 2023)] == (40000.0, "")


def test_blank_rows_and_skipped_labels_are_not_figures(tmp_path):
    content = (
        "地区,年份,指标,数值\n\n广州市,2023,农村居民人均可支配收入,1000\n,,,\n广州市,2023,农村居民人均纯收入,900\n"
    )
    path = write_table(tmp_path, "made_up", content, skip_labels=["农村居民人均纯收入"])
    assert figures(read(path)) == {("rural_disposable_income_per_capita", "440100", 2023): (1000.0, "")}


def test_read_errors_carry_every_problem_at_once(tmp_path):
    content = "地区,年份,指标,数值\n广州市,2023,农村居民人均可支配收入,abc\n火星市,2023,农村居民人均可支配收入,1\n"
    path = write_table(tmp_path, "made_up", content)
    with pytest.raises(InputError) as caught:
        read(path)
    assert [problem.rule for problem in caught.value.problems] == ["numeric_cell", "unknown_region"]


def test_regions_by_years_of_one_indicator_with_a_fixed_label(tmp_path):
    content = "地区,2021年,2022年\n广州市,100,110\n增城市,80,…\n"
    layout = {"kind": "wide", "region_column": "地区", "label": "农村居民人均可支配收入"}
    found = figures(read(write_table(tmp_path, "made_up", content, layout=layout)))
    assert found == {
        ("rural_disposable_income_per_capita", "440100", 2021): (100.0, ""),
        ("rural_disposable_income_per_capita", "440100", 2022): (110.0, ""),
        ("rural_disposable_income_per_capita", "440118", 2021): (80.0, ""),
        ("rural_disposable_income_per_capita", "440118", 2022): (None, ":"),
    }


def test_header_row_given_in_the_layout_and_ignored_columns(tmp_path):
    content = "地区,MADE-UP 标题也写着地区\n\n地区,2022,备注\n广州市,100,MADE UP\n"
    layout = {
        "kind": "wide",
        "region_column": "地区",
        "label": "农村居民人均可支配收入",
        "header_row": 3,
        "ignore_columns": ["备注"],
    }
    found = figures(read(write_table(tmp_path, "made_up", content, layout=layout)))
    assert found == {("rural_disposable_income_per_capita", "440100", 2022): (100.0, "")}


def test_wide_columns_without_a_year_are_not_figures_when_rows_carry_the_labels(tmp_path):
    content = "区划代码,地区,指标,2014,2015,2015年比2014年增长(%)\n440100,广州市,农村居民人均可支配收入,100,110,10.0\n"
    ignored = ["区划代码", "2015年比2014年增长(%)"]
    layout = {"kind": "wide", "region_column": "地区", "label_column": "指标", "ignore_columns": ignored}
    found = figures(read(write_table(tmp_path, "made_up", content, layout=layout)))
    assert set(found) == {
        ("rural_disposable_income_per_capita", "440100", 2014),
        ("rural_disposable_income_per_capita", "440100", 2015),
    }


def test_tables_restated_on_todays_boundaries_get_no_break_flag(tmp_path):
    content = "地区,年份,指标,数值\n黄埔区,2013年,农村居民人均可支配收入,95\n"
    found = figures(read(write_table(tmp_path, "made_up", content, boundaries="restated")))
    assert found == {("rural_disposable_income_per_capita", "440112", 2013): (95.0, "")}
