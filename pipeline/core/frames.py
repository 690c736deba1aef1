"""Frame helpers shared by the stages: categorical text, stacking, packed keys, neighbour comparisons, lookups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

# Filtering rows by slicing their unbroken runs beats a gather of every column up to this many runs.
MAX_SLICED_RUNS = 2_000


def spread_texts(texts, positions: np.ndarray) -> pd.Categorical:
    """texts[position] for every position, as a categorical over the sorted distinct texts used (None → missing)."""
    values = list(texts)
    used = np.bincount(positions, minlength=len(values)) > 0 if len(positions) else np.zeros(len(values), dtype=bool)
    categories = sorted({text for text, wanted in zip(values, used, strict=True) if wanted and text is not None})
    position_of = {text: position for position, text in enumerate(categories)}
    lookup = np.array([position_of.get(text, -1) for text in values], dtype="int64")
    return pd.Categorical.from_codes(lookup[positions], categories=pd.Index(categories, dtype="str"))


def categorical_texts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame with these text columns as categoricals whose categories are sorted."""
    converted = {}
    for column in columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            if not values.cat.categories.is_monotonic_increasing:
                converted[column] = values.cat.reorder_categories(values.cat.categories.sort_values())
        else:
            converted[column] = values.astype("str").astype("category")
    return frame.assign(**converted) if converted else frame


def stacked_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames with the same columns stacked in order (fresh index); a column categorical in any frame stays categorical.

    pd.concat turns categoricals with different categories into text, one string per row; here their categories
    are united (sorted) and only codes are copied.
    """
    columns = list(frames[0].columns)
    categorical = [
        column for column in columns if any(isinstance(frame[column].dtype, pd.CategoricalDtype) for frame in frames)
    ]
    if not categorical:
        return pd.concat(frames, ignore_index=True)
    frames = [categorical_texts(frame, categorical) for frame in frames]
    stacked = {}
    for column in columns:
        if column in categorical:
            stacked[column] = union_categoricals([frame[column].array for frame in frames], sort_categories=True)
        else:
            stacked[column] = pd.concat([frame[column] for frame in frames], ignore_index=True)
    return pd.DataFrame(stacked)


def ordered_codes(column: pd.Series) -> np.ndarray | None:
    """A categorical column's codes renumbered so that they order like its texts (-1 missing); None for other columns."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return None
    codes = column.cat.codes.to_numpy().astype("int64")
    categories = column.cat.categories
    if categories.is_monotonic_increasing:
        return codes
    ranks = np.empty(len(categories), dtype="int64")
    ranks[np.argsort(categories.to_numpy(dtype=object), kind="stable")] = np.arange(len(categories))
    return np.where(codes < 0, -1, ranks[codes])


def packed_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """One int64 per row that orders and compares like the row's values in these columns (first column major).

    Categoricals contribute their codes (categories sorted), integer columns over a range no longer than the frame
    their offset from the smallest, other columns their rank among their sorted distinct values; a missing value
    ranks first. None when the combined ranges do not fit in 63 bits.
    """
    packed = np.zeros(len(frame), dtype="int64")
    bits = 0
    for column in columns:
        codes, size = key_codes(frame[column])
        width = max(int(size).bit_length(), 1)  # codes + 1 lie in 0..size
        bits += width
        if bits > 63:
            return None
        packed <<= width
        packed |= np.add(codes, 1, dtype="int64")
    return packed


def key_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Integers (−1 missing) that order and compare like the column's values, and how many distinct ones they span.

    A categorical's codes as they are when its categories are sorted (no int64 copy); an integer column over a short
    range its offset from the smallest value (no hashing of every row); else the rank among the sorted distinct values.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        if values.cat.categories.is_monotonic_increasing:
            return values.cat.codes.to_numpy(), len(values.cat.categories)
        return ordered_codes(values), len(values.cat.categories)  # type: ignore[return-value]
    if (
        isinstance(values.dtype, np.dtype)
        and (values.dtype.kind == "i" or (values.dtype.kind == "u" and values.dtype.itemsize < 8))
        and len(values)
    ):
        numbers = values.to_numpy()
        low, high = int(numbers.min()), int(numbers.max())
        if high - low < len(numbers):
            return np.subtract(numbers, low, dtype="int64"), high - low + 1
    codes, distinct = pd.factorize(values, sort=True)
    return codes, len(distinct)


