"""Issue 20's classes of bad input on MADE-UP tables: each stops with an error naming the file and the rule.

Short rows, non-year headers, a unit column disagreeing with the sidecar, unknown or misspelled sidecar keys, source
ids that cannot become Dagster names, YAML alias bombs, sidecars not in UTF-8, sidecars edited after their checksum
was recorded, data files without exactly one sidecar, and `rehash` following a symlink out of raw/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.sidecar import load_sidecar, rehash_sidecar
from pipeline.ingest.sources import raw_folder_problems
from tests.support.tables import LONG_LAYOUT_WITH_UNIT, write_table
from tests.unit.ingest.test_reader import read

HEADER = "地区,年份,指标,数值\n"
ROW = "广州市,2023,农村居民人均可支配收入,38000\n"
# A YAML "billion laughs": six levels of nine aliases each, 9**6 strings once expanded, in under 1 KB of text.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcde", "bcdef", strict=True)
)


def raised_problems(action) -> list[InputProblem]:
    """The problems of the InputError an action raises (the test fails if it raises nothing or something else)."""
    with pytest.raises(InputError) as caught:
        action()
    return caught.value.problems


def test_a_row_shorter_than_the_header_is_an_error_naming_the_row(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW + "广州市,2022,农村居民人均可支配收入\n")  # cut mid-row
    [problem] = raised_problems(lambda: read(path))
    assert (problem.file, problem.rule, problem.row) == ("made_up.csv", "short_row", 3)


def test_a_header_cell_not_taken_for_a_year_is_an_error_naming_the_cell(tmp_path):
    wide = {"kind": "wide", "region_column": "地区", "label_column": "指标"}
    path = write_table(tmp_path, "made_up", "地区,指标,2022,2O23\n广州市,农村居民人均可支配收入,1,2\n", layout=wide)
    problems = raised_problems(lambda: read(path))
    assert ("no_year", "D1") in {(problem.rule, problem.cell) for problem in problems}


def test_a_unit_column_that_disagrees_with_the_sidecar_stops_the_read(tmp_path):
    content = "地区,年份,指标,数值,单位\n广州市,2023,农村居民人均可支配收入,38000,万元\n"  # the sidecar says 元
    path = write_table(tmp_path, "made_up", content, layout=LONG_LAYOUT_WITH_UNIT)
    [problem] = raised_problems(lambda: read(path))
    assert (problem.rule, problem.row, problem.cell) == ("unit_column_mismatch", 2, "E2")
    assert "万元" in problem.message


def test_a_misspelled_sidecar_key_is_an_error(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW, skip_lables=["合计"])  # skip_labels, misspelled
    [problem] = raised_problems(lambda: load_sidecar(path, tmp_path))
    assert problem.rule == "sidecar_unknown_key"
    assert "skip_labels" in problem.describe()  # the closest known key is suggested


@pytest.mark.parametrize("source_id", ["made-up", "广州_收入"])
def test_a_source_id_that_cannot_be_a_dagster_name_is_an_error(tmp_path, source_id):
    path = write_table(tmp_path, source_id, HEADER + ROW)
    [problem] = raised_problems(lambda: load_sidecar(path, tmp_path))
    assert problem.rule == "sidecar_source_id"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    path.write_text(path.read_text(encoding="utf-8") + "a: &a [x, x, x, x, x, x, x, x, x]\n" + ALIAS_BOMB)
    [problem] = raised_problems(lambda: load_sidecar(path, tmp_path))
    assert problem.rule == "sidecar_yaml_limit"


def test_a_sidecar_not_in_utf8_is_an_error_naming_it(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    path.write_bytes(path.read_bytes() + "# 注释\n".encode("gbk"))
    [problem] = raised_problems(lambda: load_sidecar(path, tmp_path))
    assert (problem.rule, Path(problem.file).name) == ("sidecar_encoding", "made_up.meta.yaml")


def test_a_sidecar_edited_after_rehash_is_caught_until_rehashed(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    rehash_sidecar(path, tmp_path)
    load_sidecar(path, tmp_path)  # as recorded: reads
    path.write_text(path.read_text(encoding="utf-8").replace("multiplier: 1", "multiplier: 10000"), encoding="utf-8")
    [problem] = raised_problems(lambda: load_sidecar(path, tmp_path))
    assert problem.rule == "sidecar_checksum"
    rehash_sidecar(path, tmp_path)  # reviewed and recorded
    assert load_sidecar(path, tmp_path).fields["multiplier"] == 10000


def test_every_data_file_has_exactly_one_sidecar(tmp_path):
    path = write_table(tmp_path, "made_up", HEADER + ROW)
    assert raw_folder_problems(tmp_path) == []
    (tmp_path / "stray.csv").write_text(HEADER + ROW, encoding="utf-8")
    second = tmp_path / "made_up_copy.meta.yaml"
    second.write_text(path.read_text(encoding="utf-8").replace("made_up\n", "made_up_copy\n", 1), encoding="utf-8")
    found = {(problem.rule, Path(problem.file).name) for problem in raw_folder_problems(tmp_path)}
    assert ("data_file_without_sidecar", "stray.csv") in found
    assert ("data_file_claimed_twice", "made_up.csv") in found


def test_rehash_refuses_a_sidecar_symlinked_out_of_raw(tmp_path):
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    outside = tmp_path / "outside.meta.yaml"
    shutil.copyfile(write_table(raw_dir, "made_up", HEADER + ROW), outside)
    before = outside.read_bytes()
    (raw_dir / "link.meta.yaml").symlink_to(outside)
    [problem] = raised_problems(lambda: rehash_sidecar(raw_dir / "link.meta.yaml", raw_dir))
    assert problem.rule == "rehash_path"
    assert outside.read_bytes() == before  # the target outside raw/ is not rewritten
