"""Loaders for the metadata kept as data files in pipeline/metadata: regions, aliases, units, indicators, boundary changes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from pipeline.core.paths import PACKAGE_METADATA_DIR

REGION_COLUMNS = [
    "region_code",
    "name_zh",
    "name_en",
    "level",
    "parent_code",
    "district_group",
    "typical_county",
    "paired_city",
]
CATALOG_COLUMNS = [
    "indicator_code",
    "name_zh",
    "name_en",
    "unit",
    "kind",
    "derivation",
    "definition",
    "formula",
    "inputs",
    "direction",
    "valid_min",
    "valid_max",
    "caveats",
    "multiplier",
    "aggregation",
    "weights",
    "dispersion",
    "paired_ratio",
    "bounded",
    "complement_of",
]
TARGET_COLUMNS = [
    "target_code",
    "indicator_code",
    "region_code",
    "scope",
    "kind",
    "target_value",
    "unit",
    "direction",
    "reference_year",
    "deadline_year",
    "statement",
    "source_id",
    "reference",
    "caveats",
]


def load_regions(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """The region dimension (GB/T 2260 codes, `CN` for China) as a frame with string codes."""
    regions = pd.read_csv(metadata_dir / "regions.csv", dtype=str, keep_default_na=False)
    for flag in ("typical_county", "paired_city"):
        regions[flag] = regions[flag].str.lower().eq("true")
    for optional in ("parent_code", "district_group"):
        regions[optional] = regions[optional].replace("", None)
    return regions[REGION_COLUMNS]


ECONOMIC_REGION_COLUMNS = [
    "region_code",
    "name_zh",
    "economic_region",
    "economic_region_zh",
    "economic_region_en",
    "source",
]


def load_economic_regions(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """Guangdong's four regions (珠三角, 粤东, 粤西, 粤北) by city, guangdong_regions.csv (empty where the folder has none)."""
    path = metadata_dir / "guangdong_regions.csv"
    if not path.exists():
        return pd.DataFrame({column: pd.Series(dtype="str") for column in ECONOMIC_REGION_COLUMNS})
    return pd.read_csv(path, dtype=str, keep_default_na=False)[ECONOMIC_REGION_COLUMNS]


