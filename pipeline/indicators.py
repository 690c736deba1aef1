"""Indicators: catalogue-driven derivations, published values carried and reconciled, group aggregates, paired cities."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import frames
from pipeline.frames import ordered_codes, stacked_frames
from pipeline.metadata import load_indicator_catalog
from pipeline.schemas import GroupAggregateSchema, PairedCityRatioSchema, indicator_schema
from pipeline.sidecar import AUTHORITY_RANK
from pipeline.validate import known_codes_schema_check, schema_check_result

GROUP = "indicators"
INDICATOR_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "method", "status", "source_ids"]
INDICATOR_DTYPES = {
    "indicator_code": "str",
    "region_code": "str",
    "year": "int64",
    "value": "float64",
    "unit": "str",
    "method": "str",
    "status": "str",
    "source_ids": "str",
}
KEY = ["region_code", "year", "indicator_code"]
# The order of observations, pools and indicator values: code, then region, then year.
VALUE_KEY = ["indicator_code", "region_code", "year"]
ORDER = ["indicator_code", "region_code", "year", "method"]
# The columns of a series that derivations combine (codes and units come from the catalogue entry).
PAIRED_COLUMNS = ["region_code", "year", "value", "status", "source_ids", "rounding_radius"]
RATIO_COLUMNS = ["region_code", "year", *INDICATOR_COLUMNS[:1], *INDICATOR_COLUMNS[3:], "value_low", "value_high"]
POOL_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "status", "source_ids", "rounding_radius"]
POOL_DTYPES = {**{column: INDICATOR_DTYPES[column] for column in POOL_COLUMNS[:-1]}, "rounding_radius": "float64"}
# Filtering rows by slicing their unbroken runs beats a gather of every column up to this many runs.
MAX_SLICED_RUNS = 2_000
VALUE_COLUMNS = ["indicator_code", "region_code", "year", "value", "unit", "status", "source_ids"]
BREAK_FLAG = "b"
# The paired_city flag in regions.csv means "paired with Guangzhou for cooperation".
PAIRING_REFERENCE_REGION = "440100"
GROUP_AGGREGATE_COLUMNS = [
    "indicator_code",
    "group_code",
    "parent_region_code",
    "year",
    "value",
    "unit",
    "rule",
    "weight_indicator_code",
    "n_members",
    "member_codes",
    "status",
    "source_ids",
]
GROUP_AGGREGATE_DTYPES = {
    "indicator_code": "str",
    "group_code": "str",
    "parent_region_code": "str",
    "year": "int64",
    "value": "float64",
    "unit": "str",
    "rule": "str",
    "weight_indicator_code": "str",
    "n_members": "int64",
    "member_codes": "str",
    "status": "str",
    "source_ids": "str",
}
PAIRED_RATIO_COLUMNS = [
    "indicator_code",
    "reference_region_code",
    "region_code",
    "year",
    "reference_value",
    "region_value",
    "value",
    "status",
    "source_ids",
]
PAIRED_RATIO_DTYPES = {
    "indicator_code": "str",
    "reference_region_code": "str",
    "region_code": "str",
    "year": "int64",
    "reference_value": "float64",
    "region_value": "float64",
    "value": "float64",
    "status": "str",
    "source_ids": "str",
}
TYPICAL_COUNTY_GROUP = "typical_county"


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources"), "regions": dg.AssetIn("regions")})
def indicators(
    observations: pd.DataFrame, sources: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> pd.DataFrame:
    """Derived indicators for every region-year whose inputs exist, and published values carried as published."""
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
    result = frames.decoded_texts(frames.stacked_frames(blocks)) if blocks else empty_indicators()
    return result.astype(INDICATOR_DTYPES)[INDICATOR_COLUMNS]


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources")})
def preferred_values(observations: pd.DataFrame, sources: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """One value per indicator, region and year: derived here if possible, else the preferred published figure."""
    return indicator_values(observations, sources, indicators)


@dg.asset(group_name=GROUP, ins={"regions": dg.AssetIn("regions")})
def group_aggregates(
    preferred_values: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> pd.DataFrame:
    """Indicator values of the 一区一策 district groups and the typical counties, where every member has a value."""
    return aggregate_groups(preferred_values, region_groups(regions), indicator_catalog)


@dg.asset(group_name=GROUP, ins={"regions": dg.AssetIn("regions")})
def paired_city_ratios(
    preferred_values: pd.DataFrame, indicator_catalog: pd.DataFrame, regions: pd.DataFrame
) -> pd.DataFrame:
    """Guangzhou's value divided by each paired city's, for every indicator and year both have."""
    values = preferred_values
    paired = list(regions.loc[regions["paired_city"].astype(bool), "region_code"])
    codes = list(indicator_catalog.loc[indicator_catalog["paired_ratio"].astype(bool), "indicator_code"])
    return pair_ratios(values, PAIRING_REFERENCE_REGION, paired, codes)


def preferred_observations(observations: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """One figure per indicator, region and year (in that order): most authoritative source, newest, most precise."""
    present = rows_where(observations, observations["value"].notna().to_numpy())
    ordered, same = neighbour_order(present, VALUE_KEY)
    if not ordered:
        present = present.sort_values(VALUE_KEY, kind="stable").reset_index(drop=True)
        same = neighbour_order(present, VALUE_KEY)[1]
    repeated = np.zeros(len(present), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    if not repeated.any():
        return present
    positions = np.flatnonzero(repeated)
    candidates = present.iloc[positions]
    by_source = sources.set_index("source_id")
    ranked = candidates.assign(
        position=positions,
        authority_rank=candidates["source_id"].map(by_source["authority"].map(AUTHORITY_RANK)),
        accessed=candidates["source_id"].map(by_source["accessed"].astype(str)),
    )
    # A newer snapshot of the same authority (a revised edition) supersedes an older one.
    ranked = ranked.sort_values(
        [*KEY, "authority_rank", "accessed", "rounding_radius", "source_id"],
        ascending=[True] * len(KEY) + [True, False, True, True],
        kind="stable",
    )
    losers = ranked["position"].to_numpy()[ranked.duplicated(KEY, keep="first").to_numpy()]
    keep = np.ones(len(present), dtype=bool)
    keep[losers] = False
    return rows_where(present, keep)


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


def as_pool(frame: pd.DataFrame) -> pd.DataFrame:
    """Observations or indicator rows as one shape: code, region, year, value, unit, status, sources, rounding."""
    if "source_ids" not in frame:
        frame = frame.assign(source_ids=frame["source_id"])
    if "rounding_radius" not in frame:
        frame = frame.assign(rounding_radius=float("nan"))
    return frame[POOL_COLUMNS]


def pool_of(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Observations or indicator rows as pool frames, one per indicator code, each in region and year order."""
    return code_blocks(sorted_by(as_pool(frame), VALUE_KEY))


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
        elif not pc.all(pc.fill_null(pc.equal(text_array(left), text_array(right)), False)).as_py():
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
            array = pc.fill_null(text_array(values), "").combine_chunks().dictionary_encode()
            codes, distinct = array.indices.to_numpy(zero_copy_only=False), array.dictionary.to_pylist()
        combination, _ = pd.factorize(combination * len(distinct) + codes)
        encoded.append((codes, distinct))
    # pd.factorize numbers combinations in order of first appearance, so these are their first rows.
    _, first_rows = np.unique(combination, return_index=True)
    merged = [merge(*(distinct[codes[row]] for codes, distinct in encoded)) for row in first_rows]
    taken = pc.take(pa.array(merged, type=pa.large_string()), pa.array(combination))
    return pd.Series(taken, index=pairs.index, dtype="str")


