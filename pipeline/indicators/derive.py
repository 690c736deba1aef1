"""Derived indicators: ratios, gaps, growth and shares for every region-year whose inputs exist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.frames import (
    chunked_text_array,
    decoded_texts,
    empty_frame,
    is_number_column,
    neighbour_equality,
    rows_where,
    sorted_by,
    stacked_frames,
)
from pipeline.core.metadata import BREAK_FLAG
from pipeline.indicators.preferred import (
    INDICATOR_COLUMNS,
    INDICATOR_DTYPES,
    POOL_DTYPES,
    as_pool,
    code_blocks,
    pool_of,
    preferred_observations,
    preferring_first,
)
from pipeline.indicators.status import merge_source_ids, merge_status
from pipeline.indicators.urban_rural import POPULATION_BASES, urban_rural_theil_of_series

# The columns of a series that derivations combine (codes and units come from the catalogue entry).
PAIRED_COLUMNS = ["region_code", "year", "value", "status", "source_ids", "rounding_radius"]
RATIO_COLUMNS = ["region_code", "year", *INDICATOR_COLUMNS[:1], *INDICATOR_COLUMNS[3:], "value_low", "value_high"]


def derive_indicators(preferred: pd.DataFrame, derived_entries: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Every derived catalogue entry, in catalogue order; later entries may use earlier ones as inputs."""
    blocks = list(derived_blocks(pool_of(preferred), derived_entries, regions).values())
    return stacked_frames(blocks) if blocks else empty_indicators()


