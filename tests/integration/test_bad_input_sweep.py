"""Issue 20's done-when, as a sweep: each class of bad input, applied to real tables other than the ones the other
end-to-end tests use, fails the run with a clear error naming the file (and row or cell where one applies), no
traceback in what the user is shown, and the warehouse and the `latest` release keep every byte.

The baseline is one published build per module of a raw/ holding only four real tables, copied byte for byte (an
NBS release quoted by a news site, a compilation of district GDP, a Guangzhou yearbook table laid out wide, and the
Guangdong census by county), so that each failing run costs about a second. raw/ holds no XLSX table, so none is
swept. Classes about the table's content are applied to every table they fit; classes about the sidecar or the raw
folder, which do not depend on the table's shape, each to one table in turn (every table gets some).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.ingest.sidecar import rehash_sidecar
from pipeline.operate import cli
from pipeline.operate.runs import failure_messages
from tests.integration.test_bad_input_end_to_end import published_bytes
from tests.support.paths import REPO_ROOT
from tests.support.pipeline_runs import run_pipeline, step_failure_messages
from tests.unit.ingest.test_bad_sidecars_and_layout import ALIAS_BOMB

pytestmark = pytest.mark.integration

NBS = "cn_nbs_income_consumption_2023"  # national, long, one region and year, unit column
DISTRICTS = "gz_district_gdp_2022_maigoo"  # districts of Guangzhou, long with a year column, 亿元
YEARBOOK = "gz_yearbook_2016_t1_19"  # Guangzhou yearbook, wide (years as columns), an ignored growth column
CENSUS = "gd_census_2020_county"  # Guangdong census by county, long with region codes, 433 rows
TABLES = [NBS, DISTRICTS, YEARBOOK, CENSUS]
# Rows of two figures whose ratio is bounded (urban ≥ rural, urban ≤ total): (label a, label b, column of the figures).
PAIRS = {
    NBS: ("城镇居民人均可支配收入", "农村居民人均可支配收入"),
    YEARBOOK: ("城镇居民", "农村居民"),
    CENSUS: ("城镇人口", "人口数_合计"),
}
# A unit ×10,000 or ×100,000,000 the table's own (the sidecar's unit and every unit cell changed together).
LARGER_UNITS = {NBS: ("元", "亿元", 100000000), YEARBOOK: ("元", "亿元", 100000000), CENSUS: ("人", "万人", 10000)}


@dataclass(frozen=True)
class Expected:
    """What the failure must say: the file it names, the rule, and where (row / cell text) when one applies."""

    file: str
    rule: str
    where: str | None = None
    text: str | None = None


def data_path(raw_dir: Path, source: str) -> Path:
    """The table's CSV."""
    return raw_dir / f"{source}.csv"


def sidecar_path(raw_dir: Path, source: str) -> Path:
    """The table's sidecar."""
    return raw_dir / f"{source}.meta.yaml"


def rows_of(raw_dir: Path, source: str) -> list[list[str]]:
    """The CSV's lines split at commas (the four tables quote nothing)."""
    return [line.split(",") for line in data_path(raw_dir, source).read_text(encoding="utf-8").splitlines()]


def write_rows(raw_dir: Path, source: str, rows: list[list[str]]) -> None:
    """Write the rows back and record the new file in the sidecar, as someone running `rehash` would."""
    data_path(raw_dir, source).write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    rehash_sidecar(sidecar_path(raw_dir, source), raw_dir)


