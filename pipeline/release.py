"""Versioned, write-once releases: Parquet tables, extra files, CHANGES.md and a Frictionless datapackage.json."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.warehouse import fsync_directory, fsync_file, lock_is_held, pause_point

if TYPE_CHECKING:
    import pandera.pandas as pandera

LATEST = "latest"
DATAPACKAGE = "datapackage.json"
CHANGES = "CHANGES.md"
TEMPORARY_PREFIX = ".tmp-"
VERSION_PATTERN = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})\.(\d+)$")
PACKAGE_NAME = "guangzhou-urban-rural-convergence"
PACKAGE_TITLE = "Urban–rural convergence indicators for Guangzhou and Guangdong (百千万工程)"
CODE_COLUMNS = {"region_code": "region", "indicator_code": "indicator"}
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".json": "application/json",
    ".txt": "text/plain",
    ".yaml": "application/yaml",
    ".html": "text/html",
    ".png": "image/png",
}
# Extra files whose text may hold the release version placeholder; any other file (a PNG) is written byte for byte.
TEXT_SUFFIXES = {".csv", ".md", ".json", ".txt", ".yaml", ".html"}
# Words in a pandera dtype's name → the Arrow type a release column gets, first match wins (as in the dictionary).
ARROW_TYPES = [("bool", pa.bool_()), ("int", pa.int64()), ("float", pa.float64()), ("str", pa.large_string())]
LARGEST_CHANGES_PER_TABLE = 10
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
HASH_CHUNK_BYTES = 1 << 20
# pyarrow's default maximum rows per Parquet row group (pq.write_table's row_group_size).
ROW_GROUP_ROWS = 1024 * 1024
# Extra files may hold this placeholder (e.g. the dataset card's "how to cite"): it is replaced by the version when
# the release is written, after the content hash was taken, so the hash stays independent of the version.
RELEASE_VERSION_PLACEHOLDER = "{{release_version}}"


@dataclass(frozen=True)
class Release:
    """A complete release on disk: its version, folder and data package descriptor."""

    version: str
    path: Path
    descriptor: dict

    @property
    def content_hash(self) -> str | None:
        """The content hash recorded when the release was cut."""
        return self.descriptor.get("content_hash")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def parse_version(name: str) -> tuple[int, ...] | None:
    """'2026.11.28.2' → (2026, 11, 28, 2); anything else → None."""
    match = VERSION_PATTERN.match(name)
    return tuple(int(part) for part in match.groups()) if match else None


def release_versions(releases_dir: Path) -> list[str]:
    """Versions of the release folders (complete by construction: they only appear by rename), oldest first."""
    if not releases_dir.is_dir():
        return []
    names = [
        entry.name
        for entry in releases_dir.iterdir()
        if entry.is_dir() and not entry.is_symlink() and parse_version(entry.name)
    ]
    return sorted(names, key=parse_version)


def newest_release(releases_dir: Path) -> Release | None:
    """The newest release (by version, whatever `latest` says), or None before the first one."""
    versions = release_versions(releases_dir)
    if not versions:
        return None
    path = releases_dir / versions[-1]
    try:
        descriptor = json.loads((path / DATAPACKAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RuntimeError(f"{path / DATAPACKAGE} is unreadable ({error}); run `make verify`") from error
    return Release(versions[-1], path, descriptor)


def next_version(releases_dir: Path, today: dt.date) -> str:
    """Calendar version plus a sequence number; never sorts before an existing release, even if the clock did."""
    versions = release_versions(releases_dir)
    newest = parse_version(versions[-1]) if versions else None
    day = (today.year, today.month, today.day)
    if newest and newest[:3] >= day:
        day, sequence = newest[:3], newest[3] + 1
    else:
        sequence = 1
    return f"{day[0]:04d}.{day[1]:02d}.{day[2]:02d}.{sequence}"


def latest_version(releases_dir: Path) -> str | None:
    """The version `latest` points at, if it is a symlink to a release folder."""
    link = releases_dir / LATEST
    if not link.is_symlink():
        return None
    return os.readlink(link)


def content_hash(tables: dict[str, pd.DataFrame], extra_files: dict[str, bytes]) -> str:
    """A hash of the published content (table names, columns, types and values in row order; extra files' bytes).

    Values are hashed column by column from their Arrow form, never rendered as text, so it is fast on millions of
    rows; it does not depend on file bytes, Parquet settings, chunking or on how a text column is held in memory
    (plain text or categorical): numbers as a validity bitmap then their bytes, text as its sorted distinct values
    then each row's position among them (int32, -1 missing).
    Rows are hashed in the order the tables have (every published table is sorted).
    """
    digest = hashlib.sha256()
    for name, frame in tables.items():
        digest.update(f"table {name} {list(frame.columns)} {len(frame)}\n".encode())
        for column_name in frame.columns:
            update_with_column(digest, pa.array(frame[column_name], from_pandas=True))
    for name in sorted(extra_files):
        digest.update(f"file {name} {len(extra_files[name])}\n".encode())
        digest.update(extra_files[name])
    return digest.hexdigest()


def update_with_column(digest, column: pa.Array | pa.ChunkedArray) -> None:
    """Feed one column to a hash: its normalised type, which values are present, then the values themselves."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    fixed_width = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    if fixed_width or pa.types.is_boolean(column.type):
        digest.update(f"column {column.type} {len(column)}\n".encode())
        digest.update(np.packbits(pc.is_valid(column).to_numpy(zero_copy_only=False)))
        zero = False if pa.types.is_boolean(column.type) else 0
        digest.update(np.ascontiguousarray(column.fill_null(zero).to_numpy(zero_copy_only=False)))
        return
    distinct, positions = sorted_distinct_texts(column)
    digest.update(f"column {pa.large_string()} {len(column)} {len(distinct)}\n".encode())
    digest.update(pc.binary_length(distinct).to_numpy(zero_copy_only=False).astype("int64"))
    offsets = np.frombuffer(distinct.buffers()[1], dtype="int64")[distinct.offset : distinct.offset + len(distinct) + 1]
    if len(offsets) and distinct.buffers()[2] is not None:
        digest.update(memoryview(distinct.buffers()[2])[offsets[0] : offsets[-1]])
    digest.update(positions)


def sorted_distinct_texts(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A text column's sorted distinct values and each row's position among them (-1 missing), however it is held.

    Plain or dictionary-encoded text (a pandas categorical, with unused categories dropped) give the same result
    for the same texts; anything else (dates, all-null columns) is taken as its text.
    """
    if not pa.types.is_dictionary(column.type):
        if not pa.types.is_large_string(column.type):
            column = column.cast(pa.large_string())  # strings; dates, nulls and anything else as their text
        column = pc.dictionary_encode(column)
    dictionary = column.dictionary.cast(pa.large_string())
    indices = column.indices.fill_null(-1).to_numpy(zero_copy_only=False)  # its own integer width; -1 missing
    used = np.zeros(len(dictionary) + 1, dtype=bool)
    used[indices] = True  # index -1 marks the extra last slot
    used_positions = np.flatnonzero(used[:-1])
    distinct = dictionary.take(pa.array(used_positions))
    order = pc.sort_indices(distinct).to_numpy()
    rank = np.full(len(dictionary) + 1, -1, dtype="int32")  # a column has fewer than 2**31 distinct texts
    rank[used_positions[order]] = np.arange(len(order), dtype="int32")
    return distinct.take(pa.array(order)), rank[indices]


def file_bytes(content: bytes | str | pd.DataFrame) -> bytes:
    """The bytes of an extra release file: bytes as given, text as UTF-8, a frame as UTF-8 CSV without index."""
    if isinstance(content, pd.DataFrame):
        return content.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


def prepare_release(
    tables: dict[str, pd.DataFrame],
    extra_files: dict[str, bytes],
    releases_dir: Path,
    version: str,
    content: str,
    descriptions: dict[str, dict[str, str]],
    primary_keys: dict[str, list[str]],
    previous: Release | None,
    models: dict[str, type[pandera.DataFrameModel]] | None = None,
) -> Path:
    """Write a complete release (tables, extra files, CHANGES.md, datapackage.json) into a temporary folder."""
    models = models or {}
    check_extra_file_names(extra_files, tables)
    temporary = releases_dir / f"{TEMPORARY_PREFIX}{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    resources = []
    for name, frame in tables.items():
        path = temporary / f"{name}.parquet"
        schema = write_table_file(frame, models.get(name), path)
        resources.append(
            {
                "name": name,
                "type": "table",
                "path": path.name,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "hash": f"sha256:{sha256_file(path)}",
                "bytes": path.stat().st_size,
                "rows": len(frame),
                "schema": table_schema(schema, descriptions.get(name, {}), primary_keys.get(name, [])),
            }
        )
        if len(resources) == 1:
            pause_point("release", releases_dir)
    changes = changes_markdown(tables, primary_keys, version, previous)
    for file_name, data in {**extra_files, CHANGES: changes.encode("utf-8")}.items():
        path = temporary / file_name
        if path.suffix.lower() in TEXT_SUFFIXES:
            data = data.replace(RELEASE_VERSION_PLACEHOLDER.encode("utf-8"), version.encode("utf-8"))
        path.write_bytes(data)
        resources.append(file_resource(path))
    package = {
        "name": PACKAGE_NAME,
        "title": PACKAGE_TITLE,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "content_hash": content,
        "previous_version": previous.version if previous else None,
        "licenses": [{"name": "various", "title": "Each figure keeps its source's terms; see the sources table"}],
        "resources": resources,
    }
    (temporary / DATAPACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for path in temporary.iterdir():
        fsync_file(path)
    fsync_directory(temporary)
    return temporary


def typed_arrow_table(frame: pd.DataFrame, model: type[pandera.DataFrameModel] | None) -> pa.Table:
    """The frame as an Arrow table, each column cast to its pandera model's type (an all-null column is not `null`)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.cast(published_schema(frame, table.schema, model))


def published_schema(frame: pd.DataFrame, schema: pa.Schema, model: type[pandera.DataFrameModel] | None) -> pa.Schema:
    """The Arrow schema a table is published with: the model's column types, categoricals as text."""
    categorical = [name for name in frame.columns if isinstance(frame[name].dtype, pd.CategoricalDtype)]
    metadata = schema.metadata
    if categorical:
        # Categoricals are an in-memory form: published as text, with the pandas metadata of text columns too
        # (pandas reading the file gets text, and the file's bytes do not depend on how the frame was held).
        plain = frame.iloc[:0].astype(dict.fromkeys(categorical, "str"))
        metadata = pa.Schema.from_pandas(plain, preserve_index=False).metadata
    types = {name: arrow_type(str(column.dtype)) for name, column in model.to_schema().columns.items()} if model else {}
    fields = [
        pa.field(field.name, types.get(field.name) or (pa.large_string() if field.name in categorical else field.type))
        for field in schema
    ]
    return pa.schema(fields, metadata=metadata)


def write_table_file(frame: pd.DataFrame, model: type[pandera.DataFrameModel] | None, path: Path) -> pa.Schema:
    """Write a frame as a zstd Parquet file in its published schema, one row group's worth at a time; its schema.

    Each slice is cast (categoricals decoded to text) just before it is written, so a table of millions of rows
    is never held as text all at once. Slices of pyarrow's default row-group size give the file pq.write_table
    would write.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = published_schema(frame, table.schema, model)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, table.num_rows or 1, ROW_GROUP_ROWS):
            writer.write_table(table.slice(start, ROW_GROUP_ROWS).cast(schema))
    return schema


def arrow_type(dtype: str) -> pa.DataType | None:
    """The Arrow type of a pandera dtype name ('int64', 'Int64', 'float64', 'string[pyarrow]', 'bool'), or None."""
    lowered = dtype.lower()
    return next((arrow for word, arrow in ARROW_TYPES if word in lowered), None)


def check_extra_file_names(extra_files: dict[str, bytes], tables: dict[str, pd.DataFrame]) -> None:
    """Extra files are plain names that collide with no table file, CHANGES.md or datapackage.json."""
    reserved = {DATAPACKAGE, CHANGES, *(f"{name}.parquet" for name in tables)}
    for name in extra_files:
        if name in reserved or "/" in name or "\\" in name or name.startswith(".") or not name:
            raise ValueError(f"release file name {name!r} is reserved or not a plain file name")


def file_resource(path: Path) -> dict:
    """A data package resource for an extra file: a CSV is a table (columns as strings), anything else a file."""
    resource = {
        "name": path.name.lower(),
        "path": path.name,
        "format": path.suffix.lstrip(".").lower(),
        "mediatype": MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        "hash": f"sha256:{sha256_file(path)}",
        "bytes": path.stat().st_size,
    }
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        resource.update(
            type="table",
            encoding="utf-8",
            dialect={"delimiter": ","},  # stated: sniffing misreads a file whose texts hold ';' (dictionary.csv)
            rows=csv_row_count(path),
            schema={"fields": [{"name": name, "type": "string"} for name in header]},
        )
    else:
        resource["type"] = "file"
    return resource


def commit_release(temporary: Path, releases_dir: Path, version: str) -> Path:
    """Make the prepared files read-only and rename the folder to its version; never replaces an existing release."""
    if not lock_is_held(releases_dir.parent):
        raise RuntimeError(f"committing a release needs the pipeline lock of {releases_dir.parent}")
    final = releases_dir / version
    if final.exists():
        raise FileExistsError(f"release {final} already exists; releases are write-once")
    for path in temporary.iterdir():
        path.chmod(READ_ONLY)
    os.rename(temporary, final)
    fsync_directory(releases_dir)
    return final


def point_latest_at(releases_dir: Path, version: str) -> None:
    """Switch the `latest` symlink to a version atomically (a new link renamed over the old one)."""
    link = releases_dir / LATEST
    temporary_link = releases_dir / f".{LATEST}-{os.getpid()}"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(version, target_is_directory=True)
    os.replace(temporary_link, link)
    fsync_directory(releases_dir)


def remove_stale_temporaries(releases_dir: Path) -> list[Path]:
    """Remove half-written release folders and links of earlier runs (only under the pipeline lock)."""
    if not releases_dir.is_dir():
        return []
    if not lock_is_held(releases_dir.parent):
        raise RuntimeError(f"removing temporary releases needs the pipeline lock of {releases_dir.parent}")
    removed = []
    for entry in sorted([*releases_dir.glob(f"{TEMPORARY_PREFIX}*"), *releases_dir.glob(f".{LATEST}-*")]):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def table_schema(arrow_schema: pa.Schema, descriptions: dict[str, str], primary_key: list[str]) -> dict:
    """A Frictionless table schema for a table of this Arrow schema."""
    fields = [
        {"name": field.name, "type": frictionless_type(field.type), "description": descriptions.get(field.name, "")}
        for field in arrow_schema
    ]
    schema = {"fields": fields}
    if primary_key:
        schema["primaryKey"] = list(primary_key)
    return schema


def frictionless_type(arrow_type: pa.DataType) -> str:
    """The Table Schema type of an Arrow type."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "datetime"
    return "any"


def csv_row_count(path: Path) -> int:
    """Data rows of a UTF-8 CSV file (records, not lines; the header excluded)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def verify_release(path: Path, expected_version: str | None = None) -> list[str]:
    """Every file of a release against its datapackage.json (sha256, bytes, rows); the problems found, named."""
    label = expected_version or path.name
    descriptor_path = path / DATAPACKAGE
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{label}/{DATAPACKAGE}: unreadable ({error})"]
    problems = []
    if descriptor.get("version") != label:
        problems.append(f"{label}/{DATAPACKAGE}: declares version {descriptor.get('version')!r}")
    listed = {DATAPACKAGE}
    for resource in descriptor.get("resources", []):
        relative = str(resource.get("path", ""))
        listed.add(relative)
        problems.extend(f"{label}/{relative}: {problem}" for problem in resource_problems(path, resource))
    for entry in sorted(path.iterdir()):
        if entry.name not in listed:
            problems.append(f"{label}/{entry.name}: file not listed in {DATAPACKAGE}")
    return problems


def resource_problems(folder: Path, resource: dict) -> list[str]:
    """The mismatches between one resource's declared sha256, bytes and rows and its file."""
    relative = str(resource.get("path", ""))
    path = folder / relative
    if not relative or "/" in relative or relative.startswith(".") or not path.is_file():
        return ["file missing" if relative else "resource without a path"]
    problems = []
    declared_hash = str(resource.get("hash", ""))
    actual_hash = sha256_file(path)
    if not declared_hash.startswith("sha256:"):
        problems.append(f"no sha256 declared (hash is {declared_hash!r})")
    elif declared_hash.removeprefix("sha256:") != actual_hash:
        problems.append(f"sha256 mismatch: declared {declared_hash.removeprefix('sha256:')}, file has {actual_hash}")
    size = path.stat().st_size
    if resource.get("bytes") != size:
        problems.append(f"bytes mismatch: declared {resource.get('bytes')}, file has {size}")
    if "rows" in resource:
        try:
            rows = pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else csv_row_count(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            problems.append(f"rows unreadable: {error}")
        else:
            if rows != resource["rows"]:
                problems.append(f"rows mismatch: declared {resource['rows']}, file has {rows}")
    return problems


def verify_releases(releases_dir: Path) -> dict[str, list[str]]:
    """Problems of every release (version → problems, empty when it verifies) and of the `latest` link."""
    results = {version: verify_release(releases_dir / version) for version in release_versions(releases_dir)}
    link = releases_dir / LATEST
    if results:
        target = latest_version(releases_dir)
        if target is None:
            results[LATEST] = [f"{LATEST}: missing or not a symlink"]
        elif target not in results:
            results[LATEST] = [f"{LATEST}: points at {target!r}, which is not a release"]
        else:
            results[LATEST] = []
    elif link.exists() or link.is_symlink():
        results[LATEST] = [f"{LATEST}: exists but there are no releases"]
    return results


def changes_markdown(
    tables: dict[str, pd.DataFrame], primary_keys: dict[str, list[str]], version: str, previous: Release | None
) -> str:
    """CHANGES.md of a new release against the previous one: rows by primary key, largest changes, codes."""
    lines = [f"# Changes in release {version}", ""]
    if previous is None:
        lines += ["First release: nothing to compare with.", "", "| table | rows |", "|---|---:|"]
        lines += [f"| {name} | {len(frame)} |" for name, frame in tables.items()]
        return "\n".join(lines) + "\n"
    lines += [f"Compared with release {previous.version}.", ""]
    old_tables = previous_tables(previous)
    summary = ["| table | rows before | rows after | added | removed | changed |", "|---|---:|---:|---:|---:|---:|"]
    details: list[str] = []
    largest: list[str] = []
    for name, frame in tables.items():
        old = old_tables.get(name)
        if old is None:
            summary.append(f"| {name} | – | {len(frame)} | {len(frame)} (new table) | 0 | 0 |")
            continue
        comparison = compare_table(old, frame, primary_keys.get(name, []))
        if comparison is None:
            summary.append(f"| {name} | {len(old)} | {len(frame)} | ? | ? | ? |")
            details.append(f"- {name}: no unique primary key in both versions, rows not compared.")
            continue
        added, removed, changed, value_changes = comparison
        summary.append(f"| {name} | {len(old)} | {len(frame)} | {added} | {removed} | {changed} |")
        details += schema_change_lines(name, old, frame)
        if value_changes:
            largest += [f"### {name}", "", "| key | column | before | after | change | relative |"]
            largest += ["|---|---|---:|---:|---:|---:|", *value_changes, ""]
    for name in old_tables:
        if name not in tables:
            summary.append(
                f"| {name} | {len(old_tables[name])} | – | 0 | {len(old_tables[name])} (retired table) | 0 |"
            )
    lines += ["## Rows by primary key", "", *summary, ""]
    if details:
        lines += ["## Schema", "", *details, ""]
    lines += ["## Largest value changes", ""]
    lines += largest or ["No numeric value changed.", ""]
    lines += ["## Codes", "", *code_change_lines(old_tables, tables)]
    return "\n".join(lines) + "\n"


def previous_tables(previous: Release) -> dict[str, pd.DataFrame]:
    """The Parquet tables of a release, by resource name."""
    return {
        resource["name"]: pd.read_parquet(previous.path / resource["path"])
        for resource in previous.descriptor.get("resources", [])
        if resource.get("format") == "parquet"
    }


def compare_table(old: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> tuple[int, int, int, list[str]] | None:
    """Rows added, removed and changed by primary key, and the largest numeric changes as table lines."""
    if not key or any(column not in old or column not in new for column in key):
        return None
    old_indexed, new_indexed = old.set_index(key), new.set_index(key)
    if not (old_indexed.index.is_unique and new_indexed.index.is_unique):
        return None
    common = new_indexed.index.intersection(old_indexed.index)
    added = len(new_indexed.index.difference(old_indexed.index))
    removed = len(old_indexed.index.difference(new_indexed.index))
    columns = [column for column in new_indexed.columns if column in old_indexed.columns]
    before = old_indexed.loc[common, columns].astype(object)
    after = new_indexed.loc[common, columns].astype(object)
    differs = ~((before == after) | (before.isna() & after.isna()))
    changed = int(differs.any(axis=1).sum())
    return added, removed, changed, largest_value_changes(old_indexed.loc[common], new_indexed.loc[common], key)


def largest_value_changes(before: pd.DataFrame, after: pd.DataFrame, key: list[str]) -> list[str]:
    """Markdown rows of the largest relative changes in numeric columns, largest first."""
    records = []
    for column in after.columns:
        if column not in before or not (
            pd.api.types.is_numeric_dtype(before[column]) and pd.api.types.is_numeric_dtype(after[column])
        ):
            continue
        if pd.api.types.is_bool_dtype(before[column]) or pd.api.types.is_bool_dtype(after[column]):
            continue
        old_values = before[column].astype("float64")
        new_values = after[column].astype("float64")
        change = new_values - old_values
        moved = (change.notna() & (change != 0)) | (old_values.isna() != new_values.isna())
        for index in change[moved].index:
            old_value, new_value = old_values[index], new_values[index]
            relative = change[index] / abs(old_value) if old_value and pd.notna(change[index]) else float("inf")
            records.append((abs(relative), index, column, old_value, new_value, change[index], relative))
    records.sort(key=lambda record: record[0], reverse=True)
    lines = []
    for _, index, column, old_value, new_value, change, relative in records[:LARGEST_CHANGES_PER_TABLE]:
        values = index if isinstance(index, tuple) else (index,)
        label = ", ".join(f"{name}={value}" for name, value in zip(key, values, strict=True))
        cells = [number_text(old_value), number_text(new_value), number_text(change, signed=True)]
        if pd.isna(old_value) or pd.isna(new_value):
            cells.append("filled" if pd.isna(old_value) else "now missing")
        else:
            cells.append(f"{relative * 100:+.3g}%" if relative != float("inf") else "from 0")
        lines.append(f"| {label} | {column} | {' | '.join(cells)} |")
    return lines


def number_text(value: float, signed: bool = False) -> str:
    """A number for CHANGES.md with six significant digits; a missing value as a dash."""
    if pd.isna(value):
        return "–"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def schema_change_lines(name: str, old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Lines naming columns added to or removed from a table."""
    added = [column for column in new.columns if column not in old.columns]
    removed = [column for column in old.columns if column not in new.columns]
    lines = []
    if added:
        lines.append(f"- {name}: new column(s) {', '.join(added)}")
    if removed:
        lines.append(f"- {name}: removed column(s) {', '.join(removed)}")
    return lines


def code_change_lines(old_tables: dict[str, pd.DataFrame], new_tables: dict[str, pd.DataFrame]) -> list[str]:
    """Lines naming region and indicator codes that appear or disappear anywhere in the published tables."""
    lines = []
    for column, label in CODE_COLUMNS.items():
        before = codes_in(old_tables, column)
        after = codes_in(new_tables, column)
        for kind, codes in (("New", after - before), ("Retired", before - after)):
            listed = f"({len(codes)}) {', '.join(sorted(codes))}" if codes else "none"
            lines.append(f"- {kind} {label} codes: {listed}")
    return lines


def codes_in(tables: dict[str, pd.DataFrame], column: str) -> set[str]:
    """Every non-null value of a code column across tables."""
    codes: set[str] = set()
    for frame in tables.values():
        if column in frame:
            codes.update(str(value) for value in frame[column].dropna().unique())
    return codes
