"""Printed region names → region codes."""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.core.metadata import BoundaryChange
from pipeline.ingest.cells import normalise_label

# Leading markers of sub-items in region columns: 其中：荔湾区, #荔湾区.
REGION_PREFIX_PATTERN = re.compile(r"^(其中[:：]?|#)")


@lru_cache(maxsize=4)
def region_keys_of(lookup_items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Region lookup by matching key (region_key of each printed name), built once per lookup table, not per table."""
    return {region_key(name): code for name, code in lookup_items}


def region_key(printed: object) -> str:
    """A printed region name as a matching key: markers, spaces and 其中： / # prefixes removed."""
    return REGION_PREFIX_PATTERN.sub("", normalise_label(printed))


def printed_region_code(
    printed: str, regions: dict[str, str], former: dict[str, BoundaryChange], merged_into: dict[str, BoundaryChange]
) -> tuple[str | None, tuple[str, str, str] | None, BoundaryChange | None]:
    """Region code of a printed name, a problem (rule, message, expected), and the merger into it, if any (from whose
    year on its figures lie on the new boundary)."""
    change = former.get(printed)
    if change is not None and change.change == "renamed":
        return change.new_code, None, None
    if change is not None:
        return (
            None,
            (
                "former_region",
                f"{change.old_name} ({change.old_code}) was merged into {change.new_name} ({change.new_code}) in {change.year}; its figures cover only part of today's {change.new_name}",
                "the row left out via the sidecar's skip_regions (say so in caveats), or the former region added to regions.csv",
            ),
            None,
        )
    code = regions.get(printed)
    if code is None:
        return (
            None,
            (
                "unknown_region",
                f"region {printed!r} is not in regions.csv, region_aliases.csv or boundary_changes.csv",
                "an official name or a listed alias (add aliases to region_aliases.csv), or the row in skip_regions",
            ),
            None,
        )
    return code, None, merged_into.get(code)
