"""Figures printed in prose: a configured phrase (or pattern) per figure, checked against the catalogue and regions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html import unescape

from pipeline.core.errors import InputProblem
from pipeline.core.metadata import default_indicator_catalog, load_regions, load_units

# `{value}` in a phrase: a number as printed (digits, an optional decimal part, optional thousands commas).
VALUE_PATTERN = r"(?P<value>[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[+-]?\d+(?:\.\d+)?)"
# `{direction}` in a phrase: the verb printed before a growth rate; a decline is the printed rate with a minus sign.
RISING_WORDS = ("增长", "增加", "上升", "提高", "提升")
FALLING_WORDS = ("负增长", "下降", "减少", "下滑", "回落", "降低")  # 负增长 first: it contains 增长
DIRECTION_PATTERN = "(?P<direction>" + "|".join(FALLING_WORDS + RISING_WORDS) + ")"
# How far before a figure a decline word is looked for when the phrase has no {direction} (…同比下降 1.2%).
DECLINE_LOOKBACK_CHARACTERS = 4
# `…` (or `...`) in a phrase: any text within one sentence, at most this many characters.
GAP_CHARACTERS = 80
GAP_PATTERN = rf"[^。;!?\n]{{0,{GAP_CHARACTERS}}}?"  # the text is NFKC-normalised: ；！？ are ;!?
PLACEHOLDERS = {"{value}": VALUE_PATTERN, "{direction}": DIRECTION_PATTERN, "…": GAP_PATTERN, "...": GAP_PATTERN}
PLACEHOLDER_SPLIT = re.compile(r"(\{value\}|\{direction\}|…|\.\.\.)")
SENTENCE_ENDS = "。!?\n"  # after NFKC, ！ and ？ are ! and ?
MAXIMUM_EXCERPT_CHARACTERS = 300
STATISTICS_OFFICE = re.compile(r"统计局|调查队")
FIGURE_FIELDS = {
    "indicator": "an indicator code of pipeline/metadata/indicators.yaml",
    "region_code": "the region's code in pipeline/metadata/regions.csv, e.g. 440114",
    "year": "the year the figure is for, e.g. 2024",
    "unit": "the unit as printed right after the figure (a key of pipeline/metadata/units.csv), e.g. 亿元 or %",
}


@dataclass(frozen=True)
class FigureSpec:
    """One configured figure: what it is, where it is for, and the compiled phrase that finds it in the text."""

    indicator: str
    region_code: str
    region_name: str
    year: int
    unit: str
    label: str
    phrase: str
    pattern: re.Pattern[str]


def visible_text(page: str) -> str:
    """A page's text as read: scripts, styles and tags removed, NFKC (full-width digits and ％ to ASCII), no spaces."""
    without_code = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<!--.*?-->", "", page)
    # A paragraph, line break, cell or heading ends a line, so two paragraphs never run into one sentence.
    with_breaks = re.sub(r"(?i)<(?:br|/?p|/?div|/?tr|/?td|/?li|/?h[1-6])\b[^>]*>", "\n", without_code)
    text = unicodedata.normalize("NFKC", unescape(re.sub(r"<[^>]+>", "", with_breaks)))
    return re.sub(r"\n+", "\n", re.sub(r"[ \t\r\f\v\u3000\u00a0]+", "", text))


def phrase_regex(phrase: str) -> str:
    """A phrase with {value}, {direction} and … placeholders → a regular expression matching it literally otherwise."""
    parts = PLACEHOLDER_SPLIT.split(unicodedata.normalize("NFKC", phrase).replace(" ", ""))
    return "".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts if part)


def figure_specs(where: str, figures: object) -> tuple[list[FigureSpec], list[InputProblem]]:
    """The configured figures, compiled and checked against the catalogue, regions and units; every problem named."""
    if not isinstance(figures, list) or not figures:
        return [], [InputProblem(where, "connectors_figures", "figures must be a non-empty list")]
    catalog = default_indicator_catalog().set_index("indicator_code")
    regions = load_regions()
    region_names = dict(zip(regions["region_code"].astype(str), regions["name_zh"], strict=True))
    units = load_units()
    specs, problems = [], []
    for number, figure in enumerate(figures, start=1):
        place = f"{where} figures[{number}]"
        figure_problems = figure_field_problems(place, figure, catalog, region_names, units)
        if figure_problems:
            problems.extend(figure_problems)
            continue
        assert isinstance(figure, dict)
        compiled, pattern_problem = compiled_pattern(place, figure)
        if pattern_problem:
            problems.append(pattern_problem)
            continue
        assert compiled is not None
        specs.append(
            FigureSpec(
                indicator=str(figure["indicator"]),
                region_code=str(figure["region_code"]),
                region_name=region_names[str(figure["region_code"])],
                year=int(figure["year"]),
                unit=str(figure["unit"]),
                label=str(figure.get("label") or catalog.at[str(figure["indicator"]), "name_zh"]),
                phrase=str(figure.get("phrase") or figure.get("pattern")),
                pattern=compiled,
            )
        )
    problems.extend(label_problems(where, specs))
    return specs, problems


