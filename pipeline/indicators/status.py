"""Merging the status flags and source ids of the inputs of a computed value."""

from __future__ import annotations


def merge_status(*statuses: str) -> str:
    """The union of the inputs' status flags, in a stable order."""
    return "".join(sorted(set("".join(statuses)) - {":"}))


def merge_source_ids(*source_ids: str) -> str:
    """The union of ';'-separated source id lists, sorted."""
    return ";".join(sorted({part for text in source_ids for part in str(text).split(";") if part}))
