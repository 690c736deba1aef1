"""Dispersion of each indicator across the units under a parent region (σ-convergence): cv, weighted cv, Theil, Gini."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
# Group keys are counted in a dense array up to this many possible keys (else hashed).
DENSE_KEY_SPACE = 50_000_000


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
    weight_lists = {
        code: [weight for weight in text.split(";") if weight]
        for code, text in zip(flagged["indicator_code"], flagged["weights"], strict=True)
    }
    groups = GroupedLevels.of(values, units, weight_lists, MINIMUM_UNITS)
    if groups.count == 0:
        return empty_frame(DISPERSION_DTYPES)
    weight_code, weights = groups.population_weights(weight_lists)
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
            "indicator_code": groups.codes.take(groups.indicator[group]),
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
    """Every value placed in its (indicator, parent, unit level, year) groups of ≥ n units, as flat numpy arrays.

    Groups are numbered in the order of (indicator_code, parent_region_code, unit_level, year). `group` and `row`
    say, for each placed value, its group and its row in the values frame; `sorted_levels` holds the placed values
    sorted by group then value (for ranks, minimum and maximum); `code`, `region` and `year_offset` describe every
    row of the values frame as positions in `codes`, the unit regions and the years from `first_year`.
    """

    codes: pd.Index
    parent_codes: pd.Index
    level_names: pd.Index
    indicator: np.ndarray
    parent: np.ndarray
    level: np.ndarray
    year: np.ndarray
    size: np.ndarray
    group: np.ndarray
    row: np.ndarray
    levels: np.ndarray
    sorted_levels: np.ndarray
    code: np.ndarray
    region: np.ndarray
    region_count: int
    year_offset: np.ndarray
    year_span: int
    values: np.ndarray

    @property
    def count(self) -> int:
        """How many groups there are."""
        return len(self.size)

    @classmethod
    def of(
        cls, values: pd.DataFrame, units: pd.DataFrame, weight_lists: dict[str, list[str]], minimum_units: int
    ) -> GroupedLevels:
        """Place each flagged value in every unit set of its region; keep groups with at least `minimum_units` values."""
        codes = pd.Index(sorted({*weight_lists, *(code for lists in weight_lists.values() for code in lists)}))
        regions = sorted(units["region_code"].unique())
        code = positions_in(values["indicator_code"], list(codes))
        region = positions_in(values["region_code"], regions)
        all_values = values["value"].to_numpy(dtype="float64")
        years = values["year"].to_numpy(dtype="int64")
        first_year = int(years.min()) if len(years) else 0
        year_span = int(years.max()) - first_year + 1 if len(years) else 1
        flagged = np.isin(np.arange(len(codes)), codes.get_indexer(list(weight_lists)))
        selected = np.flatnonzero(flagged[np.maximum(code, 0)] & (code >= 0) & (region >= 0) & ~np.isnan(all_values))
        parent, parent_codes = pd.factorize(units["parent_region_code"], sort=True)
        level, level_names = pd.factorize(units["unit_level"], sort=True)
        level_count = max(len(level_names), 1)
        unique_sets, set_of_unit = np.unique(parent.astype("int64") * level_count + level, return_inverse=True)
        row, placed_set = expand_to_sets(
            selected, region[selected], positions_in(units["region_code"], regions), set_of_unit, len(regions)
        )
        key = (code[row].astype("int64") * len(unique_sets) + placed_set) * year_span + (years[row] - first_year)
        group_keys, group = dense_groups(key, len(codes) * len(unique_sets) * year_span)
        size = np.bincount(group, minlength=len(group_keys))
        kept = np.flatnonzero(size >= minimum_units)
        renumbered = np.full(len(group_keys), -1)
        renumbered[kept] = np.arange(len(kept))
        group = renumbered[group]
        row, group = row[group >= 0], group[group >= 0]
        set_key, year_offset = np.divmod(group_keys[kept], year_span)
        indicator, set_position = np.divmod(set_key, len(unique_sets))
        levels = all_values[row]
        return cls(
            codes=pd.Index(codes, dtype="str"),
            parent_codes=pd.Index(parent_codes, dtype="str"),
            level_names=pd.Index(level_names, dtype="str"),
            indicator=indicator,
            parent=unique_sets[set_position] // level_count,
            level=unique_sets[set_position] % level_count,
            year=year_offset + first_year,
            size=size[kept],
            group=group,
            row=row,
            levels=levels,
            sorted_levels=sorted_within_groups(group, levels),
            code=code,
            region=region,
            region_count=len(regions),
            year_offset=years - first_year,
            year_span=year_span,
            values=all_values,
        )

    def per_level(self, per_group: np.ndarray) -> np.ndarray:
        """A per-group array looked up for every placed value."""
        return per_group[self.group]

    def sums(self, per_level: np.ndarray) -> np.ndarray:
        """Sum of a per-level array within each group."""
        return np.bincount(self.group, weights=per_level, minlength=self.count)

    def population_weights(self, weight_lists: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per group the first candidate weight indicator positive for every unit that year; per level its weight."""
        weight_code = np.full(self.count, "", dtype=object)
        weights = np.full(len(self.levels), np.nan)
        undecided = np.ones(self.count, dtype=bool)
        for position in range(max((len(codes) for codes in weight_lists.values()), default=0)):
            candidate = np.array([len(self.codes)] * len(self.codes))
            for indicator, codes in weight_lists.items():
                if position < len(codes):
                    candidate[self.codes.get_loc(indicator)] = self.codes.get_loc(codes[position])
            looked_up = self.weight_values(candidate[self.code[self.row]])
            usable = np.isfinite(looked_up) & (looked_up > 0)
            complete = undecided & (candidate[self.indicator] < len(self.codes)) & (self.sums(usable) == self.size)
            chosen = self.per_level(complete)
            weights[chosen] = looked_up[chosen]
            names = np.append(np.asarray(self.codes, dtype=object), "")
            weight_code[complete] = names[candidate[self.indicator[complete]]]
            undecided &= ~complete
        return weight_code.astype(str), weights

    def weight_values(self, weight_of_level: np.ndarray) -> np.ndarray:
        """Per placed value, the value of the given weight indicator for the same region and year (NaN if none)."""
        rows = self.row
        weight_rows = np.flatnonzero((self.code >= 0) & (self.region >= 0))
        weight_keys = (self.code[weight_rows].astype("int64") * self.region_count + self.region[weight_rows]) * (
            self.year_span
        ) + self.year_offset[weight_rows]
        wanted = (weight_of_level.astype("int64") * self.region_count + self.region[rows]) * self.year_span + (
            self.year_offset[rows]
        )
        # Like a dict built from the rows, the last row of a repeated (code, region, year) wins.
        last = ~pd.Index(weight_keys).duplicated(keep="last")
        found = pd.Index(weight_keys[last]).get_indexer(wanted)
        looked_up = np.where(found >= 0, self.values[weight_rows[last]][np.maximum(found, 0)], np.nan)
        return np.where(weight_of_level < len(self.codes), looked_up, np.nan)

    def measures(self, weights: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each measure as (groups where its preconditions hold, value per group), in the published order."""
        levels, size, ordered = self.levels, self.size, self.sorted_levels
        first = np.cumsum(size) - size
        mean = self.sums(levels) / size
        lowest, highest = ordered[first], ordered[first + size - 1]
        positive_mean, positive = mean > 0, lowest > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.sqrt(self.sums((levels - self.per_level(mean)) ** 2) / size) / mean
            weight_totals = self.sums(weights)
            shares = weights / self.per_level(weight_totals)
            weighted_mean = self.sums(shares * levels)
            weighted_cv = np.sqrt(self.sums(shares * (levels - self.per_level(weighted_mean)) ** 2)) / weighted_mean
            # Gini by ranks within the sorted group: Σ(2i − n − 1)·x₍ᵢ₎ / (n² μ) equals Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² μ).
            group_of_sorted = np.repeat(np.arange(self.count), size)
            rank = np.arange(len(ordered)) - first[group_of_sorted] + 1
            weighted_ranks = (2 * rank - size[group_of_sorted] - 1) * ordered
            gini = np.bincount(group_of_sorted, weights=weighted_ranks, minlength=self.count) / (size**2.0 * mean)
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


def positions_in(column: pd.Series, labels: list[str]) -> np.ndarray:
    """Position of each entry of a text column in `labels`, −1 where absent (Arrow's hash lookup, not Python's)."""
    array = pa.array(column.astype("str"), from_pandas=True)
    found = pc.index_in(array, value_set=pa.array(labels, type=array.type))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype("int64")


def dense_groups(key: np.ndarray, key_space: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys in ascending order and each key's position among them (by counting when the space is small)."""
    if key_space <= max(4 * len(key), DENSE_KEY_SPACE):
        present = np.flatnonzero(np.bincount(key, minlength=key_space))
        position = np.full(key_space, -1)
        position[present] = np.arange(len(present))
        return present, position[key]
    group, distinct = pd.factorize(key, sort=True)
    return np.asarray(distinct, dtype="int64"), group


def sorted_within_groups(group: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The levels ordered by group, then by value: one sort of packed (group, rank of value) integers."""
    ranks, distinct = pd.factorize(levels, sort=True)
    rank_bits = max(int(len(distinct)).bit_length(), 1)
    if len(levels) == 0 or (max(int(group.max()), 1).bit_length() + rank_bits) > 62:
        return levels[np.lexsort((levels, group))]
    packed = np.sort((group.astype("int64") << rank_bits) | ranks)
    return np.asarray(distinct, dtype="float64")[packed & ((1 << rank_bits) - 1)]


def expand_to_sets(
    rows: np.ndarray, region_of_row: np.ndarray, region_of_unit: np.ndarray, set_of_unit: np.ndarray, region_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, unit set) pair where the row's region is a unit of the set: a vectorised many-to-many join."""
    order = np.argsort(region_of_unit, kind="stable")
    sets_by_region = set_of_unit[order]
    per_region = np.bincount(region_of_unit, minlength=region_count)
    first = np.cumsum(per_region) - per_region
    repeats = per_region[region_of_row]
    placed_rows = np.repeat(rows, repeats)
    offsets = np.arange(len(placed_rows)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    placed_sets = sets_by_region[np.repeat(first[region_of_row], repeats) + offsets]
    return placed_rows, placed_sets


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
