"""Taking one member out of a downloaded zip safely: limits against zip bombs, names checked against path traversal."""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass

from pipeline.connectors.http import MalformedResponse

# Generous for a yearbook's attachment (a chapter of a few hundred tables of some kilobytes each), far below a bomb.
DEFAULT_LIMITS = {
    "max_members": 2000,
    "max_member_bytes": 20 * 1024 * 1024,  # the reader's own limit on a raw file (pipeline/ingest/sidecar.py)
    "max_total_bytes": 200 * 1024 * 1024,
    "max_compression_ratio": 100,
}
CHUNK_BYTES = 64 * 1024
UTF8_NAME_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
NAME_ENCODINGS = ("utf-8", "gb18030")


class ArchiveRefused(MalformedResponse):
    """A zip refused by a safety rule; the message names the URL, the member and the rule."""

    def __init__(self, url: str, member: str, rule: str, detail: str):
        super().__init__(f"{url}: member {member!r} refused by rule {rule}: {detail}; nothing stored")
        self.url = url
        self.member = member
        self.rule = rule


@dataclass(frozen=True)
class ArchiveMember:
    """The member taken: its name (decoded), its bytes, and what the archive held."""

    name: str
    data: bytes
    member_count: int
    compressed_bytes: int


def limits_with(overrides: dict | None) -> dict[str, int | float]:
    """The default limits, with the configured overrides."""
    return {**DEFAULT_LIMITS, **(overrides or {})}


def member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as published: UTF-8 when flagged, else the bytes as UTF-8 or GB18030 (Chinese Windows zips)."""
    if info.flag_bits & UTF8_NAME_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")  # zipfile decoded the unflagged bytes as cp437; recover them
    for encoding in NAME_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def unsafe_name_rule(name: str, info: zipfile.ZipInfo) -> tuple[str, str] | None:
    """The path-traversal rule a member's name or type breaks (rule, detail), or None when it is safe."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")):
        return "zip_absolute_path", "the name is an absolute path"
    if DRIVE_LETTER.match(name):
        return "zip_drive_letter", "the name starts with a drive letter"
    if ".." in parts:
        return "zip_parent_reference", "the name climbs out of the archive with '..'"
    if "\x00" in name:
        return "zip_nul_in_name", "the name contains a NUL character"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "zip_symlink", "the member is a symbolic link"
    return None


def take_member(body: bytes, url: str, wanted: str, limits: dict[str, int | float]) -> ArchiveMember:
    """Check the whole archive against the limits and the name rules, then read the wanted member in bounded chunks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise MalformedResponse(f"{url}: the answer is not a readable zip archive ({error})") from error
    with archive:
        members = archive.infolist()
        if len(members) > limits["max_members"]:
            raise ArchiveRefused(
                url,
                wanted,
                "zip_member_count",
                f"the archive has {len(members)} members, over {limits['max_members']:g}",
            )
        named = [(member_name(info), info) for info in members]
        check_archive(named, url, limits)
        info = chosen_member(named, url, wanted)
        data = bounded_read(archive, info, url, wanted, limits)
    return ArchiveMember(name=wanted, data=data, member_count=len(members), compressed_bytes=len(body))


def check_archive(named: list[tuple[str, zipfile.ZipInfo]], url: str, limits: dict[str, int | float]) -> None:
    """Every member: a safe name, declared sizes within the limits, a plausible compression ratio."""
    total = 0
    for name, info in named:
        broken = unsafe_name_rule(name, info)
        if broken:
            raise ArchiveRefused(url, name, *broken)
        if info.file_size > limits["max_member_bytes"]:
            raise ArchiveRefused(
                url,
                name,
                "zip_member_size",
                f"it declares {info.file_size:,} bytes uncompressed, over {limits['max_member_bytes']:,.0f}",
            )
        if info.file_size > limits["max_compression_ratio"] * max(info.compress_size, 1):
            raise ArchiveRefused(
                url,
                name,
                "zip_compression_ratio",
                f"{info.compress_size:,} compressed bytes declare {info.file_size:,} uncompressed, a ratio over "
                f"{limits['max_compression_ratio']:g}",
            )
        total += info.file_size
        if total > limits["max_total_bytes"]:
            raise ArchiveRefused(
                url,
                name,
                "zip_total_size",
                f"the members declare {total:,} bytes uncompressed in all, over {limits['max_total_bytes']:,.0f}",
            )


def chosen_member(named: list[tuple[str, zipfile.ZipInfo]], url: str, wanted: str) -> zipfile.ZipInfo:
    """The one member named `wanted` (names compared after NFC normalisation and with / separators)."""
    key = comparable_name(wanted)
    matches = [info for name, info in named if comparable_name(name) == key]
    if not matches:
        listed = ", ".join(repr(name) for name, _ in named[:20])
        raise ArchiveRefused(url, wanted, "zip_member_missing", f"no such member; the archive holds {listed}")
    if len(matches) > 1:
        raise ArchiveRefused(url, wanted, "zip_member_twice", f"{len(matches)} members have this name")
    info = matches[0]
    if info.is_dir():
        raise ArchiveRefused(url, wanted, "zip_member_directory", "the member is a folder, not a table")
    if info.flag_bits & ENCRYPTED_FLAG:
        raise ArchiveRefused(url, wanted, "zip_member_encrypted", "the member is encrypted")
    return info


def comparable_name(name: str) -> str:
    """A member name for comparison: NFC, forward slashes."""
    return unicodedata.normalize("NFC", name).replace("\\", "/")


def bounded_read(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, url: str, wanted: str, limits: dict[str, int | float]
) -> bytes:
    """Read a member chunk by chunk, stopping as soon as it expands beyond its limits (declared sizes may lie)."""
    ceiling = min(limits["max_member_bytes"], limits["max_compression_ratio"] * max(info.compress_size, 1))
    chunks, size = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > ceiling:
                    raise ArchiveRefused(
                        url,
                        wanted,
                        "zip_expands_beyond_limit",
                        f"it expands past {ceiling:,.0f} bytes while reading (declared {info.file_size:,} from "
                        f"{info.compress_size:,} compressed)",
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, RuntimeError) as error:
        raise MalformedResponse(f"{url}: member {wanted!r} cannot be read ({type(error).__name__}: {error})") from error
    return b"".join(chunks)
