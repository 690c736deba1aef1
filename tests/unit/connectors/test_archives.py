"""The zip guards on made-up archives built in memory: bounded reading, member names, name decoding."""

from __future__ import annotations

import io
import zipfile

import pytest

from pipeline.connectors.archives import (
    CHUNK_BYTES,
    DEFAULT_LIMITS,
    ArchiveRefused,
    bounded_read,
    limits_with,
    take_member,
    unsafe_name_rule,
)

URL = "http://127.0.0.1/made_up.zip"


def archive_of(members: dict[str, bytes]) -> bytes:
    """A deflated zip of the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_member_is_read_in_bounded_chunks_and_stopped_at_the_limit():
    # Called directly, past the declared-size checks: the read itself stops once the member outgrows its ceiling,
    # after at most one chunk beyond it, whatever the header says.
    body = archive_of({"big.csv": bytes(10 * CHUNK_BYTES)})
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        info = archive.getinfo("big.csv")
        limits = limits_with({"max_member_bytes": 3 * CHUNK_BYTES, "max_compression_ratio": 10**9})
        with pytest.raises(ArchiveRefused) as raised:
            bounded_read(archive, info, URL, "big.csv", limits)
    assert raised.value.rule == "zip_expands_beyond_limit"
    assert f"past {3 * CHUNK_BYTES:,} bytes" in str(raised.value)


def test_a_member_within_the_limits_is_read_whole():
    data = "".join(f"made up {number},{number * 7}\n" for number in range(1000)).encode()
    member = take_member(archive_of({"a/t.csv": data, "a/u.csv": b"x"}), URL, "a/t.csv", dict(DEFAULT_LIMITS))
    assert (member.data, member.member_count) == (data, 2)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("../x.csv", "zip_parent_reference"),
        ("a/../../x.csv", "zip_parent_reference"),
        ("a\\..\\x.csv", "zip_parent_reference"),
        ("/x.csv", "zip_absolute_path"),
        ("\\x.csv", "zip_absolute_path"),
        ("C:x.csv", "zip_drive_letter"),
        ("c:\\x.csv", "zip_drive_letter"),
        ("a/x\x00.csv", "zip_nul_in_name"),
        ("a/..x.csv", None),
        ("a/x..csv", None),
        ("02/表2-10.csv", None),
    ],
)
def test_member_names_are_checked_against_path_traversal(name, rule):
    broken = unsafe_name_rule(name, zipfile.ZipInfo("placeholder"))
    assert (broken[0] if broken else None) == rule


def test_the_default_limits_are_those_documented():
    assert DEFAULT_LIMITS == {
        "max_members": 2000,
        "max_member_bytes": 20 * 1024 * 1024,
        "max_total_bytes": 200 * 1024 * 1024,
        "max_compression_ratio": 100,
    }
