"""Provenance records of the raw tables, the check that the loaded tables match raw/, and update periods."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.sidecar import (
    SIDECAR_SUFFIX,
    SOURCE_ID_PATTERN,
    SOURCE_ID_RULE,
    is_plain_file_name,
    load_sidecar,
    read_sidecar_fields,
    sidecar_paths,
)

# Files in raw/ that are not data files: notes for people, and hidden files (a connector's .partial writes).
NOT_DATA_FILES = {"README.md"}
# Tables that declare no `update_period` in their sidecar are expected to be re-read from their source once a year.
DEFAULT_UPDATE_PERIOD = "P1Y"
DURATION_PATTERN = re.compile(r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?$")
SOURCE_COLUMNS = [
    "source_id",
    "title",
    "publication",
    "publisher",
    "table_number",
    "edition",
    "url",
    "url_note",
    "url_kind",
    "authority",
    "accessed",
    "licence",
    "file",
    "sha256",
    "caveats",
]


def sidecar_path_of(raw_dir: Path, source_id: str) -> Path:
    """Where a table's sidecar is: directly in raw/, or in a sub-folder (connector snapshots live in raw/<source>/)."""
    direct = raw_dir / f"{source_id}{SIDECAR_SUFFIX}"
    if direct.exists():
        return direct
    nested = sorted(raw_dir.rglob(f"{source_id}{SIDECAR_SUFFIX}"))
    return nested[0] if nested else direct


def loadable_source_ids(raw_dir: Path) -> list[str]:
    """The source ids the definitions are built from: each valid id once (raw_folder_problems reports the others)."""
    ids = [path.name.removesuffix(SIDECAR_SUFFIX) for path in sidecar_paths(raw_dir)]
    return list(dict.fromkeys(source_id for source_id in ids if SOURCE_ID_PATTERN.match(source_id)))


def raw_folder_problems(raw_dir: Path) -> list[InputProblem]:
    """Every data file in raw/ has exactly one sidecar, every sidecar name is a valid source id, used once."""
    paths = sidecar_paths(raw_dir)
    problems = []
    by_id: dict[str, list[Path]] = {}
    for path in paths:
        source_id = path.name.removesuffix(SIDECAR_SUFFIX)
        by_id.setdefault(source_id, []).append(path)
        if not SOURCE_ID_PATTERN.match(source_id):
            problems.append(
                InputProblem(
                    str(path),
                    "source_id_pattern",
                    f"the sidecar's name gives source id {source_id!r}, which is not a valid identifier",
                    expected=f"a sidecar named <source_id>{SIDECAR_SUFFIX}, the source id of {SOURCE_ID_RULE}",
                )
            )
    for source_id, same in by_id.items():
        if len(same) > 1:
            problems.append(
                InputProblem(
                    str(same[1]),
                    "duplicate_sidecar",
                    f"source id {source_id!r} has {len(same)} sidecars: {', '.join(str(path) for path in same)}",
                    expected="one sidecar per source id in raw/ and its sub-folders (remove or rename the copy)",
                )
            )
    claimed: dict[Path, list[Path]] = {}
    unreadable: set[Path] = set()  # sidecars that cannot be read, by folder and stem: their data file is not orphaned
    for path in paths:
        try:
            fields = read_sidecar_fields(path)
        except InputError as error:
            problems.extend(error.problems)  # the real cause, not "no sidecar names this file"
            unreadable.add(path.parent.resolve() / path.name.removesuffix(SIDECAR_SUFFIX))
            continue
        if not isinstance(fields, dict):
            problems.append(InputProblem(str(path), "sidecar_yaml", "the sidecar is not a YAML mapping"))
            unreadable.add(path.parent.resolve() / path.name.removesuffix(SIDECAR_SUFFIX))
            continue
        for key in ("file", "original_file"):
            if is_plain_file_name(fields.get(key)):
                claimed.setdefault((path.parent / fields[key]).resolve(), []).append(path)
    for data_path, sidecars in sorted(claimed.items()):
        if len(sidecars) > 1:
            problems.append(
                InputProblem(
                    str(data_path),
                    "data_file_claimed_twice",
                    f"{len(sidecars)} sidecars name this data file: {', '.join(str(path) for path in sidecars)} (its figures would be read twice)",
                    expected="exactly one sidecar per data file",
                )
            )
    problems.extend(orphan_problems(raw_dir, set(claimed), unreadable))
    return problems