def figure_field_problems(place: str, figure: object, catalog, region_names: dict, units: dict) -> list[InputProblem]:
    """A figure's fields: present, a known indicator, region and unit, a year, exactly one of phrase and pattern."""
    if not isinstance(figure, dict):
        return [InputProblem(place, "connectors_figure", "a figure must be a mapping")]
    problems = [
        InputProblem(place, "connectors_required_field", f"missing required field {name!r}", expected=meaning)
        for name, meaning in FIGURE_FIELDS.items()
        if figure.get(name) in (None, "")
    ]
    if problems:
        return problems
    problems.extend(indicator_problems(place, figure, catalog, units))
    if str(figure["region_code"]) not in region_names:
        problems.append(
            InputProblem(
                place,
                "connectors_region",
                f"unknown region code {figure['region_code']!r}",
                expected=FIGURE_FIELDS["region_code"],
            )
        )
    if not re.fullmatch(r"\d{4}", str(figure["year"])):
        problems.append(
            InputProblem(place, "connectors_year", f"year {figure['year']!r} is not a year", expected="e.g. 2024")
        )
    if str(figure["unit"]) not in units:
        problems.append(
            InputProblem(
                place,
                "connectors_unit",
                f"unit {figure['unit']!r} is not in units.csv",
                expected=", ".join(sorted(units)),
            )
        )
    if bool(figure.get("phrase")) == bool(figure.get("pattern")):
        problems.append(
            InputProblem(
                place,
                "connectors_phrase",
                "a figure needs exactly one of `phrase` and `pattern`",
                expected="phrase: 规模以上工业总产值{value}亿元，同比{direction}… or pattern: a regex with (?P<value>…)",
            )
        )
    return problems


def indicator_problems(place: str, figure: dict, catalog, units: dict) -> list[InputProblem]:
    """A known, observed indicator whose unit is the printed unit's (a printed rate never feeds a computed one)."""
    code = str(figure["indicator"])
    if code not in catalog.index:
        return [
            InputProblem(
                place, "connectors_indicator", f"unknown indicator {code!r}", expected=FIGURE_FIELDS["indicator"]
            )
        ]
    if catalog.at[code, "kind"] != "observed":
        return [
            InputProblem(
                place,
                "connectors_indicator",
                f"indicator {code!r} is computed by the pipeline ({catalog.at[code, 'kind']}), not printed",
                expected="an observed indicator, e.g. a printed growth rate goes to …_growth_published",
            )
        ]
    printed_unit = str(figure["unit"])
    if printed_unit in units and units[printed_unit][0] != catalog.at[code, "unit"]:
        return [
            InputProblem(
                place,
                "connectors_unit",
                f"unit {printed_unit!r} ({units[printed_unit][0]}) is not the unit of {code!r} ({catalog.at[code, 'unit']})",
            )
        ]
    return []


def compiled_pattern(place: str, figure: dict) -> tuple[re.Pattern[str] | None, InputProblem | None]:
    """The figure's regular expression (from its phrase or pattern); it must have a `value` group."""
    source = phrase_regex(str(figure["phrase"])) if figure.get("phrase") else str(figure["pattern"])
    try:
        compiled = re.compile(source)
    except re.error as error:
        return None, InputProblem(place, "connectors_phrase", f"the pattern does not compile: {error}")
    if "value" not in compiled.groupindex:
        return None, InputProblem(
            place, "connectors_phrase", "the phrase has no {value} (the pattern no (?P<value>…) group)"
        )
    return compiled, None


def label_problems(where: str, specs: list[FigureSpec]) -> list[InputProblem]:
    """A printed label names one indicator, and one region × year × label is configured once."""
    problems = []
    indicators: dict[str, str] = {}
    seen: set[tuple[str, int, str]] = set()
    for spec in specs:
        if indicators.setdefault(spec.label, spec.indicator) != spec.indicator:
            problems.append(
                InputProblem(
                    where,
                    "connectors_label",
                    f"label {spec.label!r} names two indicators",
                    expected="one label per indicator",
                )
            )
        key = (spec.region_code, spec.year, spec.label)
        if key in seen:
            problems.append(InputProblem(where, "connectors_figure_twice", f"{key} is configured twice"))
        seen.add(key)
    return problems


def printed_value(match: re.Match[str]) -> str:
    """The figure as printed, without thousands commas; a rate printed after 下降/减少… carries a minus sign."""
    value = match.group("value").replace(",", "")
    direction = match.groupdict().get("direction")
    text = match.string
    falling = direction in FALLING_WORDS or (
        direction is not None and text[max(0, match.start("direction") - 1) : match.start("direction")] == "负"
    )
    if falling and not value.startswith("-"):
        return "-" + value.lstrip("+")
    return value


def unread_decline(match: re.Match[str]) -> str | None:
    """A decline word printed just before the figure that the phrase does not read ({direction} missing), or None."""
    if match.groupdict().get("direction") is not None:
        return None
    start = match.start("value")
    before = match.string[max(0, start - DECLINE_LOOKBACK_CHARACTERS) : start]
    return next((word for word in FALLING_WORDS if word in before), None)


def excerpt_around(text: str, start: int, end: int) -> str:
    """The sentence (or clause run) around a match, verbatim from the visible text, at most a few hundred characters."""
    first = max((text.rfind(mark, 0, start) for mark in SENTENCE_ENDS), default=-1) + 1
    endings = [position for position in (text.find(mark, end) for mark in SENTENCE_ENDS) if position != -1]
    last = min(endings) + 1 if endings else len(text)
    first = max(first, start - MAXIMUM_EXCERPT_CHARACTERS // 2)
    last = min(last, end + MAXIMUM_EXCERPT_CHARACTERS // 2)
    return text[first:last].strip()