def merge_source_ids(*source_ids: str) -> str:
    """The union of ';'-separated source id lists, sorted."""
    return ";".join(sorted({part for text in source_ids for part in str(text).split(";") if part}))


def empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    """An empty table with the given columns and dtypes."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})


def empty_indicators() -> pd.DataFrame:
    """An empty indicators table."""
    return empty_frame(INDICATOR_DTYPES)


def sorted_by(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows in ascending order of the columns (stable); the frame itself when it is in that order already."""
    if neighbour_order(frame, columns)[0]:
        return frame
    return frame.sort_values(columns, kind="stable").reset_index(drop=True)


def neighbour_order(frame: pd.DataFrame, columns: list[str]) -> tuple[bool, np.ndarray]:
    """Whether the rows ascend in the columns, and for each row after the first whether its key equals the last one."""
    undecided = np.ones(max(len(frame) - 1, 0), dtype=bool)
    ordered = True
    for column in columns:
        same = neighbour_equality(frame[column])
        ordered = ordered and bool(neighbour_increase(frame[column], undecided & ~same).all())
        undecided &= same
    return ordered, undecided


def neighbour_equality(column: pd.Series) -> np.ndarray:
    """For each value after the first, whether it equals the one before (missing values equal nothing)."""
    if len(column) < 2:
        return np.zeros(0, dtype=bool)
    if is_number_column(column):
        values = column.to_numpy()
        return values[1:] == values[:-1]
    codes = ordered_codes(column)
    if codes is not None:
        return (codes[1:] == codes[:-1]) & (codes[1:] >= 0)
    array = text_array(column)
    equal = pc.fill_null(pc.equal(array[1:], array[:-1]), False)
    return np.asarray(equal.to_numpy(), dtype=bool)


