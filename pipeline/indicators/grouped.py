"""The grouping engine dispersion and convergence share: each value placed in every unit set it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.arrays import positions_in, run_bounds, sorted_by_key
from pipeline.indicators.units import sorted_unit_regions

# Group keys are counted in a dense array up to this many possible keys (else hashed).
DENSE_KEY_SPACE = 50_000_000
# The upper bound of a bounded share (catalogue `bounded`), in percent.
BOUND = 100.0


@dataclass
class Placement:
    """Values placed in every unit set of their region, as numpy positions rather than text.

    Per row of the values frame: `code` (position in `codes`, len(codes) for other indicators), `region` (position
    among the unit regions, `region_count` for others), `year_offset` (years after `first_year`) and `values`. Per
    placed value: its `row` in the values frame and its `unit` (row of the unit table), whose set is
    `set_of_unit[unit]`. Sets are numbered in the order of (parent_region_code, unit_level); `set_parent` and
    `set_level` are their positions in `parent_codes` and `level_names`.
    """

    codes: pd.Index
    parent_codes: pd.Index
    level_names: pd.Index
    set_parent: np.ndarray
    set_level: np.ndarray
    set_of_unit: np.ndarray
    row: np.ndarray
    unit: np.ndarray
    code: np.ndarray
    region: np.ndarray
    region_count: int
    year_offset: np.ndarray
    first_year: int
    year_span: int
    values: np.ndarray

    @classmethod
    def of(
        cls,
        values: pd.DataFrame,
        units: pd.DataFrame,
        codes: list[str],
        placed_codes: list[str],
        unit_regions: list[str] | None = None,
    ) -> Placement:
        """Look up the given codes' rows; place the non-missing values of `placed_codes` in their regions' sets.

        unit_regions: sorted_unit_regions(units), when the caller places several batches in the same units.
        """
        regions = sorted_unit_regions(units) if unit_regions is None else unit_regions
        code = positions_in(values["indicator_code"], codes)
        region = positions_in(values["region_code"], regions, code < len(codes))
        all_values = values["value"].to_numpy(dtype="float64")
        years = values["year"].to_numpy(dtype="int64")
        first_year = int(years.min()) if len(years) else 0
        year_span = int(years.max()) - first_year + 1 if len(years) else 1
        placing = np.append(np.isin(codes, placed_codes), False)
        selected = np.flatnonzero(placing[code] & (region < len(regions)) & ~np.isnan(all_values))
        parent, parent_codes = pd.factorize(units["parent_region_code"], sort=True)
        level, level_names = pd.factorize(units["unit_level"], sort=True)
        level_count = max(len(level_names), 1)
        unique_sets, set_of_unit = np.unique(parent.astype("int64") * level_count + level, return_inverse=True)
        row, unit = expand_to_sets(
            selected, region[selected], positions_in(units["region_code"], regions), np.arange(len(units)), len(regions)
        )
        return cls(
            codes=pd.Index(codes, dtype="str"),
            parent_codes=pd.Index(parent_codes, dtype="str"),
            level_names=pd.Index(level_names, dtype="str"),
            set_parent=unique_sets // level_count,
            set_level=unique_sets % level_count,
            set_of_unit=set_of_unit,
            row=row,
            unit=unit,
            code=code,
            region=region,
            region_count=len(regions),
            year_offset=years - first_year,
            first_year=first_year,
            year_span=year_span,
            values=all_values,
        )


@dataclass
class GroupedLevels:
    """Every value placed in its (indicator, parent, unit level, year) groups of ≥ n units, as flat numpy arrays.

    Groups are numbered in the order of (indicator_code, parent_region_code, unit_level, year) and their values lie
    contiguously in `levels` (`start`, `size`); `row` is each placed value's row in the values frame. `code`,
    `region` and `year_offset` describe every row of the values frame as positions in `codes`, in the unit regions
    and in the years from the first.
    """

    codes: pd.Index
    parent_codes: pd.Index
    level_names: pd.Index
    indicator: np.ndarray
    parent: np.ndarray
    level: np.ndarray
    year: np.ndarray
    start: np.ndarray
    size: np.ndarray
    row: np.ndarray
    levels: np.ndarray
    code: np.ndarray
    region: np.ndarray
    region_count: int
    year_offset: np.ndarray
    year_span: int
    values: np.ndarray
    minimum_units: int = 1

    @property
    def count(self) -> int:
        """How many groups there are."""
        return len(self.size)

    @classmethod
    def of(
        cls,
        values: pd.DataFrame,
        units: pd.DataFrame,
        weight_lists: dict[str, list[str]],
        minimum_units: int,
        unit_regions: list[str] | None = None,
    ) -> GroupedLevels:
        """Place each flagged value in every unit set of its region; keep groups with at least `minimum_units` values."""
        codes = sorted({*weight_lists, *(code for lists in weight_lists.values() for code in lists)})
        placed = Placement.of(values, units, codes, list(weight_lists), unit_regions)
        set_count, year_span = len(placed.set_parent), placed.year_span
        key = (placed.code[placed.row] * set_count + placed.set_of_unit[placed.unit]) * year_span
        key += placed.year_offset[placed.row]
        key, row = sorted_by_key(key, placed.row, len(codes) * set_count * year_span, len(values))
        start, size = run_bounds(key)
        kept = np.repeat(size >= minimum_units, size)
        key, row = key[kept], row[kept]
        start, size = run_bounds(key)
        set_key, year_offset = np.divmod(key[start], year_span)
        indicator, set_position = np.divmod(set_key, set_count)
        return cls(
            codes=placed.codes,
            parent_codes=placed.parent_codes,
            level_names=placed.level_names,
            indicator=indicator,
            parent=placed.set_parent[set_position],
            level=placed.set_level[set_position],
            year=year_offset + placed.first_year,
            start=start,
            size=size,
            row=row,
            levels=placed.values[row],
            code=placed.code,
            region=placed.region,
            region_count=placed.region_count,
            year_offset=placed.year_offset,
            year_span=year_span,
            values=placed.values,
            minimum_units=minimum_units,
        )

    def per_level(self, per_group: np.ndarray) -> np.ndarray:
        """A per-group array repeated for every placed value of the group."""
        return np.repeat(per_group, self.size)

    def sums(self, per_level: np.ndarray) -> np.ndarray:
        """Sum of a per-level array within each group."""
        return np.add.reduceat(per_level, self.start) if self.count else np.zeros(0)

    def population_weights(self, weight_lists: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per group the first candidate weight indicator positive for every unit that year (its position in `codes`,
        −1 for none); per placed value its weight (NaN where the group has none)."""
        weight_code = np.full(self.count, -1)
        weights = np.full(len(self.levels), np.nan)
        undecided = np.ones(self.count, dtype=bool)
        lookup = self.weight_lookup()
        for position in range(max((len(codes) for codes in weight_lists.values()), default=0)):
            candidate = np.full(len(self.codes) + 1, len(self.codes))
            for indicator, codes in weight_lists.items():
                if position < len(codes):
                    candidate[self.codes.get_loc(indicator)] = self.codes.get_loc(codes[position])
            asking = undecided & (candidate[self.indicator] < len(self.codes))
            placed = np.flatnonzero(self.per_level(asking))
            rows = self.row[placed]
            looked_up = np.full(len(self.levels), np.nan)
            looked_up[placed] = lookup(candidate[self.code[rows]], self.region[rows], self.year_offset[rows])
            usable = (np.isfinite(looked_up) & (looked_up > 0)).astype("int64")
            complete = asking & (self.sums(usable) == self.size)
            chosen = self.per_level(complete)
            weights[chosen] = looked_up[chosen]
            weight_code[complete] = candidate[self.indicator[complete]]
            undecided &= ~complete
        return weight_code, weights

    def weight_lookup(self):
        """A function (code, region, year offset) → the value of that row of the values frame, NaN where none."""
        rows = np.flatnonzero((self.code < len(self.codes)) & (self.region < self.region_count))
        space = (len(self.codes) + 1) * self.region_count * self.year_span
        keys = (self.code[rows].astype("int64") * self.region_count + self.region[rows]) * self.year_span
        keys += self.year_offset[rows]
        if space <= DENSE_KEY_SPACE:
            # Like a dict built from the rows, the last of a repeated (code, region, year) wins.
            table = np.full(space, np.nan)
            table[keys] = self.values[rows]

            def dense(code: np.ndarray, region: np.ndarray, year_offset: np.ndarray) -> np.ndarray:
                """Look the keys up in a dense table."""
                return table[(code.astype("int64") * self.region_count + region) * self.year_span + year_offset]

            return dense
        last = ~pd.Index(keys).duplicated(keep="last")
        index, found_values = pd.Index(keys[last]), self.values[rows[last]]

        def hashed(code: np.ndarray, region: np.ndarray, year_offset: np.ndarray) -> np.ndarray:
            """Look the keys up in a hash index."""
            position = index.get_indexer(
                (code.astype("int64") * self.region_count + region) * self.year_span + year_offset
            )
            return np.where(position >= 0, found_values[np.maximum(position, 0)], np.nan)

        return hashed

    def measures(self, weights: np.ndarray, bounded: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each measure as (groups where its preconditions hold, value per group), in the published order.

        Population-weighted Theil and Gini beside the unweighted ones; for a bounded share also logit_sd.
        """
        levels, size = self.levels, self.size
        mean = self.sums(levels) / size
        lowest, highest, gini_sums = self.ordered_statistics()
        positive_mean, positive = mean > 0, lowest > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.sqrt(self.sums((levels - self.per_level(mean)) ** 2) / size) / mean
            weight_totals = self.sums(weights)
            shares = weights / self.per_level(weight_totals)
            weighted_mean = self.sums(shares * levels)
            weighted_cv = np.sqrt(self.sums(shares * (levels - self.per_level(weighted_mean)) ** 2)) / weighted_mean
            gini = gini_sums / (size**2.0 * mean)
            relative = levels / self.per_level(mean)
            theil = np.maximum(self.sums(relative * np.log(np.where(relative > 0, relative, 1.0))) / size, 0.0)
            ratio = highest / lowest
            weighted_relative = levels / self.per_level(weighted_mean)
            weighted_theil = self.sums(
                shares * weighted_relative * np.log(np.where(weighted_relative > 0, weighted_relative, 1.0))
            )
            weighted_gini = self.weighted_gini_sums(shares) / weighted_mean
        weighted = np.isfinite(weight_totals)
        measures = {
            "cv": (positive_mean, cv),
            "weighted_cv": (positive_mean & weighted, weighted_cv),
            "gini": (positive_mean & (lowest >= 0), gini),
            "theil": (positive, theil),
            "max_min_ratio": (positive, ratio),
            "weighted_gini": (positive_mean & (lowest >= 0) & weighted, weighted_gini),
            "weighted_theil": (positive & weighted, np.maximum(weighted_theil, 0.0)),
        }
        if bounded:
            inside_count, logit_sd = self.logit_spread()
            measures["logit_sd"] = (inside_count >= self.minimum_units, logit_sd)
        return measures

    def logit_spread(self) -> tuple[np.ndarray, np.ndarray]:
        """Per group the units strictly between 0 and 100 % and the standard deviation (ddof = 0) of their logits."""
        inside = (self.levels > 0) & (self.levels < BOUND)
        with np.errstate(divide="ignore", invalid="ignore"):
            logits = np.where(inside, np.log(self.levels / (BOUND - self.levels)), 0.0)
            count = self.sums(inside.astype("float64"))
            mean = self.sums(logits) / count
            spread = np.sqrt(self.sums(np.where(inside, (logits - self.per_level(mean)) ** 2, 0.0)) / count)
        return count.astype("int64"), spread

    def weighted_gini_sums(self, shares: np.ndarray) -> np.ndarray:
        """Per group Σᵢ wᵢ·x₍ᵢ₎·(Fᵢ₋₁ + Fᵢ − 1) over the values sorted, wᵢ their weight shares and F the cumulated
        shares: the weighted Gini times the weighted mean (= Σᵢ Σⱼ wᵢ wⱼ |xᵢ − xⱼ| / 2)."""
        sums = np.full(self.count, np.nan)
        for count in np.unique(self.size):
            groups = np.flatnonzero(self.size == count)
            positions = self.start[groups][:, None] + np.arange(count)
            order = np.argsort(self.levels[positions], axis=1, kind="stable")
            ordered = np.take_along_axis(self.levels[positions], order, axis=1)
            weights = np.take_along_axis(shares[positions], order, axis=1)
            cumulated = np.cumsum(weights, axis=1)
            sums[groups] = (weights * ordered * (2 * cumulated - weights - 1.0)).sum(axis=1)
        return sums

    def ordered_statistics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group the lowest and highest value and Σ(2i − n − 1)·x₍ᵢ₎ over its sorted values.

        Groups of equal size are sorted together as the rows of one matrix, so no sort spans the whole array.
        """
        lowest, highest, gini_sums = (np.zeros(self.count) for _ in range(3))
        for count in np.unique(self.size):
            groups = np.flatnonzero(self.size == count)
            ordered = np.sort(self.levels[self.start[groups][:, None] + np.arange(count)], axis=1)
            lowest[groups], highest[groups] = ordered[:, 0], ordered[:, -1]
            gini_sums[groups] = ordered @ (2.0 * np.arange(1, count + 1) - count - 1)
        return lowest, highest, gini_sums


def expand_to_sets(
    rows: np.ndarray, region_of_row: np.ndarray, region_of_unit: np.ndarray, set_of_unit: np.ndarray, region_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, set_of_unit[unit]) pair where the row's region is the unit's region: a vectorised many-to-many join.

    A region lies in a few sets at most (its parent's, a province's counties, a county's villages), so the join
    takes each region's first set for every row, then its second for the rows whose region has one, and so on.
    """
    order = np.argsort(region_of_unit, kind="stable")
    sets_by_region = set_of_unit[order]
    per_region = np.bincount(region_of_unit, minlength=region_count)
    first = np.cumsum(per_region) - per_region
    placed_rows, placed_sets = [], []
    repeats = per_region[region_of_row]
    for slot in range(int(per_region.max(initial=0))):
        taking = repeats > slot
        if not taking.all():
            rows, region_of_row, repeats = rows[taking], region_of_row[taking], repeats[taking]
        placed_rows.append(rows)
        placed_sets.append(sets_by_region[first[region_of_row] + slot])
    if not placed_rows:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    return np.concatenate(placed_rows), np.concatenate(placed_sets)