def load_region_aliases(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """Printed region names other than the official name, mapped to today's region code."""
    return pd.read_csv(metadata_dir / "region_aliases.csv", dtype=str, keep_default_na=False)


def region_name_lookup(metadata_dir: Path = PACKAGE_METADATA_DIR) -> dict[str, str]:
    """Every printed name a region may appear under (official names and aliases) → region code."""
    regions = load_regions(metadata_dir)
    lookup = dict(zip(regions["name_zh"], regions["region_code"], strict=True))
    aliases = load_region_aliases(metadata_dir)
    lookup.update(zip(aliases["alias"], aliases["region_code"], strict=True))
    return lookup


def load_units(metadata_dir: Path = PACKAGE_METADATA_DIR) -> dict[str, tuple[str, float]]:
    """Printed unit (元, 万元, 亿元, %, …) → (canonical unit, multiplier into it)."""
    units = pd.read_csv(metadata_dir / "units.csv", dtype=str, keep_default_na=False)
    return {row.printed_unit: (row.unit, float(row.multiplier)) for row in units.itertuples(index=False)}


def load_indicator_catalog(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """The indicator catalogue (indicators.yaml) as a frame, one row per indicator code."""
    entries = yaml.safe_load((metadata_dir / "indicators.yaml").read_text(encoding="utf-8"))
    catalog = pd.DataFrame(entries)
    for column in CATALOG_COLUMNS:
        if column not in catalog:
            catalog[column] = None
    for list_column in ("inputs", "weights"):
        catalog[list_column] = catalog[list_column].map(joined_codes)
    for text_column in ("derivation", "formula", "direction", "caveats", "aggregation", "complement_of"):
        catalog[text_column] = catalog[text_column].fillna("").astype(str)
    for bound in ("valid_min", "valid_max"):
        catalog[bound] = pd.to_numeric(catalog[bound], errors="raise").astype("float64")
    catalog["multiplier"] = pd.to_numeric(catalog["multiplier"], errors="raise").fillna(1.0).astype("float64")
    for flag in ("dispersion", "paired_ratio", "bounded"):
        catalog[flag] = catalog[flag].map(lambda value: value is True).astype(bool)
    return catalog[CATALOG_COLUMNS]


def joined_codes(value) -> str:
    """A YAML list of indicator codes as one ';'-separated string ('' when absent)."""
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return value if isinstance(value, str) else ""


def load_targets(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """The programme targets and benchmarks (targets.yaml) as a frame, one row per target."""
    entries = yaml.safe_load((metadata_dir / "targets.yaml").read_text(encoding="utf-8")) or []
    targets = pd.DataFrame(entries, columns=TARGET_COLUMNS)
    for text_column in ("region_code", "scope", "kind", "statement", "source_id", "reference", "caveats"):
        targets[text_column] = targets[text_column].fillna("").astype(str)
    targets["target_value"] = pd.to_numeric(targets["target_value"], errors="raise").astype("float64")
    for year_column in ("reference_year", "deadline_year"):
        targets[year_column] = pd.to_numeric(targets[year_column], errors="raise").astype("Int64")
    return targets


@lru_cache(maxsize=1)
def default_units() -> dict[str, tuple[str, float]]:
    """The units table of the package, cached."""
    return load_units()


BOUNDARY_CHANGES_FILE = PACKAGE_METADATA_DIR / "boundary_changes.csv"
# The status flag of a series break: `b` on year t means a break between t−1 (or the figure before) and t.
BREAK_FLAG = "b"


@dataclass(frozen=True)
class BoundaryChange:
    """A former region: renamed (same territory) or merged into another region in a given year."""

    old_code: str
    old_name: str
    new_code: str
    new_name: str
    change: str
    year: int
    note: str


def default_indicator_catalog(metadata_dir: Path = PACKAGE_METADATA_DIR) -> pd.DataFrame:
    """A metadata folder's indicator catalogue, parsed once per version of indicators.yaml (YAML parsing is slow)."""
    path = metadata_dir / "indicators.yaml"
    return cached_indicator_catalog(str(metadata_dir), path.stat().st_mtime_ns, path.stat().st_size)


@lru_cache(maxsize=4)
def cached_indicator_catalog(metadata_dir: str, modified: int, size: int) -> pd.DataFrame:
    """The indicator catalogue for one version (modification time and size) of a folder's indicators.yaml."""
    return load_indicator_catalog(Path(metadata_dir))


def load_boundary_changes(path: Path = BOUNDARY_CHANGES_FILE) -> list[BoundaryChange]:
    """The crosswalk of former regions (pipeline/metadata/boundary_changes.csv)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [
        BoundaryChange(row.old_code, row.old_name, row.new_code, row.new_name, row.change, int(row.year), row.note)
        for row in frame.itertuples(index=False)
    ]


DATASET_FILE = "dataset.yaml"
DATASET_FIELDS = ("name", "title", "compiler", "url_placeholder", "code_licence", "data_licence", "source_terms")


@lru_cache(maxsize=1)
def load_dataset_metadata(metadata_dir: Path = PACKAGE_METADATA_DIR) -> dict:
    """The dataset's citation and licence metadata (pipeline/metadata/dataset.yaml), with every field present."""
    path = metadata_dir / DATASET_FILE
    fields = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [name for name in DATASET_FIELDS if not fields.get(name)]
    licence = fields.get("data_licence")
    if not isinstance(licence, dict) or not {"name", "title", "path"} <= set(licence):
        missing.append("data_licence.name/title/path")
    if missing:
        raise ValueError(f"{path}: missing or empty field(s) {', '.join(missing)}")
    return fields


def dataset_url(dataset: dict) -> str:
    """The dataset's URL, or its placeholder while it is not yet deposited."""
    return str(dataset.get("url") or dataset["url_placeholder"])


@dataclass(frozen=True)
class SeriesSide:
    """One side of a series break: its indicators, the words its printed labels contain, its first year (or None)."""

    indicators: frozenset[str]
    terms: tuple[str, ...]
    first_year: int | None


@dataclass(frozen=True)
class SeriesBreak:
    """Two series that must never be joined into one (pipeline/metadata/series_breaks.yaml)."""

    name: str
    note: str
    sides: tuple[SeriesSide, ...]


@lru_cache(maxsize=4)
def load_series_breaks(metadata_dir: Path = PACKAGE_METADATA_DIR) -> tuple[SeriesBreak, ...]:
    """The series-break catalogue of a metadata folder (the package's when the folder has none)."""
    path = metadata_dir / "series_breaks.yaml"
    if not path.is_file():
        path = PACKAGE_METADATA_DIR / "series_breaks.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return tuple(
        SeriesBreak(
            name=str(entry["name"]),
            note=str(entry.get("note", "")),
            sides=tuple(
                SeriesSide(
                    indicators=frozenset(str(code) for code in side["indicators"]),
                    terms=tuple(str(term) for term in side.get("terms") or []),
                    first_year=None if side.get("first_year") is None else int(side["first_year"]),
                )
                for side in entry["sides"]
            ),
        )
        for entry in entries
    )


QUESTIONS_FILE = "questions.yaml"
QUESTION_TABLES = ("values", "dispersion")
QUESTION_FIELDS = ("question_code", "question_zh", "question_en", "table", "indicators", "regions", "years")


@dataclass(frozen=True)
class Question:
    """One of the mission's questions (pipeline/metadata/questions.yaml): what it asks and what it expects."""

    code: str
    question_zh: str
    question_en: str
    table: str
    indicators: object  # a list of indicator codes, or {catalogue_flag: flag}
    regions: dict
    first_year: int
    last_year: int
    list_values: tuple[str, ...]


def load_questions(metadata_dir: Path = PACKAGE_METADATA_DIR) -> tuple[Question, ...]:
    """The mission's questions of a metadata folder (the package's when the folder has none), checked field by field."""
    path = metadata_dir / QUESTIONS_FILE
    if not path.is_file():
        path = PACKAGE_METADATA_DIR / QUESTIONS_FILE
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return tuple(parsed_question(path, position, entry) for position, entry in enumerate(entries, start=1))


def parsed_question(path: Path, position: int, entry: object) -> Question:
    """One entry of questions.yaml as a Question; a missing or malformed field raises naming file, entry and field."""
    where = f"{path}: question {position}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping of fields, got {type(entry).__name__}")
    missing = [field for field in QUESTION_FIELDS if entry.get(field) in (None, "", [], {})]
    if missing:
        raise ValueError(f"{where} ({entry.get('question_code', '?')}): missing field(s) {', '.join(missing)}")
    if entry["table"] not in QUESTION_TABLES:
        raise ValueError(
            f"{where} ({entry['question_code']}): table must be one of {QUESTION_TABLES}, got {entry['table']!r}"
        )
    years = entry["years"]
    if not isinstance(years, dict) or not {"from", "to"} <= set(years) or int(years["from"]) > int(years["to"]):
        raise ValueError(f"{where} ({entry['question_code']}): years must be {{from: <year>, to: <year>}}, from ≤ to")
    if not isinstance(entry["regions"], dict):
        raise ValueError(f"{where} ({entry['question_code']}): regions must be a mapping (codes, children_of, parent)")
    return Question(
        code=str(entry["question_code"]),
        question_zh=str(entry["question_zh"]),
        question_en=str(entry["question_en"]),
        table=str(entry["table"]),
        indicators=entry["indicators"],
        regions=dict(entry["regions"]),
        first_year=int(years["from"]),
        last_year=int(years["to"]),
        list_values=tuple(str(code) for code in entry.get("list_values") or []),
    )