def neighbour_increase(column: pd.Series, where: np.ndarray) -> np.ndarray:
    """For the rows after the first where `where` holds: whether each is above the row before it."""
    if not where.any():
        return np.ones(0, dtype=bool)
    if is_number_column(column):
        values = column.to_numpy()
        return (values[1:] > values[:-1])[where]
    codes = ordered_codes(column)
    if codes is not None:
        later, earlier = codes[1:][where], codes[:-1][where]
        return (later > earlier) & (earlier >= 0)
    array = text_array(column)
    mask = pa.array(where)
    later, earlier = array[1:].filter(mask), array[:-1].filter(mask)
    return np.asarray(pc.fill_null(pc.greater(later, earlier), False).to_numpy(), dtype=bool)


def is_number_column(column: pd.Series) -> bool:
    """Whether a column holds numbers (compared in numpy) rather than text (compared in Arrow)."""
    return pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.StringDtype)


def text_array(column: pd.Series) -> pa.ChunkedArray:
    """A text column as an Arrow array (no copy when it is Arrow-backed already; categoricals decoded by Arrow)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pa.chunked_array([frames.text_array(column)])
    return pa.chunked_array(pa.array(column.astype("str"), from_pandas=True))


def rows_where(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows where `keep` is true; long unbroken runs are sliced (no copy of text columns), not gathered."""
    if keep.all():
        return frame
    edges = np.flatnonzero(np.diff(np.concatenate([[False], keep, [False]]).astype("int8")))
    starts, stops = edges[0::2], edges[1::2]
    if len(starts) == 0:
        return frame.iloc[0:0]
    if len(starts) > MAX_SLICED_RUNS:
        return frame[keep]
    return pd.concat([frame.iloc[start:stop] for start, stop in zip(starts, stops, strict=True)])


