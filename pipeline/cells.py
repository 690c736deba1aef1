"""Parsing the cells of Chinese statistical tables: numbers as printed, placeholders, footnote markers."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

# Placeholder symbols of Chinese statistical tables → observation status of the missing value.
# ':' not available (Eurostat); 'c' confidential; 'z' not applicable. None of them ever becomes 0.
PLACEHOLDER_STATUS = {
    "": ":",
    "—": ":",
    "——": ":",
    "－": ":",
    "-": ":",
    "--": ":",
    "…": ":",
    "……": ":",
    "...": ":",
    "x": "c",
    "X": "c",
    "×": "c",
}
FOOTNOTE_MARKERS = "*＊①②③④⑤⑥⑦⑧⑨⑩注#△▲"
NUMBER_PATTERN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
GROUPED_NUMBER_PATTERN = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
YEAR_PATTERN = re.compile(r"^(\d{4})\s*年?$")


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


def normalise_text(text: str) -> str:
    """Full-width characters to half-width (NFKC), non-breaking and ideographic spaces removed."""
    return unicodedata.normalize("NFKC", text).replace("\u3000", " ").strip()


def parse_cell(raw: object) -> ParsedCell:
    """Parse one cell as printed; return a number or a missing-with-status, or raise CellError."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return ParsedCell(None, PLACEHOLDER_STATUS[""], 0)
    text = str(raw).strip()
    if text in PLACEHOLDER_STATUS:
        return ParsedCell(None, PLACEHOLDER_STATUS[text], 0)
    text = normalise_text(text)
    if text in PLACEHOLDER_STATUS:
        return ParsedCell(None, PLACEHOLDER_STATUS[text], 0)
    text = text.rstrip(FOOTNOTE_MARKERS + " ").replace(" ", "")
    if text in PLACEHOLDER_STATUS:
        return ParsedCell(None, PLACEHOLDER_STATUS[text], 0)
    percent = text.endswith("%")
    if percent:
        text = text[:-1]
    if GROUPED_NUMBER_PATTERN.match(text):
        text = text.replace(",", "")
    if not NUMBER_PATTERN.match(text):
        raise CellError(
            "numeric_cell",
            f"{raw!r} is not a number",
            "a number as printed (e.g. 12,345.6 or 45.1%) or a placeholder (— … - x or empty)",
        )
    value = float(text)
    if not math.isfinite(value):
        raise CellError("numeric_cell", f"{raw!r} is not a finite number", "a finite number")
    mantissa = text.split("e")[0].split("E")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return ParsedCell(value, "", decimals, percent)


def parse_year(raw: object) -> int | None:
    """A year printed as 2023 or 2023年 → 2023; anything else → None."""
    match = YEAR_PATTERN.match(normalise_text(str(raw)))
    return int(match.group(1)) if match else None
