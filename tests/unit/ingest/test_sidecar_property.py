"""Property (issue 20): any sidecar text is read, or rejected with the project's InputError naming the sidecar (or its
data file); never another exception. Driven through every path that reads a sidecar in a run (the raw folder check,
the provenance records, the reader, the freshness check, the raw file's version) and through `rehash`.

The texts: arbitrary text, arbitrary YAML documents, and mutations of real sidecars from raw/ (keys deleted,
duplicated or renamed, values of the wrong type, random unicode, huge or deeply nested values, aliases), half of them
rehashed so that the mutation reaches the reader instead of stopping at the checksum. The data files are copies of
real tables; nothing is written to raw/.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.core.errors import InputError
from pipeline.core.metadata import default_indicator_catalog, load_boundary_changes, load_units, region_name_lookup
from pipeline.defs.ingest import freshness_result, raw_file_path, raw_sidecar_key, raw_table_key
from pipeline.ingest.reader import read_source_table
from pipeline.ingest.sidecar import load_sidecar, read_sidecar_fields, rehash_sidecar, with_sidecar_checksum
from pipeline.ingest.sources import raw_folder_problems, source_records
from pipeline.operate import cli
from tests.support.paths import REPO_ROOT

# Real sidecars of different shapes: wide with status rules and label_units, long with a unit column, a national
# table, a census table with region codes.
REAL_SOURCES = ["gz_yearbook_2022_t8_08", "gz_district_gdp_2022_maigoo", "cn_nbs_income_2024", "gd_census_2020_county"]
REAL_TEXTS = {
    source: (REPO_ROOT / "raw" / f"{source}.meta.yaml").read_text(encoding="utf-8") for source in REAL_SOURCES
}
UNITS = load_units()
REGIONS = region_name_lookup()
CATALOG = default_indicator_catalog()
CHANGES = load_boundary_changes()
TODAY = dt.date(2026, 12, 3)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates(),
    st.sampled_from(["", "元", "wide", "long", "utf-8", "auto", "P1Y", "2024-13-45", "A1:B2", "b", "x" * 300]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), children, max_size=4),
    ),
    max_leaves=12,
)
documents = st.one_of(values, st.dictionaries(st.text(max_size=15), values, max_size=8))


def deeply_nested(depth: int) -> str:
    """A YAML value nested depth levels deep, as flow sequences."""
    return "[" * depth + "1" + "]" * depth


def field_values(source: str):
    """Values a careless edit of this table's sidecar might write: its own header names and labels, known units,
    codes and encodings, numbers, cell ranges, and arbitrary values."""
    header = (REPO_ROOT / "raw" / f"{source}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    labels = list(yaml.safe_load(REAL_TEXTS[source])["labels"])
    texts = st.sampled_from([*header, *labels, *UNITS, *CATALOG["indicator_code"][:20], "utf-8", "gbk", "auto", "xlsx"])
    small = st.one_of(texts, st.integers(min_value=-3, max_value=3000), st.sampled_from(["A1:C3", "B2", "1", ""]))
    return st.one_of(small, small, st.lists(small, max_size=4), values)


# Mutations: the first kinds keep the sidecar plausible (and so reach the reader); the others break it outright.
PLAUSIBLE_MUTATIONS = ["layout", "labels", "status", "optional", "plausible"]
DESTRUCTIVE_MUTATIONS = ["delete", "retype", "unicode", "huge", "rename"]
OPTIONAL_KEYS = [
    "delimiter",
    "short_rows",
    "label_units",
    "skip_regions",
    "skip_labels",
    "blank_cells",
    "boundaries",
    "next_edition_due",
    "update_period",
    "format",
    "sheet",
    "cell_range",
    "url_note",
    "encoding",
]
TEXT_EDITS = ["duplicate_line", "alias", "nested", "cut", "bytes"]


def mutate(draw, fields: dict, kind: str, plausible) -> None:
    """Apply one mutation of this kind to a sidecar's fields."""
    key = draw(st.sampled_from(sorted(fields, key=str)))
    layout, labels = fields.get("layout"), fields.get("labels")
    if kind == "delete":
        fields.pop(key, None)
    elif kind == "retype":
        fields[key] = draw(values)
    elif kind == "plausible":
        fields[key] = draw(plausible)
    elif kind == "optional":
        fields[draw(st.sampled_from(OPTIONAL_KEYS))] = draw(plausible)
    elif kind == "unicode":
        fields[key] = f"{fields.get(key)}{draw(st.text(min_size=1, max_size=20))}"
    elif kind == "huge":
        fields[key] = draw(st.sampled_from(["x" * 200_000, list(range(1500)), {str(n): n for n in range(800)}]))
    elif kind == "rename":
        fields[draw(st.text(min_size=1, max_size=12))] = fields.pop(key, None)
    elif kind == "layout" and isinstance(layout, dict):
        part = draw(st.sampled_from([*layout, "header_row", "header_rows", "year", "ignore_columns", "label"]))
        layout[part] = draw(st.one_of(plausible, st.none()))
    elif kind == "labels" and isinstance(labels, dict):
        label = draw(st.one_of(plausible.filter(lambda value: isinstance(value, str | int)), st.text(max_size=8)))
        labels[label] = draw(plausible)
    elif kind == "status":
        selectors = st.sampled_from(["years", "cells", "labels", "regions", "columns", "indicators", "note", "oops"])
        rule = st.fixed_dictionaries({"status": st.sampled_from(["b", "e", "pu", "z", ""])})
        rules = st.lists(st.tuples(rule, st.dictionaries(selectors, plausible, max_size=2)), max_size=3)
        fields["status"] = [{**first, **rest} for first, rest in draw(rules)]


