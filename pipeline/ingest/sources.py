"""Provenance records of the raw tables, the check that the loaded tables match raw/, and update periods."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputError, InputProblem
from pipeline.ingest.sidecar import SIDECAR_SUFFIX, load_sidecar

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
