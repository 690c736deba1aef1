"""Dispersion of each indicator across the units under a parent region (σ-convergence): cv, weighted cv, Theil, Gini."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.indicators import empty_frame, indicator_values
from pipeline.schemas import MINIMUM_UNITS, DispersionSchema
from pipeline.validate import known_codes_schema_check

GROUP = "convergence"
DISPERSION_COLUMNS = [
    "indicator_code",
    "parent_region_code",
    "unit_level",
    "year",
    "measure",
    "value",
    "n_units",
    "weight_indicator_code",
]
DISPERSION_DTYPES = {
    "indicator_code": "str",
    "parent_region_code": "str",
    "unit_level": "str",
    "year": "int64",
    "measure": "str",
    "value": "float64",
    "n_units": "int64",
    "weight_indicator_code": "str",
}
# Region level → the class of units compared side by side (districts, counties and county-level cities together).
LEVEL_CLASSES = {
    "prefecture_city": "prefecture_city",
    "district": "county_level",
    "county": "county_level",
    "county_city": "county_level",
    "town": "town",
    "village": "village",
}
# Units of the province's county set (县域): counties and county-level cities, without city districts.
COUNTY_SET_LEVELS = {"county", "county_city"}
# County-level parents also compare the villages within them (through their towns), at unit level `village`.
COUNTY_LEVELS = {"district", "county", "county_city"}
VILLAGE_LEVEL = "village"
# Villages sit at most a few levels below their county (village → town → county); the climb stops after this many.
MAX_ANCESTOR_STEPS = 4


@dg.asset(group_name=GROUP, ins={"sources": dg.AssetIn("sources"), "regions": dg.AssetIn("regions")})
def dispersion(
    observations: pd.DataFrame,
    sources: pd.DataFrame,
    indicators: pd.DataFrame,
    indicator_catalog: pd.DataFrame,
    regions: pd.DataFrame,
) -> pd.DataFrame:
    """Dispersion (cv, weighted_cv, theil, gini, max_min_ratio) across the units under each parent, years with ≥5 units."""
    values = indicator_values(observations, sources, indicators)
    return dispersion_table(values, unit_sets(regions), indicator_catalog)


dispersion_schema = known_codes_schema_check(
    "dispersion",
    DispersionSchema,
    ["parent_region_code"],
    "Dispersion rows have known codes and measures, non-negative values and at least 5 units.",
)


def unit_sets(regions: pd.DataFrame) -> pd.DataFrame:
    """Which units are compared under which parent: direct children by level class, a province's counties, a county's villages."""
    children = regions[regions["parent_code"].notna() & regions["level"].isin(LEVEL_CLASSES)]
    direct = pd.DataFrame(
        {
            "parent_region_code": children["parent_code"],
            "unit_level": children["level"].map(LEVEL_CLASSES),
            "region_code": children["region_code"],
        }
    )
    parent_of = regions.set_index("region_code")["parent_code"]
    level_of = regions.set_index("region_code")["level"]
    counties = regions[regions["level"].isin(COUNTY_SET_LEVELS)]
    grandparents = counties["parent_code"].map(parent_of)
    in_province = grandparents.map(level_of).eq("province")
    county_set = pd.DataFrame(
        {
            "parent_region_code": grandparents[in_province],
            "unit_level": "county",
            "region_code": counties.loc[in_province, "region_code"],
        }
    )
    sets = pd.concat([direct, county_set, county_villages(regions)], ignore_index=True).astype("str")
    return sets.drop_duplicates(ignore_index=True)


def county_villages(regions: pd.DataFrame) -> pd.DataFrame:
    """Each village under the county-level unit it lies in (through its town), compared at unit level `village`."""
    parent_of = regions.set_index("region_code")["parent_code"]
    level_of = regions.set_index("region_code")["level"]
    villages = regions[regions["level"] == VILLAGE_LEVEL]
    ancestors = villages["parent_code"]
    for _ in range(MAX_ANCESTOR_STEPS):
        climbing = ancestors.notna() & ~ancestors.map(level_of).isin(COUNTY_LEVELS)
        if not climbing.any():
            break
        ancestors = ancestors.where(~climbing, ancestors.map(parent_of))
    found = ancestors.map(level_of).isin(COUNTY_LEVELS)
    return pd.DataFrame(
        {
            "parent_region_code": ancestors[found],
            "unit_level": VILLAGE_LEVEL,
            "region_code": villages.loc[found, "region_code"],
        }
    )


def dispersion_table(values: pd.DataFrame, units: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every dispersion measure for every indicator flagged `dispersion`, parent, unit level and year with ≥5 units."""
    flagged = catalog[catalog["dispersion"].astype(bool)]
    selected = values[values["indicator_code"].isin(flagged["indicator_code"]) & values["value"].notna()]
    groups = GroupedLevels.of(selected, units, MINIMUM_UNITS)
    if groups.count == 0:
        return empty_frame(DISPERSION_DTYPES)
    weight_lists = dict(zip(flagged["indicator_code"], flagged["weights"], strict=True))
    candidates = [[code for code in weight_lists[code].split(";") if code] for code in groups.indicator_codes]
    weight_code, weights = groups.population_weights(values, candidates)
    frames = []
    for position, (measure, (present, measured)) in enumerate(groups.measures(weights).items()):
        index = np.flatnonzero(present)
        frames.append(
            pd.DataFrame(
                {
                    "group": index,
                    "position": position,
                    "measure": measure,
                    "value": measured[index],
                    "weight_indicator_code": weight_code[index] if measure == "weighted_cv" else "",
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True).sort_values(["group", "position"], kind="stable")
    group = rows["group"].to_numpy()
    table = pd.DataFrame(
        {
            "indicator_code": groups.indicator_codes.take(groups.indicator[group]),
            "parent_region_code": groups.parent_codes.take(groups.parent[group]),
            "unit_level": groups.level_names.take(groups.level[group]),
            "year": groups.year[group],
            "measure": rows["measure"].to_numpy(),
            "value": rows["value"].to_numpy(),
            "n_units": groups.size[group],
            "weight_indicator_code": rows["weight_indicator_code"].to_numpy(),
        }
    )
    return table.astype(DISPERSION_DTYPES)[DISPERSION_COLUMNS]


@dataclass
class GroupedLevels:
    """The values of every (indicator, parent, unit level, year) group with ≥ n units, as flat arrays sorted by group
    then value.

    Groups are numbered in the order of (indicator_code, parent_region_code, unit_level, year); `start` and `size`
    give each group's slice of `levels`, and `rows` the position in the selected values of each level.
    """

    indicator_codes: pd.Index
    parent_codes: pd.Index
    level_names: pd.Index
    region_index: pd.Index
    row_indicator: np.ndarray
    row_region: np.ndarray
    row_year: np.ndarray
    indicator: np.ndarray
    parent: np.ndarray
    level: np.ndarray
    year: np.ndarray
    start: np.ndarray
    size: np.ndarray
    levels: np.ndarray
    rows: np.ndarray

    @property
    def count(self) -> int:
        """How many groups there are."""
        return len(self.size)

    @classmethod
    def of(cls, selected: pd.DataFrame, units: pd.DataFrame, minimum_units: int) -> GroupedLevels:
        """Place each value in every unit set of its region; keep groups with at least `minimum_units` values."""
        region_index = pd.Index(units["region_code"].unique(), dtype="str")
        parent, parent_codes = pd.factorize(units["parent_region_code"], sort=True)
        level, level_names = pd.factorize(units["unit_level"], sort=True)
        level_count = max(len(level_names), 1)
        unique_sets, set_of_unit = np.unique(parent.astype("int64") * level_count + level, return_inverse=True)
        row_region = region_index.get_indexer(selected["region_code"])
        placed_rows, placed_sets = expand_to_sets(
            row_region, region_index.get_indexer(units["region_code"]), set_of_unit, len(region_index)
        )
        row_indicator, indicator_codes = pd.factorize(selected["indicator_code"], sort=True)
        row_year = selected["year"].to_numpy(dtype="int64")
        first_year = int(row_year.min()) if len(row_year) else 0
        year_span = int(row_year.max()) - first_year + 1 if len(row_year) else 1
        key = (row_indicator[placed_rows].astype("int64") * len(unique_sets) + placed_sets) * year_span + (
            row_year[placed_rows] - first_year
        )
        levels = selected["value"].to_numpy(dtype="float64")[placed_rows]
        order = np.lexsort((levels, key))
        key, levels, placed_rows = key[order], levels[order], placed_rows[order]
        start, size = run_bounds(key)
        keep = np.repeat(size >= minimum_units, size)
        key, levels, placed_rows = key[keep], levels[keep], placed_rows[keep]
        start, size = run_bounds(key)
        set_key, year_offset = np.divmod(key[start], year_span)
        indicator, set_position = np.divmod(set_key, len(unique_sets))
        parent_and_level = unique_sets[set_position]
        return cls(
            indicator_codes=pd.Index(indicator_codes, dtype="str"),
            parent_codes=pd.Index(parent_codes, dtype="str"),
            level_names=pd.Index(level_names, dtype="str"),
            region_index=region_index,
            row_indicator=row_indicator,
            row_region=row_region,
            row_year=row_year,
            indicator=indicator,
            parent=parent_and_level // level_count,
            level=parent_and_level % level_count,
            year=year_offset + first_year,
            start=start,
            size=size,
            levels=levels,
            rows=placed_rows,
        )

    def per_level(self, per_group: np.ndarray) -> np.ndarray:
        """A per-group array repeated for every level of its group."""
        return np.repeat(per_group, self.size)

    def sums(self, per_level: np.ndarray) -> np.ndarray:
        """Sum of a per-level array within each group."""
        return np.add.reduceat(per_level, self.start)

    def population_weights(self, values: pd.DataFrame, candidates: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per group the first candidate weight indicator positive for every unit that year; per level its weight."""
        weight_code = np.full(self.count, "", dtype=object)
        weights = np.full(len(self.levels), np.nan)
        undecided = np.ones(self.count, dtype=bool)
        for position in range(max((len(codes) for codes in candidates), default=0)):
            code_of_indicator = np.array([codes[position] if position < len(codes) else "" for codes in candidates])
            looked_up = self.weight_values(values, code_of_indicator)
            usable = (np.isfinite(looked_up) & (looked_up > 0)).astype("int64")
            code_of_group = code_of_indicator[self.indicator]
            complete = undecided & (code_of_group != "") & (self.sums(usable) == self.size)
            chosen = self.per_level(complete)
            weights[chosen] = looked_up[chosen]
            weight_code[complete] = code_of_group[complete]
            undecided &= ~complete
        return weight_code.astype(str), weights

    def weight_values(self, values: pd.DataFrame, code_of_indicator: np.ndarray) -> np.ndarray:
        """Per level, the value of its indicator's weight code for the same region and year (NaN where there is none)."""
        wanted = pd.Index(pd.unique(code_of_indicator[code_of_indicator != ""]), dtype="str")
        if wanted.empty:
            return np.full(len(self.levels), np.nan)
        weight_rows = values[values["indicator_code"].isin(wanted)]
        weight_years = weight_rows["year"].to_numpy(dtype="int64")
        first_year = min(int(weight_years.min(initial=self.row_year.min())), int(self.row_year.min()))
        year_span = max(int(weight_years.max(initial=0)), int(self.row_year.max())) - first_year + 1
        known = pd.Index(wanted)
        weight_keys = key_of(
            known.get_indexer(weight_rows["indicator_code"]),
            self.region_index.get_indexer(weight_rows["region_code"]),
            weight_years - first_year,
            len(self.region_index),
            year_span,
        )
        query_keys = key_of(
            known.get_indexer(code_of_indicator)[self.row_indicator],
            self.row_region,
            self.row_year - first_year,
            len(self.region_index),
            year_span,
        )
        # Like a dict built from the rows, the last of a repeated (code, region, year) wins.
        order = np.argsort(weight_keys, kind="stable")
        sorted_keys = weight_keys[order]
        last = np.append(sorted_keys[1:] != sorted_keys[:-1], True) & (sorted_keys >= 0)
        sorted_keys, sorted_values = sorted_keys[last], weight_rows["value"].to_numpy(dtype="float64")[order][last]
        if len(sorted_keys) == 0:
            return np.full(len(self.levels), np.nan)
        position = np.minimum(np.searchsorted(sorted_keys, query_keys), len(sorted_keys) - 1)
        hit = (query_keys >= 0) & (sorted_keys[position] == query_keys)
        per_row = np.where(hit, sorted_values[position], np.nan)
        return per_row[self.rows]

    def measures(self, weights: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each measure as (groups where its preconditions hold, value per group), in the published order."""
        levels, size = self.levels, self.size
        mean = self.sums(levels) / size
        lowest, highest = levels[self.start], levels[self.start + size - 1]
        positive_mean, positive = mean > 0, lowest > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.sqrt(self.sums((levels - self.per_level(mean)) ** 2) / size) / mean
            weight_totals = self.sums(weights)
            shares = weights / self.per_level(weight_totals)
            weighted_mean = self.sums(shares * levels)
            weighted_cv = np.sqrt(self.sums(shares * (levels - self.per_level(weighted_mean)) ** 2)) / weighted_mean
            # Gini by ranks within the sorted group: Σ(2i − n − 1)·x₍ᵢ₎ / (n² μ) equals Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² μ).
            rank = np.arange(len(levels)) - self.per_level(self.start) + 1
            gini = self.sums((2 * rank - self.per_level(size) - 1) * levels) / (size.astype("float64") ** 2 * mean)
            relative = levels / self.per_level(mean)
            entropy = relative * np.log(np.where(relative > 0, relative, 1.0))
            theil = np.maximum(self.sums(entropy) / size, 0.0)
            ratio = highest / lowest
        return {
            "cv": (positive_mean, cv),
            "weighted_cv": (positive_mean & np.isfinite(weight_totals), weighted_cv),
            "gini": (positive_mean & (lowest >= 0), gini),
            "theil": (positive, theil),
            "max_min_ratio": (positive, ratio),
        }


def key_of(code: np.ndarray, region: np.ndarray, year_offset: np.ndarray, region_count: int, year_span: int):
    """One int64 key per (code, region, year) position; −1 where the code or the region is unknown."""
    key = (code.astype("int64") * region_count + region) * year_span + year_offset
    return np.where((code >= 0) & (region >= 0), key, -1)


def expand_to_sets(
    region_of_row: np.ndarray, region_of_unit: np.ndarray, set_of_unit: np.ndarray, region_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, unit set) pair where the row's region is a unit of the set: a vectorised many-to-many join."""
    order = np.argsort(region_of_unit, kind="stable")
    sets_by_region = set_of_unit[order]
    per_region = np.bincount(region_of_unit, minlength=region_count)
    first = np.concatenate([[0], np.cumsum(per_region)[:-1]]) if region_count else np.zeros(0, dtype="int64")
    rows = np.flatnonzero(region_of_row >= 0)
    regions = region_of_row[rows]
    repeats = per_region[regions]
    placed_rows = np.repeat(rows, repeats)
    offsets = np.arange(len(placed_rows)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    placed_sets = sets_by_region[np.repeat(first[regions], repeats) + offsets]
    return placed_rows, placed_sets


def run_bounds(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values in a sorted array."""
    if len(key) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    start = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    size = np.diff(np.append(start, len(key)))
    return start, size


def dispersion_measures(levels: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """The measures whose preconditions hold (positive mean; positive values for theil and max/min; weights)."""
    measures = {}
    if levels.mean() > 0:
        measures["cv"] = coefficient_of_variation(levels)
        if weights is not None:
            measures["weighted_cv"] = weighted_coefficient_of_variation(levels, weights)
        if (levels >= 0).all():
            measures["gini"] = gini_coefficient(levels)
    if (levels > 0).all():
        measures["theil"] = theil_index(levels)
        measures["max_min_ratio"] = max_min_ratio(levels)
    return measures


def coefficient_of_variation(levels: np.ndarray) -> float:
    """Population standard deviation (ddof=0) divided by the mean, unweighted."""
    return float(levels.std(ddof=0) / levels.mean())


def weighted_coefficient_of_variation(levels: np.ndarray, weights: np.ndarray) -> float:
    """Weighted standard deviation around the weighted mean, divided by the weighted mean (population weights)."""
    shares = weights / weights.sum()
    mean = float((shares * levels).sum())
    return float(np.sqrt((shares * (levels - mean) ** 2).sum()) / mean)


def theil_index(levels: np.ndarray) -> float:
    """Theil T index, unweighted: mean of (x/μ)·ln(x/μ); 0 means equal values."""
    relative = levels / levels.mean()
    return float(max((relative * np.log(relative)).mean(), 0.0))


def gini_coefficient(levels: np.ndarray) -> float:
    """Gini coefficient, unweighted, by sorted ranks: Σ(2i − n − 1)·x₍ᵢ₎ / (n² μ) = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² μ)."""
    ordered = np.sort(levels)
    count = len(ordered)
    ranks = np.arange(1, count + 1)
    return float(((2 * ranks - count - 1) * ordered).sum() / (count**2 * ordered.mean()))


def max_min_ratio(levels: np.ndarray) -> float:
    """Highest value divided by the lowest."""
    return float(levels.max() / levels.min())