def derived_blocks(
    pool: dict[str, pd.DataFrame], derived_entries: pd.DataFrame, regions: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Each derived entry's rows (in region and year order) by code, in catalogue order; inputs include earlier ones."""
    pool = dict(pool)
    blocks = {}
    for entry in derived_entries.itertuples(index=False):
        derivation = DERIVATIONS.get(entry.derivation)
        if derivation is None:
            continue
        frame = derivation(pool, entry, regions)
        if frame.empty:
            continue
        frame = frame.assign(indicator_code=entry.indicator_code, unit=entry.unit, method="derived")
        block = sorted_by(frame[INDICATOR_COLUMNS], ["region_code", "year"])
        blocks[entry.indicator_code] = block
        pool[entry.indicator_code] = preferring_first([as_pool(block), pool.get(entry.indicator_code)])
    return blocks


def input_series(pool: dict[str, pd.DataFrame], indicator_code: str) -> pd.DataFrame:
    """The pool's values of one indicator, in region and year order."""
    series = pool.get(indicator_code)
    if series is None:
        return empty_frame(POOL_DTYPES)
    # Pool frames are in region and year order (pool_of and preferring_first keep them so).
    return rows_where(series, series["value"].notna().to_numpy())


def paired(first: pd.DataFrame, second: pd.DataFrame, suffixes: tuple[str, str]) -> pd.DataFrame:
    """Rows of two series with the same region and year side by side, their other columns suffixed (inner join).

    When both list the same regions and years in the same order (the usual case) the rows pair up by position.
    """
    keys = ["region_code", "year"]
    first, second = first[[c for c in PAIRED_COLUMNS if c in first]], second[[c for c in PAIRED_COLUMNS if c in second]]
    if not (len(first) == len(second) and same_rows(first[keys], second[keys])):
        left = first[keys].assign(left_position=np.arange(len(first)))
        right = second[keys].assign(right_position=np.arange(len(second)))
        matched = left.merge(right, on=keys, how="inner")
        first = first.iloc[matched["left_position"].to_numpy()]
        second = second.iloc[matched["right_position"].to_numpy()]
    columns = {"region_code": first["region_code"].array, "year": first["year"].to_numpy()}
    for frame, suffix in ((first, suffixes[0]), (second, suffixes[1])):
        columns.update({f"{column}{suffix}": frame[column].array for column in frame.columns if column not in keys})
    return pd.DataFrame(columns)


def same_rows(first: pd.DataFrame, second: pd.DataFrame) -> bool:
    """Whether two frames of equal length hold equal values row by row (text compared as Arrow arrays)."""
    for column in first.columns:
        left, right = first[column], second[column]
        if is_number_column(left):
            if not np.array_equal(left.to_numpy(), right.to_numpy()):
                return False
        elif not pc.all(pc.fill_null(pc.equal(chunked_text_array(left), chunked_text_array(right)), False)).as_py():
            return False
    return True


def derive_ratio(
    preferred: pd.DataFrame | dict[str, pd.DataFrame],
    indicator_code: str,
    numerator: str,
    denominator: str,
    unit: str = "ratio",
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """numerator / denominator × multiplier for every region-year with both, with the interval printed rounding allows."""
    pool = preferred if isinstance(preferred, dict) else pool_of(preferred)
    pairs = paired(input_series(pool, numerator), input_series(pool, denominator), ("_numerator", "_denominator"))
    pairs = rows_where(pairs, (pairs["value_denominator"] > 0).to_numpy())
    if pairs.empty:
        return pd.DataFrame(columns=RATIO_COLUMNS)
    radius_top = pairs["rounding_radius_numerator"].fillna(0.0)
    radius_bottom = pairs["rounding_radius_denominator"].fillna(0.0)
    result = pd.DataFrame(
        {
            "region_code": pairs["region_code"],
            "year": pairs["year"],
            "indicator_code": indicator_code,
            "value": pairs["value_numerator"] / pairs["value_denominator"] * multiplier,
            "unit": unit,
            "method": "derived",
            "status": merged_column(pairs, "status", ["_numerator", "_denominator"], merge_status),
            "source_ids": merged_column(pairs, "source_ids", ["_numerator", "_denominator"], merge_source_ids),
            "value_low": (pairs["value_numerator"] - radius_top)
            / (pairs["value_denominator"] + radius_bottom)
            * multiplier,
            "value_high": (pairs["value_numerator"] + radius_top)
            / (pairs["value_denominator"] - radius_bottom)
            * multiplier,
        }
    )
    return result[RATIO_COLUMNS].reset_index(drop=True)


def ratio_of_inputs(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `ratio` entry: inputs[0] / inputs[1] × multiplier."""
    numerator, denominator = entry.inputs.split(";")
    return derive_ratio(pool, entry.indicator_code, numerator, denominator, entry.unit, entry.multiplier)


def difference_of_inputs(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `difference` entry: inputs[0] − inputs[1], same region and year."""
    first, second = entry.inputs.split(";")
    pairs = paired(input_series(pool, first), input_series(pool, second), ("_first", "_second"))
    return value_frame(pairs, pairs["value_first"].to_numpy() - pairs["value_second"].to_numpy(), ["_first", "_second"])


def yearly_growth(pool: dict[str, pd.DataFrame], indicator_code: str) -> pd.DataFrame:
    """Year-on-year growth in percent per region; none across a `b` break or from a zero or negative base."""
    series = input_series(pool, indicator_code)[PAIRED_COLUMNS]
    # In region and year order, a region's previous year (if it has one) is the row just before.
    same_region = neighbour_equality(series["region_code"])
    years = series["year"].to_numpy()
    current = np.flatnonzero(same_region & (years[1:] == years[:-1] + 1)) + 1
    previous = series.iloc[current - 1].assign(year=years[current])
    pairs = paired(series.iloc[current], previous, ("_current", "_previous"))
    unbroken = ~pairs["status_current"].str.contains(BREAK_FLAG, regex=False).to_numpy(dtype=bool)
    pairs = rows_where(pairs, unbroken & (pairs["value_previous"] > 0).to_numpy())
    growth = value_frame(
        pairs,
        (pairs["value_current"].to_numpy() / pairs["value_previous"].to_numpy() - 1.0) * 100.0,
        ["_current", "_previous"],
    )
    # The growth lies within one series, so it does not carry the break flag of a series' first value.
    growth["status"] = growth["status"].str.replace(BREAK_FLAG, "", regex=False)
    return growth


def growth_of_input(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `growth` entry: year-on-year percent change of inputs[0]."""
    return yearly_growth(pool, entry.inputs)


def growth_difference_of_inputs(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `growth_difference` entry: growth of inputs[0] minus growth of inputs[1], in percentage points."""
    first, second = entry.inputs.split(";")
    pairs = paired(yearly_growth(pool, first), yearly_growth(pool, second), ("_first", "_second"))
    return value_frame(pairs, pairs["value_first"].to_numpy() - pairs["value_second"].to_numpy(), ["_first", "_second"])


def index_change_of_input(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `index_change` entry: an index with the previous year = 100, minus 100 (percent change)."""
    series = input_series(pool, entry.inputs)
    return series.assign(value=series["value"] - 100.0)[["region_code", "year", "value", "status", "source_ids"]]


def share_of_parent(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `share_of_parent` entry: a region's value over its parent's own figure, same year, × 100."""
    series = input_series(pool, entry.inputs)
    children = regions[["region_code", "parent_code"]].dropna()
    with_parent = series.merge(children, on="region_code")
    # Only the parent's own figure: regions.csv does not list every child of every region (China has only
    # Guangdong), so a sum of the listed children is not a safe total.
    totals = series.rename(columns={"region_code": "parent_code"}).set_index(["parent_code", "year"])
    totals = totals.loc[totals["value"] > 0, ["value", "status", "source_ids"]]
    shares = with_parent.join(totals, on=["parent_code", "year"], how="inner", suffixes=("_child", "_total"))
    return value_frame(
        shares, shares["value_child"].to_numpy() / shares["value_total"].to_numpy() * 100.0, ["_child", "_total"]
    )


def value_frame(pairs: pd.DataFrame, values, suffixes: list[str]) -> pd.DataFrame:
    """Region, year and computed value, with status and sources merged from the suffixed input columns."""
    return pd.DataFrame(
        {
            "region_code": pairs["region_code"].array,
            "year": pairs["year"].to_numpy(),
            "value": values,
            "status": merged_column(pairs, "status", suffixes, merge_status).array,
            "source_ids": merged_column(pairs, "source_ids", suffixes, merge_source_ids).array,
        }
    )


def merged_column(pairs: pd.DataFrame, column: str, suffixes: list[str], merge) -> pd.Series:
    """Row-wise merge of the suffixed copies of a column (statuses or source ids), once per distinct combination."""
    if pairs.empty:
        return pd.Series([], index=pairs.index, dtype="str")
    combination = np.zeros(len(pairs), dtype="int64")
    encoded = []
    for suffix in suffixes:
        values = pairs[f"{column}{suffix}"]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # The codes as they are; a missing value (code -1) is the empty text after the categories.
            distinct = [*values.cat.categories, ""]
            codes = values.cat.codes.to_numpy().astype("int64")
            codes = np.where(codes < 0, len(distinct) - 1, codes)
        else:
            array = pc.fill_null(chunked_text_array(values), "").combine_chunks().dictionary_encode()
            codes, distinct = array.indices.to_numpy(zero_copy_only=False), array.dictionary.to_pylist()
        combination, _ = pd.factorize(combination * len(distinct) + codes)
        encoded.append((codes, distinct))
    # pd.factorize numbers combinations in order of first appearance, so these are their first rows.
    _, first_rows = np.unique(combination, return_index=True)
    merged = [merge(*(distinct[codes[row]] for codes, distinct in encoded)) for row in first_rows]
    taken = pc.take(pa.array(merged, type=pa.large_string()), pa.array(combination))
    return pd.Series(taken, index=pairs.index, dtype="str")


def empty_indicators() -> pd.DataFrame:
    """An empty indicators table."""
    return empty_frame(INDICATOR_DTYPES)


def urban_rural_theil_of_inputs(pool: dict[str, pd.DataFrame], entry, regions: pd.DataFrame) -> pd.DataFrame:
    """A catalogue `urban_rural_theil` entry: the urban–rural Theil of inputs[0] (urban) and inputs[1] (rural)
    per-capita incomes, weighted by the populations of POPULATION_BASES (see pipeline.indicators.urban_rural)."""
    codes = [
        *entry.inputs.split(";"),
        *(code for _, first, second, _ in POPULATION_BASES for code in (first, second) if code),
    ]
    # Each input series as its own frame (no stacking of them all, no code column): rows with a value, texts as text.
    series = {
        code: input_series(pool, code).astype({"status": "str", "source_ids": "str"}) for code in dict.fromkeys(codes)
    }
    table = urban_rural_theil_of_series(series)
    return table[["region_code", "year", "value", "status", "source_ids"]]


DERIVATIONS = {
    "ratio": ratio_of_inputs,
    "difference": difference_of_inputs,
    "growth": growth_of_input,
    "growth_difference": growth_difference_of_inputs,
    "index_change": index_change_of_input,
    "share_of_parent": share_of_parent,
    "urban_rural_theil": urban_rural_theil_of_inputs,
}


def published_values(pool: dict[str, pd.DataFrame], derived_codes: list[str]) -> dict[str, pd.DataFrame]:
    """Values of derived indicators that a source printed itself, carried with method = published, by code."""
    return {
        code: pool[code].assign(method="published")[INDICATOR_COLUMNS]
        for code in derived_codes
        if code in pool and not pool[code].empty
    }


def indicator_table(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    regions: pd.DataFrame,
    texts_as_categories: bool = False,
) -> pd.DataFrame:
    """The indicators table: derived values for every region-year whose inputs exist, beside the published ones.

    texts_as_categories: the text columns the blocks hold as categoricals stay so (decoded later, when stored).
    """
    pool = code_blocks(as_pool(preferred_observations(observations, sources)))
    derived_entries = indicator_catalog[indicator_catalog["kind"] == "derived"]
    published = published_values(pool, list(derived_entries["indicator_code"]))
    derived = derived_blocks(pool, derived_entries, regions)
    blocks = []
    for code in sorted(set(derived) | set(published)):
        parts = [frame for frame in (derived.get(code), published.get(code)) if frame is not None]
        if len(parts) > 1:
            parts = [stacked_frames(parts).sort_values(["region_code", "year", "method"], kind="stable")]
        blocks.append(parts[0])
    result = stacked_frames(blocks) if blocks else empty_indicators()
    if not texts_as_categories:
        result = decoded_texts(result)
    coded = [column for column in result.columns if isinstance(result[column].dtype, pd.CategoricalDtype)]
    return result.astype({column: dtype for column, dtype in INDICATOR_DTYPES.items() if column not in coded})[
        INDICATOR_COLUMNS
    ]
