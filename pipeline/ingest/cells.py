"""Cells of Chinese statistical tables: numbers, placeholders (—, …), footnote markers and years."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

# Placeholder symbols of Chinese statistical tables → observation status of the missing value.
# ':' not available (Eurostat); 'c' confidential. None of them ever becomes 0.
# Keys are compared after NFKC normalisation and removal of footnote markers (so …… arrives as ......).
PLACEHOLDER_STATUS = {
    "": ":",
    "—": ":",
    "——": ":",
    "–": ":",
    "―": ":",
    "-": ":",
    "--": ":",
    "...": ":",
    "......": ":",
    "x": "c",
    "X": "c",
    "×": "c",
}
# Trailing footnote markers, removed BEFORE Unicode normalisation: NFKC turns ① and ¹ into the digit 1,
# which would silently change 123① into 1231. Circled / parenthesised numbers, superscript digits, *, #, △, 注.
FOOTNOTE_PATTERN = re.compile(
    r"(?:[*＊#＃△▲†‡※\u00b9\u00b2\u00b3\u2070-\u2079\u2460-\u24ff\u2776-\u2793]"
    r"|注\s*\d*|[(（]\s*注\s*\d*\s*[)）])+\s*$"
)
MINUS_SIGNS = {"\u2212": "-", "\ufe63": "-"}
NUMBER_PATTERN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
COMMA_GROUPED_PATTERN = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$", re.ASCII)
SPACE_GROUPED_PATTERN = re.compile(r"^[+-]?\d{1,3}( \d{3})+(\.\d+)?$", re.ASCII)
YEAR_PATTERN = re.compile(r"^(\d{4})(?:\.0)?\s*年?度?$", re.ASCII)
EXPECTED_NUMBER = "a number as printed (e.g. 12,345.6 or 45.1%) or a placeholder (— … - x or empty)"


class CellError(ValueError):
    """A cell that is neither a number nor a known placeholder; carries the rule it breaks."""

    def __init__(self, rule: str, message: str, expected: str):
        super().__init__(message)
        self.rule = rule
        self.expected = expected


@dataclass(frozen=True)
class ParsedCell:
    """A parsed cell: the number (None when missing), its status and the decimals printed."""

    value: float | None
    status: str
    decimals: int
    percent: bool = False


def strip_footnote_markers(text: str) -> str:
    """Remove trailing footnote markers (*, ①, ¹, 注, (注1)) from a cell's raw text."""
    return FOOTNOTE_PATTERN.sub("", text.strip()).strip()


def normalise_text(text: str) -> str:
    """Full-width characters to half-width (NFKC), ideographic and non-breaking spaces to spaces, stripped."""
    return unicodedata.normalize("NFKC", str(text)).replace("\u3000", " ").strip()


def normalise_label(text: object) -> str:
    """A row label or region name as a matching key: markers removed, NFKC, every whitespace removed."""
    return re.sub(r"\s+", "", normalise_text(strip_footnote_markers(str(text))))


def parse_cell(raw: object) -> ParsedCell:
    """Parse one cell as printed; return a number or a missing-with-status, or raise CellError."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return ParsedCell(None, PLACEHOLDER_STATUS[""], 0)
    if isinstance(raw, bool):
        raise CellError("numeric_cell", f"{raw!r} is a boolean, not a number", EXPECTED_NUMBER)
    if isinstance(raw, int | float):
        return parse_text(repr(float(raw)) if isinstance(raw, float) else str(raw), raw)
    return parse_text(str(raw), raw)


def parse_text(text: str, raw: object) -> ParsedCell:
    """Parse the text of a cell (see parse_cell)."""
    text = normalise_text(strip_footnote_markers(text))
    for sign, ascii_sign in MINUS_SIGNS.items():
        text = text.replace(sign, ascii_sign)
    text = re.sub(r"\s+", " ", text)
    if text in PLACEHOLDER_STATUS:
        return ParsedCell(None, PLACEHOLDER_STATUS[text], 0)
    percent = text.endswith("%")
    if percent:
        text = text[:-1].rstrip()
    if COMMA_GROUPED_PATTERN.match(text):
        text = text.replace(",", "")
    elif SPACE_GROUPED_PATTERN.match(text):
        text = text.replace(" ", "")
    if not NUMBER_PATTERN.match(text):
        raise CellError("numeric_cell", f"{raw!r} is not a number", EXPECTED_NUMBER)
    value = float(text)
    mantissa, _, exponent = text.lower().partition("e")
    if not math.isfinite(value):
        raise CellError("numeric_cell", f"{raw!r} is not a finite number", "a finite number")
    if value == 0 and any(digit in "123456789" for digit in mantissa):
        raise CellError("numeric_cell", f"{raw!r} is too small to represent", "a number of ordinary size")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if exponent:
        decimals -= int(exponent)
    return ParsedCell(value, "", decimals, percent)


def parse_year(raw: object) -> int | None:
    """A year printed as 2023, 2023年 or 2023年度 → 2023; anything else → None."""
    if isinstance(raw, dt.date):
        return None
    match = YEAR_PATTERN.match(normalise_text(strip_footnote_markers(str(raw))))
    return int(match.group(1)) if match else None
