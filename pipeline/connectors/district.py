"""District statistics bureaus' 经济运行情况 articles (prose) → the configured figures, each with its verbatim excerpt."""

from __future__ import annotations

import datetime as dt

from pipeline.connectors.config import HttpSettings, SourceConfig
from pipeline.connectors.figures import (
    FigureSpec,
    excerpt_around,
    figure_specs,
    printed_value,
    unread_decline,
    visible_text,
)
from pipeline.connectors.http import MalformedResponse, fetch_url
from pipeline.connectors.snapshots import TableSnapshot
from pipeline.connectors.yearbook import decode_page
from pipeline.core.errors import InputError

EXCERPT_COLUMN = "原文"
TABLE_NUMBER = "article text"


class DistrictEconomyArticleConnector:
    """One article page: find each configured phrase in its text, keep the figure as printed and the sentence it is in."""

    def __init__(self, source: SourceConfig, http: HttpSettings, accessed: dt.datetime):
        self.source = source
        self.http = http
        self.accessed = accessed

    def fetch_snapshot(self) -> TableSnapshot:
        """Fetch the page and read every figure; raise MalformedResponse naming the URL and the phrase it lacks."""
        settings = self.source.settings
        url = str(settings["url"])
        specs, problems = figure_specs(f"sources.{self.source.key}", settings.get("figures"))
        if problems:
            raise InputError(problems)
        response = fetch_url(url, self.http)
        text = visible_text(decode_page(response.body, response.content_type, url))
        expected = str(settings["expect_text"])
        if visible_text(expected) not in text:
            raise MalformedResponse(f"{url}: the page does not contain {expected!r}; is it still the same article?")
        rows = [figure_row(spec, text, url) for spec in specs]
        caveats = list(settings.get("caveats") or [])
        caveats.append(
            f"Publisher {settings['publisher']}: the district's statistics bureau, an official statistics office. "
            "Figures read from the article's prose by the configured phrases; every figure is kept as printed "
            "(growth rates as published, never recomputed; a rate printed after 下降/减少/回落 carries a minus sign). "
            f"The sentence each figure came from is in the CSV's {EXCERPT_COLUMN} column and below; "
            "the page itself is kept in the .page.htm file."
        )
        caveats.extend(verbatim_caveats(rows))
        return TableSnapshot(
            rows=rows,
            labels={spec.label: spec.indicator for spec in specs},
            provenance={
                "title": settings["title"],
                "publication": settings["publication"],
                "publisher": settings["publisher"],
                "table_number": TABLE_NUMBER,
                "edition": settings["edition"],
                "url": url,
                "licence": settings["licence"],
                "caveats": caveats,
            },
            original_body=response.body,
            original_suffix=".page.htm",
            extra_columns=[EXCERPT_COLUMN],
        )


def figure_row(spec: FigureSpec, text: str, url: str) -> dict[str, str]:
    """The one figure the phrase finds, with its unit printed right after it; else MalformedResponse naming both."""
    values: dict[str, str] = {}
    for match in spec.pattern.finditer(text):
        if not text.startswith(spec.unit, match.end("value")):
            continue
        decline = unread_decline(match)
        if decline:
            raise MalformedResponse(
                f"{url}: the page prints {decline!r} before the figure the phrase {spec.phrase!r} finds; put "
                "{direction} before {value} in the phrase so that the decline is read as a minus sign"
            )
        values.setdefault(printed_value(match), excerpt_around(text, match.start(), match.end()))
    if not values:
        raise MalformedResponse(
            f"{url}: the page no longer holds the phrase {spec.phrase!r} with the unit {spec.unit!r} right after the "
            f"figure ({spec.indicator}, {spec.region_name}, {spec.year}); nothing stored"
        )
    if len(values) > 1:
        raise MalformedResponse(
            f"{url}: the phrase {spec.phrase!r} finds {len(values)} different figures {sorted(values)} for "
            f"{spec.indicator}, {spec.region_name}, {spec.year}; make the phrase longer so that it finds one"
        )
    value, excerpt = next(iter(values.items()))
    return {
        "地区": spec.region_name,
        "年份": str(spec.year),
        "指标": spec.label,
        "数值": value,
        "单位": spec.unit,
        EXCERPT_COLUMN: excerpt,
    }


def verbatim_caveats(rows: list[dict[str, str]]) -> list[str]:
    """One caveat per excerpt, naming the figures read from it (in the configured order)."""
    figures: dict[str, list[str]] = {}
    for row in rows:
        figures.setdefault(row[EXCERPT_COLUMN], []).append(f"{row['指标']} {row['年份']}")
    return [f"Verbatim ({', '.join(names)}): '{excerpt}'" for excerpt, names in figures.items()]
