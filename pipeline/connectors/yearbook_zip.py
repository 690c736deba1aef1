"""Guangzhou Statistical Yearbook zip attachments: one configured CSV or XLSX member, kept byte for byte as raw/."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import PurePosixPath

from pipeline.connectors.archives import limits_with, take_member
from pipeline.connectors.config import HttpSettings, SourceConfig
from pipeline.connectors.http import MalformedResponse, fetch_url
from pipeline.connectors.snapshots import FileSnapshot
from pipeline.connectors.yearbook import YEARBOOK_PUBLISHER

# Sidecar fields a source block may set to tell the reader how to read the member (pipeline/ingest/sidecar.py).
READING_FIELDS = (
    "unit",
    "multiplier",
    "layout",
    "labels",
    "encoding",
    "sheet",
    "cell_range",
    "delimiter",
    "label_units",
    "blank_cells",
    "status",
    "skip_regions",
    "skip_labels",
    "boundaries",
    "short_rows",
    "next_edition_due",
    "update_period",
)


class GuangzhouYearbookZipConnector:
    """One zip attachment: check it against the archive limits and name rules, take the configured member as it is."""

    def __init__(self, source: SourceConfig, http: HttpSettings, accessed: dt.datetime):
        self.source = source
        self.http = http
        self.accessed = accessed

    def fetch_snapshot(self) -> FileSnapshot:
        """Fetch the zip and take the member; raise MalformedResponse (ArchiveRefused) naming URL, member and rule."""
        settings = self.source.settings
        url = str(settings["url"])
        wanted = str(settings["member"])
        response = fetch_url(url, self.http)
        member = take_member(response.body, url, wanted, limits_with(settings.get("limits")))
        suffix = PurePosixPath(wanted.replace("\\", "/")).suffix.lower()
        reading = {key: settings[key] for key in READING_FIELDS if key in settings}
        if suffix == ".csv" and "encoding" not in reading:
            reading["encoding"] = csv_encoding(member.data, url, wanted)
        zip_digest = hashlib.sha256(response.body).hexdigest()
        caveats = list(settings.get("caveats") or [])
        caveats.append(
            f"Member {wanted!r} of the zip attachment at the url ({member.member_count} members, "
            f"{member.compressed_bytes:,} bytes, sha256 {zip_digest}), stored byte for byte as the data file; "
            "the rest of the archive is not kept."
        )
        return FileSnapshot(
            data=member.data,
            data_suffix=suffix,
            reading=reading,
            provenance={
                "title": settings["title"],
                "publication": settings["publication"],
                "publisher": settings.get("publisher", YEARBOOK_PUBLISHER),
                "table_number": settings["table_number"],
                "edition": settings["edition"],
                "url": url,
                "licence": settings["licence"],
                "caveats": caveats,
                "retrieved_via": (
                    f"pipeline.connectors (guangzhou_yearbook_zip), automatic fetch: member {wanted!r} of the zip at "
                    f"the url (zip sha256 {zip_digest})"
                ),
            },
        )


def csv_encoding(data: bytes, url: str, member: str) -> str:
    """The encoding to declare for a CSV member: a UTF-8 BOM, else UTF-8, else GB18030 (GBK tables from Windows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise MalformedResponse(f"{url}: member {member!r} decodes neither as UTF-8 nor as GB18030; set `encoding`")
