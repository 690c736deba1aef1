"""The cell parser: numbers as printed in Chinese tables, placeholders → missing with status, never a silent 0."""

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.ingest.cells import CellError, ParsedCell, normalise_label, parse_cell, parse_year


@pytest.mark.parametrize(
    ("raw", "value", "decimals", "percent"),
    [
        ("12345", 12345.0, 0, False),
        ("12,345.6", 12345.6, 1, False),
        ("１２，３４５．６", 12345.6, 1, False),  # full-width digits, comma and point
        ("12 345", 12345.0, 0, False),  # thin grouping by spaces
        ("45.1%", 45.1, 1, True),
        ("45.1％", 45.1, 1, True),
        ("-3.2", -3.2, 1, False),
        ("\u22123.2", -3.2, 1, False),  # the minus sign U+2212
        ("0", 0.0, 0, False),
        ("0.0", 0.0, 1, False),
        ("  2.46  ", 2.46, 2, False),
        ("123*", 123.0, 0, False),
        ("123＊", 123.0, 0, False),
        ("123①", 123.0, 0, False),  # NFKC would turn ① into 1 → 1231 if markers were not removed first
        ("123¹", 123.0, 0, False),
        ("56.7注", 56.7, 1, False),
        ("56.7注2", 56.7, 1, False),
        ("56.7(注)", 56.7, 1, False),
        ("1.5e3", 1500.0, -2, False),
        (12345, 12345.0, 0, False),  # numbers as they come from a workbook
        (2.46, 2.46, 2, False),
    ],
)
def test_numbers_as_printed(raw, value, decimals, percent):
    parsed = parse_cell(raw)
    assert parsed == ParsedCell(value, "", decimals, percent)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("", ":"),
        ("   ", ":"),
        ("\u3000", ":"),
        (None, ":"),
        (float("nan"), ":"),
        ("—", ":"),
        ("——", ":"),
        ("－", ":"),
        ("-", ":"),
        ("--", ":"),
        ("…", ":"),
        ("……", ":"),
        ("...", ":"),
        ("x", "c"),
        ("X", "c"),
        ("×", "c"),
        ("—①", ":"),  # a placeholder with a footnote marker
    ],
)
def test_placeholders_are_missing_with_a_status_never_zero(raw, status):
    parsed = parse_cell(raw)
    assert parsed.value is None
    assert parsed.status == status


@pytest.mark.parametrize(
    "raw", ["abc", "12a", "1,23", "12,3456", "1 2", "١٢", "1e-999999", "1e999", "12.3.4", ".", "+", True]
)
def test_anything_else_is_a_cell_error_naming_the_rule(raw):
    with pytest.raises(CellError) as caught:
        parse_cell(raw)
    assert caught.value.rule == "numeric_cell"
    assert caught.value.expected


@pytest.mark.parametrize(
    ("raw", "year"),
    [
        ("2023", 2023),
        ("2023年", 2023),
        ("２０２３年", 2023),
        ("2023 年", 2023),
        ("2023年度", 2023),
        ("2023①", 2023),
        (2023, 2023),
    ],
)
def test_years_as_printed(raw, year):
    assert parse_year(raw) == year


@pytest.mark.parametrize("raw", ["23", "二〇二三", "2023-24", "year", ""])
def test_not_years(raw):
    assert parse_year(raw) is None


def test_labels_match_with_spaces_markers_and_full_width_forms_removed():
    assert normalise_label("\u3000\u3000荔 湾 区①") == "荔湾区"
    assert normalise_label("城镇居民人均可支配收入（元）") == "城镇居民人均可支配收入(元)"


cell_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789,.%-+ eE*①¹注—…x０１２３４５６７８９，．％\u3000\u2212", max_size=20),
    st.from_regex(r"[+-]?\d{1,3}(,\d{3}){0,3}(\.\d{1,4})?%?[*①注]?", fullmatch=True),
)


@settings(max_examples=400, deadline=None)
@given(cell_text)
@example("1e-400")
@example("0①")
@example("①")
def test_any_string_is_a_number_a_missing_with_status_or_a_cell_error(raw):
    try:
        parsed = parse_cell(raw)
    except CellError as error:
        assert error.rule and error.expected
        return
    assert isinstance(parsed, ParsedCell)
    if parsed.value is None:
        assert parsed.status in (":", "c"), "a missing value always says why"
    else:
        assert parsed.status == ""
        digits = unicodedata.normalize("NFKC", raw)
        assert any(character.isdigit() for character in digits), "a number needs a printed digit"
        if parsed.value == 0:
            assert "0" in digits, "a 0 must be printed as 0, never produced from a placeholder or a marker"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.booleans(), st.binary(max_size=10)))
def test_any_workbook_value_is_a_number_a_missing_or_a_cell_error(raw):
    try:
        parsed = parse_cell(raw)
    except CellError:
        return
    if parsed.value is None:
        assert parsed.status
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        assert parsed.value == pytest.approx(float(raw))
