"""Guangzhou Statistical Yearbook HTML table pages (one page per table) → the long table shape the reader reads."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

from pipeline.connectors.config import HttpSettings, SourceConfig
from pipeline.connectors.http import MalformedResponse, fetch_url
from pipeline.connectors.snapshots import TableSnapshot
from pipeline.ingest.cells import normalise_text, parse_year

YEARBOOK_PUBLISHER = "广州市统计局、国家统计局广州调查队"
CHARSET_PATTERN = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)
YEAR_LABEL_PATTERN = re.compile(r"^\d{4}")
FALLBACK_ENCODINGS = ("utf-8", "gb18030")


class GuangzhouYearbookConnector:
    """One yearbook table page: find the table of year rows, pick the configured columns by their header text."""

    def __init__(self, source: SourceConfig, http: HttpSettings, accessed: dt.datetime):
        self.source = source
        self.http = http
        self.accessed = accessed

    def fetch_snapshot(self) -> TableSnapshot:
        """Fetch the page, parse its table and build the snapshot; raise MalformedResponse when the page has changed."""
        settings = self.source.settings
        url = str(settings["url"])
        response = fetch_url(url, self.http)
        text = decode_page(response.body, response.content_type, url)
        expected_title = settings.get("expect_text")
        if expected_title and normalise_text(expected_title) not in page_text(text):
            raise MalformedResponse(
                f"{url}: the page does not contain {expected_title!r}; is it still table {settings['table_number']}?"
            )
        grid = year_table(text, url)
        rows, labels, skipped_labels = table_rows(grid, settings, url)
        caveats = list(settings.get("caveats") or [])
        caveats.append(
            f"Fetched from the yearbook's HTML table page; the columns read are {[column['label'] for column in settings['columns']]}. "
            "The original page is kept in the .page.htm file."
        )
        if skipped_labels:
            caveats.append(f"Rows whose year label is not a plain year are not transcribed: {skipped_labels}.")
        return TableSnapshot(
            rows=rows,
            labels=labels,
            provenance={
                "title": settings["title"],
                "publication": settings["publication"],
                "publisher": settings.get("publisher", YEARBOOK_PUBLISHER),
                "table_number": settings["table_number"],
                "edition": settings["edition"],
                "url": url,
                "licence": settings["licence"],
                "caveats": caveats,
            },
            original_body=response.body,
            original_suffix=".page.htm",
        )


class TableGridParser(HTMLParser):
    """Collect every <table> as rows of (text, colspan, rowspan) cells; nested tables are collected separately."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, int, int]]]] = []
        self.open_tables: list[list[list[tuple[str, int, int]]]] = []
        self.cell_text: list[str] | None = None
        self.cell_spans = (1, 1)

    def handle_starttag(self, tag, attrs):
        """Open tables, rows and cells; a <br> inside a cell is a space."""
        attributes = dict(attrs)
        if tag == "table":
            self.open_tables.append([])
        elif tag == "tr" and self.open_tables:
            self.open_tables[-1].append([])
        elif tag in ("td", "th") and self.open_tables:
            if not self.open_tables[-1]:
                self.open_tables[-1].append([])
            self.cell_text = []
            self.cell_spans = (span_of(attributes.get("colspan")), span_of(attributes.get("rowspan")))
        elif tag == "br" and self.cell_text is not None:
            self.cell_text.append(" ")

    def handle_endtag(self, tag):
        """Close cells and tables."""
        if tag in ("td", "th"):
            self.close_cell()
        elif tag == "table" and self.open_tables:
            self.close_cell()
            self.tables.append(self.open_tables.pop())

    def handle_data(self, data):
        """Text inside a cell."""
        if self.cell_text is not None:
            self.cell_text.append(data)

    def close_cell(self):
        """Store the open cell, if any, in the current row."""
        if self.cell_text is not None and self.open_tables:
            text = " ".join(normalise_text("".join(self.cell_text)).split())
            self.open_tables[-1][-1].append((text, *self.cell_spans))
        self.cell_text = None


def span_of(value: str | None) -> int:
    """A colspan/rowspan attribute as a positive integer (1 when absent or unreadable)."""
    try:
        return max(1, min(int(str(value).strip()), 100))
    except (TypeError, ValueError):
        return 1


