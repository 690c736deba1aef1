"""Release documents: the dataset card (README.md) and the data dictionary (dictionary.csv, dictionary.md)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.coverage import CoverageSchema
from pipeline.documentation import data_dictionary as dictionary_table
from pipeline.documentation import dataset_card as card_text
from pipeline.documentation import dictionary_markdown
from pipeline.ingest import METADATA_FILES
from pipeline.publish import PRIMARY_KEYS, PUBLISHED_TABLES, TABLE_MODELS
from pipeline.release import PACKAGE_TITLE

GROUP = "publish"
# Every table a release holds, with its pandera model: the Parquet tables, then the CSV files.
RELEASE_MODELS = {**TABLE_MODELS, "coverage": CoverageSchema}
RELEASE_PRIMARY_KEYS = {**PRIMARY_KEYS, "coverage": ["indicator_code", "level", "year"]}
CARD_INPUTS = {name: dg.AssetIn(name) for name in [*PUBLISHED_TABLES, "coverage"]}


@dg.asset(group_name=GROUP, deps=[METADATA_FILES])
def data_dictionary() -> pd.DataFrame:
    """Every column of every release table: type, nullability, key, unit and meaning in Chinese and English."""
    return dictionary_table(RELEASE_MODELS, RELEASE_PRIMARY_KEYS)


@dg.asset(group_name=GROUP)
def data_dictionary_markdown(data_dictionary: pd.DataFrame) -> str:
    """The data dictionary as Markdown, one section per table."""
    return dictionary_markdown(data_dictionary, RELEASE_MODELS)


@dg.asset(group_name=GROUP, ins=CARD_INPUTS)
def dataset_card(**tables: pd.DataFrame) -> str:
    """The release's README.md: what it is, files, coverage, sources and licences, how to cite, caveats, changes."""
    published = {name: tables[name] for name in PUBLISHED_TABLES}
    return card_text(published, tables["coverage"], TABLE_MODELS, PACKAGE_TITLE)
