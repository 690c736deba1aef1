"""Array helpers: integer positions of labels, sorting by packed keys and the bounds of runs of equal keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Keys below this are looked up in a dense table (8 bytes per possible key) rather than hashed.
DENSE_KEY_LIMIT = 1 << 22
# Text lookups run over the runs of wanted rows separately up to this many runs (else over the whole column).
MAX_LOOKUP_RUNS = 1_000


def distinct_positions(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's position among the distinct keys, and a row holding each distinct key (any row of it will do).

    Small non-negative keys (packed codes) go through a dense table, others through hashing.
    """
    if len(keys) and keys.min() >= 0 and keys.max() < DENSE_KEY_LIMIT:
        row_of_key = np.full(int(keys.max()) + 1, -1, dtype="int64")
        row_of_key[keys] = np.arange(len(keys))
        present = np.flatnonzero(row_of_key >= 0)
        position_of_key = np.full(len(row_of_key), -1, dtype="int64")
        position_of_key[present] = np.arange(len(present))
        return position_of_key[keys], row_of_key[present]
    positions, uniques = pd.factorize(keys)
    rows = np.empty(len(uniques), dtype="int64")
    rows[positions] = np.arange(len(positions))
    return positions, rows


def category_positions(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's position among the column's distinct texts (its categories; -1 missing), and those texts."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    positions, distinct = pd.factorize(column)
    return positions, pd.Index(distinct)


def labels_at(labels: list[str], positions: np.ndarray) -> pd.Series:
    """A text column holding labels[position] for each position (an Arrow take, no Python strings per row)."""
    taken = pc.take(pa.array(labels, type=pa.large_string()), pa.array(positions))
    return pd.Series(taken, dtype="str")


def positions_in(column: pd.Series, labels: list[str], wanted: np.ndarray | None = None) -> np.ndarray:
    """Position of each entry of a text column in `labels`, len(labels) where absent or not wanted (Arrow hashing).

    Only the unbroken runs of wanted rows are looked up (values sorted by indicator hold them in a few runs).
    """
    if wanted is None:
        wanted = np.ones(len(column), dtype=bool)
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Each distinct text is looked up once; the rows take their category's position (code -1: absent).
        categories = pa.array(column.cat.categories.to_numpy(dtype=object), type=pa.large_string())
        found = pc.index_in(categories, value_set=pa.array(labels, type=pa.large_string()))
        by_code = np.append(pc.fill_null(found, len(labels)).to_numpy().astype("int64"), len(labels))
        return np.where(wanted, by_code[column.cat.codes.to_numpy()], len(labels))
    array = pa.chunked_array(pa.array(column.astype("str"), from_pandas=True))
    value_set = pa.array(labels, type=array.type)
    positions = np.full(len(column), len(labels), dtype="int64")
    edges = np.flatnonzero(np.diff(np.concatenate([[False], wanted, [False]]).astype("int8")))
    runs = list(zip(edges[0::2], edges[1::2], strict=True))
    if len(runs) > MAX_LOOKUP_RUNS:
        runs = [(0, len(column))]
    for start, stop in runs:
        found = pc.index_in(array.slice(start, stop - start), value_set=value_set)
        positions[start:stop] = pc.fill_null(found, len(labels)).to_numpy()
    return np.where(wanted, positions, len(labels))


def sorted_by_key(key: np.ndarray, row: np.ndarray, key_space: int, row_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and rows ordered by key, then row: one sort of packed integers where they fit in 63 bits."""
    row_bits = max(int(row_space).bit_length(), 1)
    if max(int(key_space).bit_length(), 1) + row_bits > 63:
        order = np.lexsort((row, key))
        return key[order], row[order]
    packed = np.sort((key << row_bits) | row)
    return packed >> row_bits, packed & ((1 << row_bits) - 1)


def run_bounds(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values in a sorted array."""
    if len(key) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    start = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return start, np.diff(np.append(start, len(key)))