def expand_spans(rows: list[list[tuple[str, int, int]]]) -> list[list[str]]:
    """Rows of cells with spans → a rectangular grid; a spanned cell's text is repeated in every position it covers."""
    grid: list[list[str]] = []
    pending: dict[tuple[int, int], str] = {}
    for row_number, row in enumerate(rows):
        line: list[str] = []
        column = 0
        cells = iter(row)
        while True:
            if (row_number, column) in pending:
                line.append(pending.pop((row_number, column)))
                column += 1
                continue
            cell = next(cells, None)
            if cell is None:
                break
            text, colspan, rowspan = cell
            for offset in range(colspan):
                line.append(text)
                for below in range(1, rowspan):
                    pending[(row_number + below, column + offset)] = text
            column += colspan
        while (row_number, column) in pending:
            line.append(pending.pop((row_number, column)))
            column += 1
        grid.append(line)
    width = max((len(line) for line in grid), default=0)
    return [line + [""] * (width - len(line)) for line in grid]


def decode_page(body: bytes, content_type: str, url: str) -> str:
    """The page's text: charset from the HTTP header, else from <meta>, else UTF-8 or GB18030 (gb2312/gbk pages)."""
    declared = []
    header_match = re.search(r"charset=([A-Za-z0-9_-]+)", content_type or "", re.IGNORECASE)
    if header_match:
        declared.append(header_match.group(1))
    meta_match = CHARSET_PATTERN.search(body[:4096])
    if meta_match:
        declared.append(meta_match.group(1).decode("ascii"))
    for encoding in [*declared, *FALLBACK_ENCODINGS]:
        name = "gb18030" if encoding.lower() in ("gb2312", "gbk") else encoding
        try:
            return body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    raise MalformedResponse(f"{url}: the page does not decode as {declared or list(FALLBACK_ENCODINGS)}")


def page_text(html: str) -> str:
    """The page's visible text, normalised, for a sanity check of its title."""
    return normalise_text(re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html)))


def year_table(html: str, url: str) -> list[list[str]]:
    """The table with the most rows starting with a year, as a grid; raise MalformedResponse if there is none."""
    parser = TableGridParser()
    parser.feed(html)
    parser.close()
    best, best_count = None, 0
    for table in parser.tables:
        grid = expand_spans(table)
        count = sum(1 for line in grid if line and YEAR_LABEL_PATTERN.match(line[0]))
        if count > best_count:
            best, best_count = grid, count
    if best is None:
        raise MalformedResponse(f"{url}: no HTML table with rows starting with a year")
    return best


def table_rows(
    grid: list[list[str]], settings: dict, url: str
) -> tuple[list[dict[str, str]], dict[str, str], list[str]]:
    """The configured columns of the year rows → long rows; columns are found by their header text, never by position."""
    first_data_row = next(number for number, line in enumerate(grid) if YEAR_LABEL_PATTERN.match(line[0]))
    # Title and unit lines spanning the whole width repeat one text in every column: they are not column headers.
    header_lines = [line for line in grid[:first_data_row] if len(set(line)) > 1]
    headers = [" ".join(line[column] for line in header_lines) for column in range(len(grid[0]))]
    compact_headers = [header.replace(" ", "") for header in headers]
    region = str(settings["region"])
    rows, labels, skipped = [], {}, []
    for column in settings["columns"]:
        wanted = [normalise_text(str(text)).replace(" ", "") for text in column["header"]]
        # Column 0 holds the year labels (and sometimes the title), never figures.
        matches = [
            index for index, header in enumerate(compact_headers) if index and all(text in header for text in wanted)
        ]
        if len(matches) != 1:
            raise MalformedResponse(
                f"{url}: {len(matches)} columns have a header containing {column['header']} (expected exactly one); "
                f"headers are {headers}"
            )
        index = matches[0]
        first_year = int(column.get("first_year", 0))
        labels[str(column["label"])] = str(column["indicator"])
        for line in grid[first_data_row:]:
            if not YEAR_LABEL_PATTERN.match(line[0]):
                continue
            year = parse_year(line[0])
            if year is None:
                if line[0] not in skipped:
                    skipped.append(line[0])
                continue
            if year < first_year:
                continue
            rows.append(
                {
                    "地区": region,
                    "年份": str(year),
                    "指标": str(column["label"]),
                    "数值": line[index],
                    "单位": str(column["unit"]),
                }
            )
    return rows, labels, skipped