def code_blocks(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A frame sorted by indicator code split into one slice per code."""
    if frame.empty:
        return {}
    changes = np.flatnonzero(~neighbour_equality(frame["indicator_code"])) + 1
    starts = np.concatenate([[0], changes])
    stops = np.concatenate([changes, [len(frame)]])
    return {
        str(frame["indicator_code"].iloc[start]): frame.iloc[start:stop]
        for start, stop in zip(starts, stops, strict=True)
    }


def preferring_first(frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    """One indicator's frames (each in region and year order) as one, each (region, year) from the first that has it."""
    present = [frame for frame in frames if frame is not None and not frame.empty]
    if not present:
        return next((frame for frame in frames if frame is not None), empty_frame(POOL_DTYPES))
    if len(present) == 1:
        return present[0]
    combined = pd.concat(present, ignore_index=True).drop_duplicates(["region_code", "year"], keep="first")
    return combined.sort_values(["region_code", "year"], kind="stable").reset_index(drop=True)


DERIVATIONS = {
    "ratio": ratio_of_inputs,
    "difference": difference_of_inputs,
    "growth": growth_of_input,
    "growth_difference": growth_difference_of_inputs,
    "index_change": index_change_of_input,
    "share_of_parent": share_of_parent,
}


def indicator_values(observations: pd.DataFrame, sources: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """One value per indicator, region and year: derived here if possible, else the preferred published figure."""
    preferred = code_blocks(as_pool(preferred_observations(observations, sources)))
    derived = {
        code: rows_where(block, block["method"].eq("derived").to_numpy())
        for code, block in code_blocks(sorted_by(indicators, ORDER)).items()
    }
    codes = sorted(set(preferred) | set(derived))
    frames = [preferring_first([derived.get(code), preferred.get(code)])[VALUE_COLUMNS] for code in codes]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return empty_frame(POOL_DTYPES)[VALUE_COLUMNS]
    values = stacked_frames(frames)
    return values.astype({"year": "int64", "value": "float64"})


def region_groups(regions: pd.DataFrame) -> pd.DataFrame:
    """Group membership: each 一区一策 district group and each city's typical counties, coded `<parent>:<group>`."""
    district = regions[regions["district_group"].notna()]
    district = district.assign(group=district["district_group"])
    typical = regions[regions["typical_county"].astype(bool)]
    typical = typical.assign(group=TYPICAL_COUNTY_GROUP)
    members = pd.concat([district, typical], ignore_index=True)
    members = members[members["parent_code"].notna()]
    members = members.assign(
        group_code=members["parent_code"] + ":" + members["group"], parent_region_code=members["parent_code"]
    )
    return members[["group_code", "parent_region_code", "group", "region_code"]].reset_index(drop=True)


def aggregate_groups(values: pd.DataFrame, groups: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Group aggregates: sums of extensive measures, weighted means of rates; none when a member lacks a value."""
    rows = []
    # Only the members' rows matter: one pass over the values instead of one per catalogue entry.
    values = values[values["region_code"].isin(groups["region_code"])]
    members_of = groups.groupby("group_code")["region_code"].apply(sorted).to_dict()
    parent_of = groups.drop_duplicates("group_code").set_index("group_code")["parent_region_code"].to_dict()
    indexed = values.set_index(["indicator_code", "region_code", "year"])
    for entry in catalog[catalog["aggregation"] != ""].itertuples(index=False):
        series = values[values["indicator_code"] == entry.indicator_code]
        weight_codes = [code for code in entry.weights.split(";") if code]
        for group_code, members in members_of.items():
            present = series[series["region_code"].isin(members)]
            for year, group_values in present.groupby("year"):
                if len(group_values) < len(members):
                    continue
                row = aggregate_group(group_values, entry, weight_codes, indexed, year)
                if row is None:
                    continue
                rows.append(
                    {
                        "indicator_code": entry.indicator_code,
                        "group_code": group_code,
                        "parent_region_code": parent_of[group_code],
                        "year": year,
                        "unit": entry.unit,
                        "rule": entry.aggregation,
                        "n_members": len(members),
                        "member_codes": ";".join(members),
                        **row,
                    }
                )
    if not rows:
        return empty_frame(GROUP_AGGREGATE_DTYPES)
    result = pd.DataFrame(rows)[GROUP_AGGREGATE_COLUMNS]
    return (
        result.sort_values(["indicator_code", "group_code", "year"], kind="stable")
        .reset_index(drop=True)
        .astype(GROUP_AGGREGATE_DTYPES)
    )


def aggregate_group(group_values: pd.DataFrame, entry, weight_codes: list[str], indexed: pd.DataFrame, year: int):
    """One group-year aggregate (value, weight code, status, sources), or None when the weights are incomplete."""
    statuses = list(group_values["status"])
    sources = list(group_values["source_ids"])
    if entry.aggregation == "sum":
        return {
            "value": float(group_values["value"].sum()),
            "weight_indicator_code": "",
            "status": merge_status(*statuses),
            "source_ids": merge_source_ids(*sources),
        }
    for weight_code in weight_codes:
        keys = [(weight_code, region, year) for region in group_values["region_code"]]
        weights = indexed.reindex(keys)
        if weights["value"].isna().any() or (weights["value"] <= 0).any():
            continue
        weight_values = weights["value"].to_numpy()
        return {
            "value": float((group_values["value"].to_numpy() * weight_values).sum() / weight_values.sum()),
            "weight_indicator_code": weight_code,
            "status": merge_status(*statuses, *weights["status"]),
            "source_ids": merge_source_ids(*sources, *weights["source_ids"]),
        }
    return None


def pair_ratios(
    values: pd.DataFrame, reference_region: str, paired_regions: list[str], codes: list[str]
) -> pd.DataFrame:
    """reference ÷ each paired region, per indicator and year, where both values are positive."""
    selected = values[values["indicator_code"].isin(codes) & (values["value"] > 0)]
    reference = selected[selected["region_code"] == reference_region]
    partners = selected[selected["region_code"].isin(paired_regions) & (selected["region_code"] != reference_region)]
    pairs = partners.merge(reference, on=["indicator_code", "year"], suffixes=("_region", "_reference"))
    if pairs.empty:
        return empty_frame(PAIRED_RATIO_DTYPES)
    result = pd.DataFrame(
        {
            "indicator_code": pairs["indicator_code"],
            "reference_region_code": pairs["region_code_reference"],
            "region_code": pairs["region_code_region"],
            "year": pairs["year"],
            "reference_value": pairs["value_reference"],
            "region_value": pairs["value_region"],
            "value": pairs["value_reference"] / pairs["value_region"],
            "status": merged_column(pairs, "status", ["_reference", "_region"], merge_status),
            "source_ids": merged_column(pairs, "source_ids", ["_reference", "_region"], merge_source_ids),
        }
    )
    result = result.sort_values(["indicator_code", "region_code", "year"], kind="stable").reset_index(drop=True)
    return result.astype(PAIRED_RATIO_DTYPES)[PAIRED_RATIO_COLUMNS]


def published_values(pool: dict[str, pd.DataFrame], derived_codes: list[str]) -> dict[str, pd.DataFrame]:
    """Values of derived indicators that a source printed itself, carried with method = published, by code."""
    return {
        code: pool[code].assign(method="published")[INDICATOR_COLUMNS]
        for code in derived_codes
        if code in pool and not pool[code].empty
    }


def merge_status(*statuses: str) -> str:
    """The union of the inputs' status flags, in a stable order."""
    return "".join(sorted(set("".join(statuses)) - {":"}))


def reconcile_ratio(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicator_code: str,
    numerator: str,
    denominator: str,
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """Compare derived and published ratios where both exist, as intervals allowing for printed rounding."""
    preferred = preferred_observations(observations, sources)
    derived = derive_ratio(preferred, indicator_code, numerator, denominator, multiplier=multiplier)
    published = preferred[preferred["indicator_code"] == indicator_code]
    columns = [
        "region_code",
        "year",
        "derived",
        "derived_low",
        "derived_high",
        "derived_sources",
        "published",
        "published_low",
        "published_high",
        "published_source",
        "reconciles",
    ]
    if derived.empty or published.empty:
        return pd.DataFrame(columns=columns)
    both = derived.merge(published, on=["region_code", "year"], suffixes=("_derived", "_published"))
    if both.empty:
        return pd.DataFrame(columns=columns)
    radius = both["rounding_radius"].fillna(0.0)
    compared = pd.DataFrame(
        {
            "region_code": both["region_code"],
            "year": both["year"],
            "derived": both["value_derived"],
            "derived_low": both["value_low"],
            "derived_high": both["value_high"],
            "derived_sources": both["source_ids"],
            "published": both["value_published"],
            "published_low": both["value_published"] - radius,
            "published_high": both["value_published"] + radius,
            "published_source": both["source_id"],
        }
    )
    # Intervals [derived_low, derived_high] and [published_low, published_high) must overlap.
    compared["reconciles"] = (compared["derived_low"] < compared["published_high"]) & (
        compared["derived_high"] >= compared["published_low"]
    )
    return compared[columns]


def ratio_reconciliation_check(
    indicator_code: str, numerator: str, denominator: str, multiplier: float = 1.0
) -> dg.AssetChecksDefinition:
    """A blocking check that derived and published values of one ratio indicator agree within rounding."""

    @dg.asset_check(
        name=f"{indicator_code}_reconciles",
        asset="indicators",
        blocking=True,
        additional_ins={"observations": dg.AssetIn("observations"), "sources": dg.AssetIn("sources")},
        description=f"Derived {indicator_code} equals the published figure wherever both exist, within the rounding of the printed figures.",
    )
    def check(indicators: pd.DataFrame, observations: pd.DataFrame, sources: pd.DataFrame) -> dg.AssetCheckResult:
        compared = reconcile_ratio(observations, sources, indicator_code, numerator, denominator, multiplier)
        mismatches = compared[~compared["reconciles"].astype(bool)]
        records = [
            {key: (value.item() if hasattr(value, "item") else value) for key, value in record.items()}
            for record in compared.to_dict("records")
        ]
        description = "\n".join(
            f"{row.region_code} {row.year}: derived {row.derived:.4f} [{row.derived_low:.4f}, {row.derived_high:.4f}] from {row.derived_sources} "
            f"does not match published {row.published} [{row.published_low:.4f}, {row.published_high:.4f}) from {row.published_source}"
            for row in mismatches.itertuples(index=False)
        )
        return dg.AssetCheckResult(
            passed=mismatches.empty,
            description=description or f"{len(compared)} published figure(s) reconciled",
            metadata={
                "compared": len(compared),
                "mismatches": len(mismatches),
                "comparisons": dg.MetadataValue.json(records),
            },
        )

    return check


def ratio_reconciliation_checks() -> list[dg.AssetChecksDefinition]:
    """One reconciliation check per ratio indicator in the catalogue."""
    catalog = load_indicator_catalog()
    ratios = catalog[(catalog["kind"] == "derived") & (catalog["derivation"] == "ratio")]
    return [
        ratio_reconciliation_check(entry.indicator_code, *entry.inputs.split(";"), entry.multiplier)
        for entry in ratios.itertuples(index=False)
    ]


@dg.asset_check(
    asset=indicators,
    blocking=True,
    additional_ins={"regions": dg.AssetIn("regions"), "indicator_catalog": dg.AssetIn("indicator_catalog")},
)
def indicators_schema(
    indicators: pd.DataFrame, regions: pd.DataFrame, indicator_catalog: pd.DataFrame
) -> dg.AssetCheckResult:
    """Indicators have known codes, one value per method, and plausible values (ratios between 1 and 10)."""
    return schema_check_result(
        indicator_schema(list(regions["region_code"]), indicator_catalog), indicators, "indicators"
    )


group_aggregates_schema = known_codes_schema_check(
    "group_aggregates",
    GroupAggregateSchema,
    ["parent_region_code"],
    "Group aggregates have known codes, a sum or weighted-mean rule, and group codes scoped by their parent.",
)


paired_city_ratios_schema = known_codes_schema_check(
    "paired_city_ratios",
    PairedCityRatioSchema,
    ["reference_region_code", "region_code"],
    "Paired-city ratios have known codes and regions and positive values.",
)