def repeated_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """True for every row whose values in these columns occur in another row too (all copies, not the first kept)."""
    packed = packed_keys(frame, columns)
    if packed is None:
        return frame.duplicated(columns, keep=False).to_numpy()
    if len(packed) > 1 and bool((packed[1:] >= packed[:-1]).all()):
        # Sorted by the key (as the observations are): repeats are neighbours.
        same = packed[1:] == packed[:-1]
        repeated = np.zeros(len(packed), dtype=bool)
        repeated[1:] |= same
        repeated[:-1] |= same
        return repeated
    return pd.Series(packed).duplicated(keep=False).to_numpy()


def decoded_texts(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every categorical column turned back into a text column (an Arrow take, no Python strings)."""
    converted = {
        column: pd.array(text_array(frame[column]), dtype="str")
        for column in frame.columns
        if isinstance(frame[column].dtype, pd.CategoricalDtype)
    }
    return frame.assign(**converted) if converted else frame


def text_array(column: pd.Series) -> pa.Array:
    """A text or categorical column as an Arrow large_string array (categoricals decoded by Arrow)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = pa.array(column.cat.categories.to_numpy(dtype=object), type=pa.large_string())
        codes = column.cat.codes.to_numpy()
        return categories.take(pa.array(codes, mask=codes < 0))
    return pa.array(column, type=pa.large_string(), from_pandas=True)


def text_values(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """An object array of texts (None or NaN where missing) as a text column, converted by Arrow."""
    return pd.array(pa.array(values, type=pa.large_string(), from_pandas=True), dtype="str")


def per_distinct_code(codes: pd.Series, mapping: pd.Series) -> np.ndarray:
    """mapping[code] for every row (None where unknown), looked up once per distinct code."""
    positions, distinct = pd.factorize(codes)
    looked_up = np.append(mapping.reindex(distinct).to_numpy(dtype=object), np.array([None]))
    return looked_up[positions]  # position -1 (a null code) → None


def code_positions(codes: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's position among the column's distinct codes (-1 where missing), and those codes."""
    if isinstance(codes.dtype, pd.CategoricalDtype):
        return codes.cat.codes.to_numpy(), codes.cat.categories
    positions, distinct = pd.factorize(codes)
    return positions, pd.Index(distinct)


def per_code(codes: pd.Series, mapping: pd.Series) -> np.ndarray:
    """mapping[code] for every row (missing where the code is unknown), looked up once per distinct code."""
    positions, distinct = code_positions(codes)
    looked_up = mapping.reindex(distinct).to_numpy(dtype=object if mapping.dtype == object else None)
    missing = np.array([None if looked_up.dtype == object else np.nan], dtype=looked_up.dtype)
    return np.concatenate([looked_up, missing])[positions]  # position -1 (a null code) → missing


def categorical_per_code(codes: pd.Series, mapping: pd.Series, categories: list[str]) -> pd.Categorical:
    """pd.Categorical(per_code(codes, mapping), categories), built from codes: no text object per row.

    A row whose code is missing or unknown, or maps to a text outside the categories, is missing.
    """
    positions, distinct = code_positions(codes)
    looked_up = mapping.reindex(distinct).to_numpy(dtype=object)
    category_codes = pd.Index(categories).get_indexer(pd.Index(looked_up, dtype=object))
    return pd.Categorical.from_codes(np.append(category_codes, -1)[positions], categories=categories)


def empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    """An empty table with the given columns and dtypes."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})


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
    array = chunked_text_array(column)
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
    array = chunked_text_array(column)
    mask = pa.array(where)
    later, earlier = array[1:].filter(mask), array[:-1].filter(mask)
    return np.asarray(pc.fill_null(pc.greater(later, earlier), False).to_numpy(), dtype=bool)


def is_number_column(column: pd.Series) -> bool:
    """Whether a column holds numbers (compared in numpy) rather than text (compared in Arrow)."""
    return pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.StringDtype)


def chunked_text_array(column: pd.Series) -> pa.ChunkedArray:
    """A text column as a chunked Arrow array (no copy when it is Arrow-backed already; categoricals decoded by Arrow)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pa.chunked_array([text_array(column)])
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