def orphan_problems(raw_dir: Path, claimed: set[Path], unreadable: set[Path] | None = None) -> list[InputProblem]:
    """Data files that no sidecar names: a table whose sidecar was deleted would silently drop out. A data file
    beside an unreadable sidecar of its stem is not called orphaned (the sidecar's own problem is reported)."""
    problems = []
    for path in sorted(raw_dir.rglob("*")):
        relative = path.relative_to(raw_dir)
        if any(part.startswith(".") for part in relative.parts) or path.name in NOT_DATA_FILES:
            continue
        if path.is_dir() or path.name.endswith(SIDECAR_SUFFIX) or path.resolve() in claimed:
            continue
        if path.parent.resolve() / path.stem in (unreadable or set()):
            continue
        problems.append(
            InputProblem(
                str(path),
                "data_file_without_sidecar",
                "no sidecar names this file, so it would silently drop out of the dataset",
                expected=f"a sidecar <source_id>{SIDECAR_SUFFIX} beside it with file: {path.name} (or the file removed from raw/)",
            )
        )
    return problems


def require_loaded_tables(paths: list[Path], source_ids: list[str], raw_dir: Path) -> None:
    """Fail when raw/ holds other tables than the loaded definitions know: the code location must be reloaded."""
    on_disk = {path.name.removesuffix(SIDECAR_SUFFIX) for path in paths}
    added = sorted(on_disk - set(source_ids))
    removed = sorted(set(source_ids) - on_disk)
    problems = [
        InputProblem(
            str(raw_dir / f"{source_id}{SIDECAR_SUFFIX}"),
            "definitions_out_of_date",
            "this table was added after the pipeline's definitions were loaded",
            expected="a reloaded code location (UI: Deployment → Reload; or restart the daemon service)",
        )
        for source_id in added
    ] + [
        InputProblem(
            str(raw_dir / f"{source_id}{SIDECAR_SUFFIX}"),
            "definitions_out_of_date",
            "this table was removed after the pipeline's definitions were loaded",
            expected="a reloaded code location (UI: Deployment → Reload; or restart the daemon service)",
        )
        for source_id in removed
    ]
    if problems:
        raise InputError(problems)


def source_records(paths: list[Path], raw_dir: Path) -> pd.DataFrame:
    """One provenance record per sidecar; every sidecar problem in raw/ is reported at once."""
    records = []
    problems = []
    for path in paths:
        try:
            sidecar = load_sidecar(path, raw_dir)
        except InputError as error:
            problems.extend(error.problems)
            continue
        fields = sidecar.fields
        record = {column: fields.get(column) for column in SOURCE_COLUMNS}
        record["file"] = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
        record["caveats"] = "\n".join(str(caveat) for caveat in fields["caveats"])
        record["edition"] = str(fields["edition"])
        record["accessed"] = str(fields["accessed"])
        records.append(record)
    if problems:
        raise InputError(problems)
    return pd.DataFrame.from_records(records, columns=SOURCE_COLUMNS)


def add_period(start: dt.date, period: str) -> dt.date:
    """start + an ISO 8601 date period (PnYnMnWnD); a day past the month's end clamps to its last day."""
    match = DURATION_PATTERN.match(period)
    if not match or period == "P":
        raise ValueError(f"update_period {period!r} is not an ISO 8601 period such as P1Y, P6M or P90D")
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    months = start.month - 1 + parts["months"] + 12 * parts["years"]
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, last_day_of_month(year, month))
    return dt.date(year, month, day) + dt.timedelta(weeks=parts["weeks"], days=parts["days"])


def last_day_of_month(year: int, month: int) -> int:
    """The number of days in a month."""
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day