def edit_text(draw, text: str, edit: str) -> str:
    """Apply one edit to a sidecar's text: a duplicated line (key), aliases, deep nesting, a cut, random characters."""
    lines = text.splitlines(keepends=True)
    if edit == "duplicate_line" and lines:
        position = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines.insert(position, lines[position])
    elif edit == "alias":
        lines = ["base: &base {unit: 元, kind: wide}\n", *lines, "copy: *base\n", "<<: *base\n"]
    elif edit == "nested":
        lines.append(f"caveats_extra: {deeply_nested(draw(st.sampled_from([30, 2000, 20000])))}\n")
    elif edit == "cut":
        lines = [text[: draw(st.integers(min_value=0, max_value=len(text)))]]
    elif edit == "bytes":
        lines.append(draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)) + "\n")
    return "".join(lines)


@st.composite
def mutated_real_sidecars(draw, destructive: bool) -> tuple[str, str]:
    """(source id, text): a real sidecar with one to three mutations. Plausible ones are rehashed, as `rehash`
    would write them, so that they reach the reader; destructive ones are rehashed or not, and their text edited."""
    source = draw(st.sampled_from(REAL_SOURCES))
    fields = yaml.safe_load(REAL_TEXTS[source])
    plausible = field_values(source)
    kinds = PLAUSIBLE_MUTATIONS + DESTRUCTIVE_MUTATIONS if destructive else PLAUSIBLE_MUTATIONS
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        mutate(draw, fields, draw(st.sampled_from(kinds)), plausible)
    if not destructive or draw(st.booleans()):
        fields = with_sidecar_checksum(fields)
    text = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False)
    if destructive:
        text = edit_text(draw, text, draw(st.sampled_from(["none", *TEXT_EDITS])))
    return source, text


def sidecar_texts():
    """Arbitrary text, arbitrary YAML documents, and mutated real sidecars, each with the real table it describes."""
    return st.one_of(
        st.tuples(st.sampled_from(REAL_SOURCES), st.text(max_size=300)),
        st.tuples(
            st.sampled_from(REAL_SOURCES), documents.map(lambda document: yaml.safe_dump(document, allow_unicode=True))
        ),
        mutated_real_sidecars(destructive=True),
    )


def assert_names_the_file(error: InputError, raw_dir: Path, source: str) -> None:
    """Every problem names the sidecar or the data file it describes."""
    assert error.problems, error
    for problem in error.problems:
        assert source in problem.file or str(raw_dir) in problem.file, problem.describe()


def load_every_way(raw_dir: Path, source: str) -> None:
    """Read the sidecar on every path a run and `rehash` read it; only InputError naming the file may escape."""
    sidecar_path = raw_dir / f"{source}.meta.yaml"
    for problem in raw_folder_problems(raw_dir):  # reports, never raises
        assert source in problem.file or str(raw_dir) in problem.file, problem.describe()
    raw_file_path(raw_dir, raw_table_key(source))
    raw_file_path(raw_dir, raw_sidecar_key(source))
    result = freshness_result(sidecar_path, TODAY, raw_table_key(source))
    assert result.description
    try:
        read_sidecar_fields(sidecar_path)
        source_records([sidecar_path], raw_dir)
        sidecar = load_sidecar(sidecar_path, raw_dir)
        read_source_table(
            sidecar, raw_dir, REGIONS, UNITS, today=TODAY, indicator_catalog=CATALOG, boundary_changes=CHANGES
        )
        event("read")
    except InputError as error:
        event(f"rejected: {error.problems[0].rule}" if error.problems else "rejected")
        assert_names_the_file(error, raw_dir, source)
    try:
        rehash_sidecar(sidecar_path, raw_dir)
    except InputError as error:
        assert_names_the_file(error, raw_dir, source)


def check_case(case: tuple[str, str]) -> None:
    """Write the sidecar text beside a copy of its real table in a fresh raw folder and read it every way."""
    source, text = case
    with tempfile.TemporaryDirectory() as folder:
        raw_dir = Path(folder) / "raw"
        raw_dir.mkdir()
        shutil.copy(REPO_ROOT / "raw" / f"{source}.csv", raw_dir)
        (raw_dir / f"{source}.meta.yaml").write_text(text, encoding="utf-8")
        load_every_way(raw_dir, source)


PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY_SETTINGS
@given(sidecar_texts())
def test_any_sidecar_text_is_read_or_rejected_with_an_input_error_naming_the_file(case):
    check_case(case)


@PROPERTY_SETTINGS
@given(mutated_real_sidecars(destructive=False))
def test_a_plausibly_edited_and_rehashed_real_sidecar_is_read_or_rejected_with_an_input_error(case):
    check_case(case)


def test_a_mutated_sidecar_through_the_command_line_is_one_line_without_a_traceback(tmp_path, monkeypatch, capsys):
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    source = "cn_nbs_income_2024"
    shutil.copy(REPO_ROOT / "raw" / f"{source}.csv", raw_dir)
    sidecar = raw_dir / f"{source}.meta.yaml"
    sidecar.write_text(
        REAL_TEXTS[source].replace("file: ", "file: [") + f"x: {deeply_nested(20000)}\n", encoding="utf-8"
    )
    monkeypatch.setenv("PIPELINE_RAW_DIR", str(raw_dir))
    assert cli.main(["rehash", str(sidecar)]) == 1
    output = capsys.readouterr()
    assert "Traceback" not in output.err + output.out
    assert output.err.startswith("REFUSED ") and f"{source}.meta.yaml" in output.err