def middle_row(rows: list[list[str]]) -> int:
    """The line number (1-based) of a data row in the middle of the table."""
    return max(2, (len(rows) + 1) // 2)


def truncated_mid_number(raw_dir: Path, source: str) -> Expected:
    """A broken download cut inside a number in the middle of the file, then rehashed."""
    rows = rows_of(raw_dir, source)
    line = middle_row(rows)
    text = data_path(raw_dir, source).read_text(encoding="utf-8")
    start = sum(len(",".join(row)) + 1 for row in rows[: line - 1])
    cut = start + len(",".join(rows[line - 1])) - 2
    data_path(raw_dir, source).write_text(text[:cut], encoding="utf-8")
    rehash_sidecar(sidecar_path(raw_dir, source), raw_dir)
    return Expected(f"{source}.csv", "truncated_file", f"row {line}")


def truncated_at_a_line_end(raw_dir: Path, source: str) -> Expected:
    """Cut after the second cell of a middle row, the cut line ended by a line break (rows shorter than the header)."""
    rows = rows_of(raw_dir, source)
    line = middle_row(rows)
    write_rows(raw_dir, source, [*rows[: line - 1], rows[line - 1][:2]])
    return Expected(f"{source}.csv", "short_row", f"row {line}")


def unit_cell_disagrees(raw_dir: Path, source: str) -> Expected:
    """One row's unit cell says ×10,000 what the sidecar declares (元 → 万元, 亿元 → 万元, 人 → 万人)."""
    rows = rows_of(raw_dir, source)
    column = rows[0].index("单位")
    line = next(
        number for number, row in enumerate(rows, start=1) if number > 1 and row[column] in ("元", "亿元", "人")
    )
    rows[line - 1][column] = {"元": "万元", "亿元": "万元", "人": "万人"}[rows[line - 1][column]]
    write_rows(raw_dir, source, rows)
    return Expected(f"{source}.csv", "unit_column_mismatch", f"row {line}")


def year_typo(raw_dir: Path, source: str) -> Expected:
    """A year written with a letter O: a header cell of a wide table, or a cell of a long table's year column."""
    rows = rows_of(raw_dir, source)
    if "年份" in rows[0]:
        column = rows[0].index("年份")
        line = middle_row(rows)
        rows[line - 1][column] = rows[line - 1][column].replace("0", "O")
        write_rows(raw_dir, source, rows)
        return Expected(f"{source}.csv", "year_format", f"row {line}")
    column = next(position for position, name in enumerate(rows[0]) if name.isdigit())
    rows[0][column] = rows[0][column].replace("0", "O")
    write_rows(raw_dir, source, rows)
    return Expected(f"{source}.csv", "no_year", "row 1")


def extra_text_column(raw_dir: Path, source: str) -> Expected:
    """A notes column appended to a wide table (not a year, not named in layout.ignore_columns)."""
    rows = rows_of(raw_dir, source)
    write_rows(raw_dir, source, [[*rows[0], "备注"], *([*row, "说明"] for row in rows[1:])])
    return Expected(f"{source}.csv", "no_year", "row 1", "备注")


def unclosed_quote(raw_dir: Path, source: str) -> Expected:
    """A quote opening the second field of a middle row and never closed."""
    rows = rows_of(raw_dir, source)
    line = middle_row(rows)
    rows[line - 1][1] = '"' + rows[line - 1][1]
    write_rows(raw_dir, source, rows)
    return Expected(f"{source}.csv", "csv_unclosed_quote", f"row {line} (cell B{line})")


def separated_by(separator: str, named: str) -> Callable[[Path, str], Expected]:
    """The whole file exported with another separator, rehashed (the sidecar keeps the default ',')."""

    def edit(raw_dir: Path, source: str) -> Expected:
        rows = rows_of(raw_dir, source)
        data_path(raw_dir, source).write_text("".join(separator.join(row) + "\n" for row in rows), encoding="utf-8")
        rehash_sidecar(sidecar_path(raw_dir, source), raw_dir)
        return Expected(f"{source}.csv", "header_not_found", "row 1", f"the file is {named}")

    return edit


def swapped_pair(raw_dir: Path, source: str) -> Expected:
    """The figures of two rows swapped (urban with rural; the census: urban with the total), in one region."""
    rows = rows_of(raw_dir, source)
    first_label, second_label = PAIRS[source]
    label_column = next(position for position, name in enumerate(rows[0]) if name in ("指标", "项目"))
    first = next(number for number, row in enumerate(rows) if row[label_column] == first_label)
    second = next(
        number
        for number, row in enumerate(rows)
        if row[label_column] == second_label and row[:label_column] == rows[first][:label_column]
    )
    figures = [position for position, name in enumerate(rows[0]) if name.isdigit() or name == "数值"]
    for column in figures:
        rows[first][column], rows[second][column] = rows[second][column], rows[first][column]
    write_rows(raw_dir, source, rows)
    low, high = sorted([first + 1, second + 1])
    return Expected(f"{source}.csv", "ratio_inputs", f"rows {low} and {high}")


def unit_too_large(raw_dir: Path, source: str) -> Expected:
    """The sidecar's unit and every unit cell changed together to a unit ×10,000 or more: only the range can tell."""
    old, new, multiplier = LARGER_UNITS[source]
    rows = rows_of(raw_dir, source)
    column = rows[0].index("单位")
    for row in rows[1:]:
        row[column] = new if row[column] == old else row[column]
    path = sidecar_path(raw_dir, source)
    text = path.read_text(encoding="utf-8")
    text = text.replace(f"\nunit: {old}\nmultiplier: 1\n", f"\nunit: {new}\nmultiplier: {multiplier}\n")
    path.write_text(text, encoding="utf-8")
    write_rows(raw_dir, source, rows)
    return Expected(f"{source}.csv", "value_in_plausible_range", None, f"declares the table's unit '{new}'")


def figure_changed_without_rehash(raw_dir: Path, source: str) -> Expected:
    """A figure edited, the sidecar's sha256 not updated."""
    path = data_path(raw_dir, source)
    text = path.read_text(encoding="utf-8")
    position = max(index for index, character in enumerate(text) if character.isdigit())
    path.write_text(text[:position] + str((int(text[position]) + 1) % 10) + text[position + 1 :], encoding="utf-8")
    return Expected(f"{source}.csv", "sha256_mismatch")


def unknown_sidecar_key(raw_dir: Path, source: str) -> Expected:
    """A misspelled optional key (skip_lables), rehashed: it would be ignored, its rows read."""
    path = sidecar_path(raw_dir, source)
    path.write_text(path.read_text(encoding="utf-8") + "skip_lables: [合计]\n", encoding="utf-8")
    rehash_sidecar(path, raw_dir)
    return Expected(f"{source}.meta.yaml", "sidecar_unknown_key", None, "did you mean 'skip_labels'")


def sidecar_edited_without_rehash(raw_dir: Path, source: str) -> Expected:
    """Authority raised to official (or, for an official table, two labels remapped), without rehash."""
    path = sidecar_path(raw_dir, source)
    lines = path.read_text(encoding="utf-8").splitlines()
    authority = next(number for number, line in enumerate(lines) if line.startswith("authority:"))
    if lines[authority] != "authority: official":
        lines[authority] = "authority: official"
    else:
        start = lines.index("labels:") + 1
        first, second = lines[start].split(": "), lines[start + 1].split(": ")
        lines[start], lines[start + 1] = f"{first[0]}: {second[1]}", f"{second[0]}: {first[1]}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Expected(f"{source}.meta.yaml", "sidecar_checksum")


def sidecar_deleted(raw_dir: Path, source: str) -> Expected:
    """The data file stays, its sidecar is gone: the table would silently drop out."""
    sidecar_path(raw_dir, source).unlink()
    return Expected(f"{source}.csv", "data_file_without_sidecar")


def second_sidecar_for_the_file(raw_dir: Path, source: str) -> Expected:
    """A copy of the sidecar under another source id, naming the same data file: its figures would count twice."""
    copy = raw_dir / f"{source}_copy.meta.yaml"
    text = sidecar_path(raw_dir, source).read_text(encoding="utf-8")
    copy.write_text(text.replace(f"source_id: {source}\n", f"source_id: {source}_copy\n"), encoding="utf-8")
    rehash_sidecar(copy, raw_dir)
    return Expected(f"{source}.csv", "data_file_claimed_twice")


def same_sidecar_in_a_sub_folder(raw_dir: Path, source: str) -> Expected:
    """The sidecar copied into a sub-folder too."""
    (raw_dir / "copies").mkdir()
    shutil.copy(sidecar_path(raw_dir, source), raw_dir / "copies")
    return Expected(f"copies/{source}.meta.yaml", "duplicate_sidecar")


def sidecar_not_utf8(raw_dir: Path, source: str) -> Expected:
    """A comment saved in GBK at the end of the sidecar."""
    path = sidecar_path(raw_dir, source)
    path.write_bytes(path.read_bytes() + "# 来源：统计局\n".encode("gbk"))
    return Expected(f"{source}.meta.yaml", "sidecar_encoding")


def yaml_alias_bomb(raw_dir: Path, source: str) -> Expected:
    """A billion-laughs alias bomb appended to the sidecar."""
    path = sidecar_path(raw_dir, source)
    path.write_text(path.read_text(encoding="utf-8") + "a: &a [x, x, x, x, x, x, x, x, x]\n" + ALIAS_BOMB)
    return Expected(f"{source}.meta.yaml", "sidecar_yaml_limit")


def hyphenated_source_id(raw_dir: Path, source: str) -> Expected:
    """The sidecar renamed (and its source_id changed) to a name with a hyphen, which cannot be a Dagster name."""
    new = source.replace("_", "-", 1)
    text = sidecar_path(raw_dir, source).read_text(encoding="utf-8")
    (raw_dir / f"{new}.meta.yaml").write_text(text.replace(f"source_id: {source}\n", f"source_id: {new}\n"))
    sidecar_path(raw_dir, source).unlink()
    rehash_sidecar(raw_dir / f"{new}.meta.yaml", raw_dir)
    return Expected(f"{new}.meta.yaml", "source_id_pattern")


CONTENT_CLASSES: dict[str, tuple[Callable[[Path, str], Expected], list[str]]] = {
    "truncated_mid_number": (truncated_mid_number, TABLES),
    "truncated_at_a_line_end": (truncated_at_a_line_end, [NBS, CENSUS]),
    "unit_cell_disagrees": (unit_cell_disagrees, TABLES),
    "year_typo_2O": (year_typo, [DISTRICTS, YEARBOOK]),
    "extra_text_column": (extra_text_column, [YEARBOOK]),
    "unclosed_quote": (unclosed_quote, [NBS, YEARBOOK, CENSUS]),  # DISTRICTS: through the command line below
    "semicolon_separated": (separated_by(";", "';'-separated"), TABLES),
    "tab_separated": (separated_by("\t", "tab-separated"), [NBS, CENSUS]),
    "urban_rural_swapped": (swapped_pair, list(PAIRS)),
    "unit_too_large_for_the_range": (unit_too_large, list(LARGER_UNITS)),
}
SIDECAR_CLASSES: dict[str, Callable[[Path, str], Expected]] = {
    "figure_changed_without_rehash": figure_changed_without_rehash,
    "unknown_sidecar_key": unknown_sidecar_key,
    "sidecar_edited_without_rehash": sidecar_edited_without_rehash,
    "data_file_without_sidecar": sidecar_deleted,
    "two_sidecars_naming_one_file": second_sidecar_for_the_file,
    "same_sidecar_in_a_sub_folder": same_sidecar_in_a_sub_folder,
    "sidecar_not_utf8": sidecar_not_utf8,
    "yaml_alias_bomb": yaml_alias_bomb,
    "hyphenated_source_id": hyphenated_source_id,
}
CASES = [
    pytest.param(edit, table, id=f"{name}-{table}")
    for name, (edit, tables) in CONTENT_CLASSES.items()
    for table in tables
] + [
    pytest.param(edit, TABLES[position % len(TABLES)], id=f"{name}-{TABLES[position % len(TABLES)]}")
    for position, (name, edit) in enumerate(SIDECAR_CLASSES.items())
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """One published build of a raw/ holding the four real tables (shared by the module; every test copies it)."""
    root = tmp_path_factory.mktemp("sweep_baseline")
    (root / "raw").mkdir()
    for source in TABLES:
        for path in (data_path(REPO_ROOT / "raw", source), sidecar_path(REPO_ROOT / "raw", source)):
            shutil.copy(path, root / "raw")
    result = run_pipeline(root / "raw", root / "warehouse")
    assert result.success, step_failure_messages(result)
    return root


def copy_of(baseline: Path, tmp_path: Path) -> tuple[Path, Path]:
    """This test's own raw/ and warehouse/, copied from the baseline (the release's `latest` link stays relative)."""
    shutil.copytree(baseline / "raw", tmp_path / "raw")
    shutil.copytree(baseline / "warehouse", tmp_path / "warehouse", symlinks=True)
    return tmp_path / "raw", tmp_path / "warehouse"


def assert_named(expected: Expected, lines: list[str]) -> None:
    """One line of what the user is shown names the file and the rule (and the row, cell or text expected)."""
    wanted = [expected.file, f"[{expected.rule}]", *(part for part in (expected.where, expected.text) if part)]
    assert any(all(part in line for part in wanted) for line in lines), (wanted, lines)


@pytest.mark.parametrize(("edit", "table"), CASES)
def test_each_class_of_bad_input_on_a_real_table_fails_naming_the_file_and_publishes_nothing(
    baseline, tmp_path, edit, table
):
    raw_dir, warehouse_dir = copy_of(baseline, tmp_path)
    before = published_bytes(warehouse_dir)
    expected = edit(raw_dir, table)

    result = run_pipeline(raw_dir, warehouse_dir)

    assert not result.success  # `python -m pipeline run` exits 1
    shown = failure_messages(result.all_events)  # what `python -m pipeline run` prints for a failed run
    text = "\n".join(shown)
    assert "Traceback" not in text and 'File "' not in text
    failed = [message for message in shown if " warned:" not in message.splitlines()[0]]  # not the WARN checks
    assert_named(expected, "\n".join(failed).splitlines())
    assert published_bytes(warehouse_dir) == before


def test_through_the_command_line_two_classes_at_once_exit_non_zero_in_one_line_each(baseline, tmp_path, monkeypatch):
    raw_dir, warehouse_dir = copy_of(baseline, tmp_path)
    before = published_bytes(warehouse_dir)
    expected = [yaml_alias_bomb(raw_dir, CENSUS), unclosed_quote(raw_dir, DISTRICTS)]
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home)
    for name, value in [
        ("PIPELINE_RAW_DIR", raw_dir),
        ("PIPELINE_WAREHOUSE_DIR", warehouse_dir),
        ("DAGSTER_HOME", home),
    ]:
        monkeypatch.setenv(name, str(value))
    output, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
        code = cli.main(["run"])
    shown = output.getvalue() + errors.getvalue()
    assert code == 1, shown
    assert "Traceback" not in shown and "nothing was published" in shown
    for item in expected:
        assert_named(item, shown.splitlines())
    assert published_bytes(warehouse_dir) == before
    assert os.environ["DAGSTER_HOME"] == str(home)
