"""Ingest: metadata files and raw tables as published → staged tidy observations with lineage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.errors import InputError, InputProblem
from pipeline.metadata import load_indicator_catalog, load_regions, load_units, region_name_lookup
from pipeline.reader import STAGED_COLUMNS, read_source_table
from pipeline.resources import ProjectPaths
from pipeline.sidecar import SIDECAR_SUFFIX, load_sidecar, sidecar_paths

GROUP = "ingest"
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


@dg.asset(group_name=GROUP)
def regions() -> pd.DataFrame:
    """The region dimension: China, Guangdong, its cities and Guangzhou's districts with their groups."""
    return load_regions()


@dg.asset(group_name=GROUP)
def indicator_catalog() -> pd.DataFrame:
    """The indicator catalogue: code, names, unit, definition, formula and plausible range of every indicator."""
    return load_indicator_catalog()


@dg.asset(group_name=GROUP)
def sources(project_paths: ProjectPaths) -> pd.DataFrame:
    """Provenance of every raw table, from its sidecar, after checking the data file's sha256."""
    raw_dir = project_paths.raw_path
    paths = sidecar_paths(raw_dir)
    if not paths:
        raise InputError(
            [
                InputProblem(
                    str(raw_dir),
                    "no_tables",
                    "no sidecars (*.meta.yaml) found",
                    expected="at least one raw table with its sidecar",
                )
            ]
        )
    return source_records(paths, raw_dir)


@dg.asset(group_name=GROUP)
def staged_observations(project_paths: ProjectPaths, sources: pd.DataFrame) -> pd.DataFrame:
    """Every raw table read through the generic reader into tidy observations with file, row and column."""
    raw_dir = project_paths.raw_path
    lookup = region_name_lookup()
    units = load_units()
    frames = []
    problems = []
    for source in sources.itertuples(index=False):
        sidecar_path = (raw_dir / source.file).parent / f"{source.source_id}{SIDECAR_SUFFIX}"
        try:
            sidecar = load_sidecar(sidecar_path, raw_dir)
            frames.append(read_source_table(sidecar, raw_dir, lookup, units))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    staged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=STAGED_COLUMNS)
    return staged[STAGED_COLUMNS]


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
