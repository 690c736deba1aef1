"""One pandera model per table, with the rules that tie tables to the region and indicator catalogues."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.core.arrays import distinct_positions
from pipeline.core.frames import packed_keys, per_code, repeated_rows
from pipeline.validate.grades import PUBLISHER_KINDS, RELIABILITY_GRADES

MAX_LISTED_MISSING = 10
REGION_LEVELS = ["country", "province", "prefecture_city", "district", "county", "county_city", "town", "village"]
DISTRICT_GROUPS = ["old_city_new_vitality", "industry_city_integration", "urban_rural_integration"]
METHODS = ["derived", "published"]
PUBLISHER_KIND_CODES = sorted(PUBLISHER_KINDS)
RELIABILITY_CODES = sorted(RELIABILITY_GRADES)
# Derivation kind → number of inputs it takes (see the header of pipeline/metadata/indicators.yaml).
DERIVATION_INPUTS = {
    "ratio": 2,
    "difference": 2,
    "growth_difference": 2,
    "growth": 1,
    "index_change": 1,
    "share_of_parent": 1,
    "urban_rural_theil": 2,
}
AGGREGATIONS = ["", "sum", "weighted_mean"]
STATUS_PATTERN = r"^[a-z:]*$"
# In sort order (validate.ordered_observations sorts by it), so repeats of a key are neighbours.
OBSERVATION_KEY = ["indicator_code", "region_code", "year", "source_id"]
# For checks chunk by chunk (pipeline/validate/chunks.py): the dataframe checks that decide each row on that row's
# values alone, and those that decide it on the rows sharing its key (run on the repeated keys of the whole table).
ROW_CHECKS = {
    "missing_value_has_status",
    "value_in_plausible_range",
    "unit_matches_catalog",
    "derived_entry_is_complete",
    "group_code_starts_with_parent",
    "window_moves_forward",
    "counts_add_up",
}
KEYED_CHECKS = {"unique_per_region_year_indicator_source": OBSERVATION_KEY}


class RegionSchema(pa.DataFrameModel):
    """The region dimension: GB/T 2260 codes (`CN` for China) and NBS division codes."""

    region_code: Series[str] = pa.Field(
        unique=True, str_matches=r"^(CN|\d{6}|\d{9}|\d{12})$", description="GB/T 2260 code, or CN"
    )
    name_zh: Series[str] = pa.Field(str_length={"min_value": 1}, description="official Chinese name")
    name_en: Series[str] = pa.Field(str_length={"min_value": 1}, description="English name (pinyin)")
    level: Series[str] = pa.Field(isin=REGION_LEVELS, description="administrative level")
    parent_code: Series[str] = pa.Field(nullable=True, description="code of the parent region")
    district_group: Series[str] = pa.Field(
        nullable=True, isin=DISTRICT_GROUPS, description="一区一策 group of a Guangzhou district"
    )
    typical_county: Series[bool] = pa.Field(description="in the province's first list of typical counties")
    paired_city: Series[bool] = pa.Field(description="paired with Guangzhou for cooperation")

    class Config:
        strict = True
        coerce = True


class IndicatorCatalogSchema(pa.DataFrameModel):
    """The indicator catalogue: what each code means and its plausible range."""

    indicator_code: Series[str] = pa.Field(
        unique=True, str_matches=r"^[a-z][a-z0-9_]*$", description="snake_case indicator code"
    )
    name_zh: Series[str] = pa.Field(str_length={"min_value": 1}, description="Chinese name")
    name_en: Series[str] = pa.Field(str_length={"min_value": 1}, description="English name")
    unit: Series[str] = pa.Field(description="canonical unit")
    kind: Series[str] = pa.Field(isin=["observed", "derived"], description="observed in a source, or derived here")
    derivation: Series[str] = pa.Field(
        isin=["", *DERIVATION_INPUTS], description="how a derived indicator is computed from its inputs"
    )
    definition: Series[str] = pa.Field(str_length={"min_value": 1}, description="what the indicator measures")
    formula: Series[str] = pa.Field(description="formula in words (derived indicators)")
    inputs: Series[str] = pa.Field(description="input indicator codes, ';'-separated")
    direction: Series[str] = pa.Field(isin=["", "decreasing", "increasing"], description="which way means convergence")
    valid_min: Series[float] = pa.Field(nullable=True, description="plausible minimum (inclusive)")
    valid_max: Series[float] = pa.Field(nullable=True, description="plausible maximum (inclusive)")
    caveats: Series[str] = pa.Field(description="caveats for users")
    multiplier: Series[float] = pa.Field(gt=0, description="scale applied to a derived ratio (100 for a percentage)")
    aggregation: Series[str] = pa.Field(
        isin=AGGREGATIONS, description="group aggregate rule: sum (extensive), weighted_mean (rates), '' none"
    )
    weights: Series[str] = pa.Field(
        description="population indicator codes used as weights, ';'-separated, first available for all units wins"
    )
    dispersion: Series[bool] = pa.Field(description="dispersion and β-convergence are computed across units")
    paired_ratio: Series[bool] = pa.Field(description="Guangzhou ÷ paired city ratios are computed")
    bounded: Series[bool] = pa.Field(
        description="a share bounded by 0 and 100 %: dispersion trends and β on the logit scale, units at a bound left out"
    )
    complement_of: Series[str] = pa.Field(
        description="the share this one is 100 % minus (its convergence is that share's, not published twice)"
    )

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(name="derived_entry_is_complete", error="a derived entry needs a known derivation and formula")
    def derived_entry_is_complete(cls, frame: pd.DataFrame) -> Series[bool]:
        """A derived indicator names its derivation and states its formula; an observed one has no derivation."""
        derived = frame["kind"] == "derived"
        complete = (frame["derivation"] != "") & (frame["formula"].str.len() > 0)
        return (derived & complete) | (~derived & (frame["derivation"] == ""))

    @pa.dataframe_check(
        name="inputs_match_derivation",
        error="inputs must be catalogue codes, as many as the derivation takes (ratio/difference 2, growth 1, …)",
    )
    def inputs_match_derivation(cls, frame: pd.DataFrame) -> Series[bool]:
        """Each derived entry lists as many inputs as its derivation takes, all of them codes in the catalogue."""
        known = set(frame["indicator_code"])
        inputs = frame["inputs"].map(lambda text: [code for code in text.split(";") if code])
        expected = frame["derivation"].map(lambda derivation: DERIVATION_INPUTS.get(derivation, 0))
        return pd.Series(
            [len(codes) == count and set(codes) <= known for codes, count in zip(inputs, expected, strict=True)],
            index=frame.index,
        )

    @pa.dataframe_check(
        name="weights_are_known_codes",
        error="weights must be catalogue codes, and a weighted_mean aggregation needs at least one",
    )
    def weights_are_known_codes(cls, frame: pd.DataFrame) -> Series[bool]:
        """Weight codes exist in the catalogue, and weighted means have weights."""
        known = set(frame["indicator_code"])
        weights = frame["weights"].map(lambda text: [code for code in text.split(";") if code])
        return pd.Series(
            [
                set(codes) <= known and (aggregation != "weighted_mean" or bool(codes))
                for codes, aggregation in zip(weights, frame["aggregation"], strict=True)
            ],
            index=frame.index,
        )


class SourceSchema(pa.DataFrameModel):
    """One row per raw table: its provenance as declared in the sidecar."""

    source_id: Series[str] = pa.Field(unique=True, description="the table's identifier (file stem)")
    title: Series[str] = pa.Field(description="title as published")
    publication: Series[str] = pa.Field(description="publication the table appears in")
    publisher: Series[str] = pa.Field(description="publishing body")
    table_number: Series[str] = pa.Field(description="table number or kind of text")
    edition: Series[str] = pa.Field(description="edition or release date")
    url: Series[str] = pa.Field(nullable=True, description="where the figures were read")
    url_note: Series[str] = pa.Field(nullable=True, description="why there is no URL, where none")
    url_kind: Series[str] = pa.Field(description="official, mirror, news, compilation or self_media")
    authority: Series[str] = pa.Field(description="how authoritative the source is")
    accessed: Series[str] = pa.Field(description="date the figures were read")
    licence: Series[str] = pa.Field(description="terms of reproduction")
    file: Series[str] = pa.Field(description="raw data file, relative to raw/")
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$", description="sha256 of the raw data file")
    caveats: Series[str] = pa.Field(description="caveats, one per line")

    class Config:
        strict = True
        coerce = True


class StagedObservationSchema(pa.DataFrameModel):
    """Tidy observations read from raw tables, with their lineage (file, row, column)."""

    source_id: Series[str] = pa.Field(description="raw table the figure comes from")
    source_file: Series[str] = pa.Field(description="raw data file, relative to raw/")
    source_row: Series[int] = pa.Field(ge=1, description="line in the raw file (header = 1)")
    source_column: Series[str] = pa.Field(description="column of the raw file holding the figure")
    printed_label: Series[str] = pa.Field(description="row label as printed")
    region_code: Series[str] = pa.Field(description="region code")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    indicator_code: Series[str] = pa.Field(description="indicator code")
    value: Series[float] = pa.Field(nullable=True, description="value in the canonical unit; null when missing")
    unit: Series[str] = pa.Field(description="canonical unit")
    status: Series[str] = pa.Field(
        str_matches=STATUS_PATTERN,
        description="observation status flags (b break, e estimated, p provisional, u low reliability; ':' not available, 'c' confidential)",
    )
    rounding_radius: Series[float] = pa.Field(
        nullable=True, ge=0, description="half of the last printed digit, in the canonical unit"
    )

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(name="missing_value_has_status")
    def missing_value_has_status(cls, frame: pd.DataFrame) -> Series[bool]:
        """A null value must carry a status that says why it is missing."""
        return frame["value"].notna() | frame["status"].str.contains(r"[:cz]", regex=True)


class ObservationSchema(StagedObservationSchema):
    """Validated observations: unique per region, year, indicator and source, in plausible ranges."""

    publisher_kind: Series[str] = pa.Field(
        isin=PUBLISHER_KIND_CODES,
        description="who said it: statistics_office, government_department, news_report, self_media or compilation",
    )
    reliability: Series[str] = pa.Field(
        isin=RELIABILITY_CODES,
        description="grade by rule: official, official_copy, compilation, corroborated or unofficial (flag u)",
    )
    corroborated_by: Series[str] = pa.Field(
        description="independent sources printing the same figure within rounding, ';'-separated ('' if none)"
    )

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(name="unique_per_region_year_indicator_source")
    def unique_per_region_year_indicator_source(cls, frame: pd.DataFrame) -> Series[bool]:
        """One figure per region, year, indicator and source: every copy of a repeated key fails."""
        return pd.Series(~repeated_rows(frame, OBSERVATION_KEY), index=frame.index)


class IndicatorSchema(pa.DataFrameModel):
    """Indicator values: derived here from observations, or carried from a publication."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    region_code: Series[str] = pa.Field(description="region code (see regions)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    value: Series[float] = pa.Field(description="indicator value")
    unit: Series[str] = pa.Field(description="unit")
    method: Series[str] = pa.Field(isin=METHODS, description="derived here, or published by the source")
    status: Series[str] = pa.Field(str_matches=STATUS_PATTERN, description="status flags carried from the inputs")
    source_ids: Series[str] = pa.Field(description="the raw tables the value rests on, ';'-separated")

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "region_code", "year", "method"]


def observation_schema(region_codes: list[str], catalog: pd.DataFrame) -> pa.DataFrameSchema:
    """The observation schema with the checks that depend on metadata: known codes, units and plausible ranges."""
    schema = ObservationSchema.to_schema()
    schema = schema.update_columns(
        {
            "region_code": {"checks": [pa.Check.isin(region_codes, name="known_region_code")]},
            "indicator_code": {"checks": [pa.Check.isin(list(catalog["indicator_code"]), name="known_indicator_code")]},
        }
    )
    bounds = catalog.set_index("indicator_code")
    checks = [
        pa.Check(
            lambda frame: plausible(frame, bounds),
            name="value_in_plausible_range",
        ),
        pa.Check(
            lambda frame: unit_matches(frame, bounds),
            name="unit_matches_catalog",
        ),
    ]
    return with_checks(schema, checks)


def indicator_schema(region_codes: list[str], catalog: pd.DataFrame) -> pa.DataFrameSchema:
    """The indicator schema with known codes and plausible ranges from the catalogue."""
    schema = IndicatorSchema.to_schema().update_columns(
        {
            "region_code": {"checks": [pa.Check.isin(region_codes, name="known_region_code")]},
            "indicator_code": {"checks": [pa.Check.isin(list(catalog["indicator_code"]), name="known_indicator_code")]},
        }
    )
    bounds = catalog.set_index("indicator_code")
    return with_checks(
        schema,
        [
            pa.Check(
                lambda frame: plausible(frame, bounds),
                name="value_in_plausible_range",
            )
        ],
    )


def with_checks(schema: pa.DataFrameSchema, checks: list[pa.Check]) -> pa.DataFrameSchema:
    """A copy of a schema with more dataframe-level checks (shallow: columns and their checks are shared)."""
    extended = copy.copy(schema)  # a deep copy would copy the 30,000-code isin lists of a village-scale schema
    extended.checks = [*schema.checks, *checks]
    return extended


def plausible(frame: pd.DataFrame, bounds: pd.DataFrame) -> pd.Series:
    """True where the value is missing or within its indicator's plausible range."""
    low = pd.Series(per_code(frame["indicator_code"], bounds["valid_min"]), index=frame.index, dtype="float64")
    high = pd.Series(per_code(frame["indicator_code"], bounds["valid_max"]), index=frame.index, dtype="float64")
    value = frame["value"]
    return value.isna() | ((low.isna() | (value >= low)) & (high.isna() | (value <= high)))


def unit_matches(frame: pd.DataFrame, bounds: pd.DataFrame) -> pd.Series:
    """True where the unit is the catalogue's unit for the indicator (unknown indicators are left to isin).

    Decided once per distinct (indicator, unit) pair, then spread to the rows.
    """
    pairs = packed_keys(frame, ["indicator_code", "unit"])
    if pairs is None:
        positions = np.arange(len(frame))
        distinct = frame[["indicator_code", "unit"]]
    else:
        positions, first_rows = distinct_positions(pairs)
        distinct = frame[["indicator_code", "unit"]].iloc[first_rows]
    expected = per_code(distinct["indicator_code"], bounds["unit"])
    units = distinct["unit"].to_numpy(dtype=object)
    matches = np.array(
        [known is None or known == unit for known, unit in zip(expected, units, strict=True)], dtype=bool
    )
    return pd.Series(matches[positions], index=frame.index)


# --- convergence tables: group aggregates, paired-city ratios, dispersion, β-convergence, target progress ---

DISPERSION_MEASURES = [
    "cv",
    "weighted_cv",
    "theil",
    "gini",
    "max_min_ratio",
    "weighted_gini",
    "weighted_theil",
    "logit_sd",
]
MINIMUM_UNITS = 5
UNIT_LEVELS = ["prefecture_city", "county_level", "county", "town", "village"]
AGGREGATE_RULES = ["sum", "weighted_mean"]
TARGET_KINDS = ["programme_target", "reported_benchmark"]
TARGET_DIRECTIONS = ["at_most", "at_least"]
TARGET_STATUSES = ["met", "not_yet_met", "missed", "no_data"]


class GroupAggregateSchema(pa.DataFrameModel):
    """Indicator values of region groups (一区一策 district groups, typical counties), from complete member sets."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    group_code: Series[str] = pa.Field(
        str_matches=r"^(CN|\d{6}):[a-z][a-z_]*$", description="group code `<parent region code>:<group>`"
    )
    parent_region_code: Series[str] = pa.Field(description="region the group belongs to (see regions)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    value: Series[float] = pa.Field(description="aggregate value")
    unit: Series[str] = pa.Field(description="unit")
    rule: Series[str] = pa.Field(isin=AGGREGATE_RULES, description="sum of members, or population-weighted mean")
    weight_indicator_code: Series[str] = pa.Field(description="population indicator used as weight ('' for sums)")
    n_members: Series[int] = pa.Field(ge=1, description="number of member regions (all have values)")
    member_codes: Series[str] = pa.Field(description="member region codes, ';'-separated")
    status: Series[str] = pa.Field(str_matches=STATUS_PATTERN, description="status flags carried from the members")
    source_ids: Series[str] = pa.Field(description="the raw tables the value rests on, ';'-separated")

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "group_code", "year"]

    @pa.dataframe_check(name="group_code_starts_with_parent", error="group_code must start with parent_region_code")
    def group_code_starts_with_parent(cls, frame: pd.DataFrame) -> Series[bool]:
        """The group code is scoped by its parent region."""
        return pd.Series(
            [
                code.startswith(f"{parent}:")
                for code, parent in zip(frame["group_code"], frame["parent_region_code"], strict=True)
            ],
            index=frame.index,
        )


class PairedCityRatioSchema(pa.DataFrameModel):
    """Guangzhou ÷ each paired city, per indicator and year."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    reference_region_code: Series[str] = pa.Field(description="the numerator region (Guangzhou, 440100)")
    region_code: Series[str] = pa.Field(description="the paired city (denominator)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    reference_value: Series[float] = pa.Field(gt=0, description="the reference region's value")
    region_value: Series[float] = pa.Field(gt=0, description="the paired city's value")
    value: Series[float] = pa.Field(gt=0, description="reference_value / region_value")
    status: Series[str] = pa.Field(str_matches=STATUS_PATTERN, description="status flags carried from both values")
    source_ids: Series[str] = pa.Field(description="the raw tables the values rest on, ';'-separated")

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "reference_region_code", "region_code", "year"]


class DispersionSchema(pa.DataFrameModel):
    """Dispersion of an indicator across the units under a parent region in one year (at least 5 units)."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    parent_region_code: Series[str] = pa.Field(description="the region whose units are compared (see regions)")
    unit_level: Series[str] = pa.Field(
        isin=UNIT_LEVELS,
        description="the units compared: prefecture_city, county_level (districts, counties, county-level cities), county (counties and county-level cities only), …",
    )
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    measure: Series[str] = pa.Field(
        isin=DISPERSION_MEASURES,
        description="cv (std ddof=0 / mean), weighted_cv (population weights), theil, gini, max_min_ratio, "
        "weighted_gini and weighted_theil (population weights), logit_sd (bounded shares: std of ln(p / (100 − p)))",
    )
    value: Series[float] = pa.Field(ge=0, description="value of the measure")
    n_units: Series[int] = pa.Field(ge=MINIMUM_UNITS, description="number of units with a value (at least 5)")
    weight_indicator_code: Series[str] = pa.Field(
        description="population indicator used as weight (weighted_cv, weighted_gini, weighted_theil)"
    )
    n_units_at_bound: Series[int] = pa.Field(
        ge=0, description="logit_sd: units left out at 0 or 100 % (0 for the other measures)"
    )

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "parent_region_code", "unit_level", "year", "measure"]


class ConvergenceSchema(pa.DataFrameModel):
    """β-convergence: OLS slope of annualised log growth on the log initial level across units."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    parent_region_code: Series[str] = pa.Field(description="the region whose units are compared (see regions)")
    unit_level: Series[str] = pa.Field(isin=UNIT_LEVELS, description="the units compared (as in dispersion)")
    start_year: Series[int] = pa.Field(ge=1949, description="first year of the window")
    end_year: Series[int] = pa.Field(ge=1949, description="last year of the window")
    beta: Series[float] = pa.Field(description="slope; negative means units with lower initial levels grew faster")
    intercept: Series[float] = pa.Field(description="intercept of the regression")
    r_squared: Series[float] = pa.Field(nullable=True, ge=0, le=1, description="share of growth variance explained")
    n_units: Series[int] = pa.Field(ge=MINIMUM_UNITS, description="units with values at both ends and no break between")
    window_kind: Series[str] = pa.Field(
        isin=["longest", "rolling_5_year", "longest;rolling_5_year"],
        description="longest window with at least 5 units, and/or a rolling 5-year window",
    )
    scale: Series[str] = pa.Field(
        isin=["log", "logit"],
        description="log: ln of the level; logit: ln(p / (100 − p)) of a bounded share (catalogue bounded)",
    )
    standard_error: Series[float] = pa.Field(
        nullable=True, ge=0, description="standard error of beta (OLS, statsmodels)"
    )
    t_value: Series[float] = pa.Field(nullable=True, description="beta / standard_error")
    p_value: Series[float] = pa.Field(
        nullable=True, ge=0, le=1, description="two-sided p-value of beta = 0 (t, n − 2 df)"
    )
    ci_low: Series[float] = pa.Field(nullable=True, description="lower end of the 95 % confidence interval of beta")
    ci_high: Series[float] = pa.Field(nullable=True, description="upper end of the 95 % confidence interval of beta")
    significant_at_5pct: Series[bool] = pa.Field(
        description="p_value < 0.05; false means beta is not distinguishable from 0"
    )
    speed: Series[float] = pa.Field(
        nullable=True, description="speed of convergence λ = −ln(1 + T·beta) / T per year, T = end − start years"
    )
    half_life_years: Series[float] = pa.Field(
        nullable=True, ge=0, description="years to close half the gap, ln 2 / λ (only where λ > 0)"
    )
    n_units_at_bound: Series[int] = pa.Field(
        ge=0, description="units left out because a bounded share is at 0 or 100 % at an end of the window"
    )

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "parent_region_code", "unit_level", "start_year", "end_year"]

    @pa.dataframe_check(name="window_moves_forward", error="end_year must be after start_year")
    def window_moves_forward(cls, frame: pd.DataFrame) -> Series[bool]:
        """A growth window spans at least one year."""
        return frame["end_year"] > frame["start_year"]


class UrbanRuralTheilSchema(pa.DataFrameModel):
    """The urban–rural income Theil index (城乡泰尔指数) of a region and year, with its inputs and population basis."""

    indicator_code: Series[str] = pa.Field(
        isin=["urban_rural_income_theil"], description="urban_rural_income_theil (see indicator_catalog)"
    )
    region_code: Series[str] = pa.Field(description="region (see regions)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    value: Series[float] = pa.Field(
        ge=0, description="T = Σ_j (I_j/I)·ln((I_j/I)/(P_j/P)), j = urban, rural; I_j = per-capita income × P_j"
    )
    urban_income_per_capita: Series[float] = pa.Field(gt=0, description="urban per-capita disposable income, yuan")
    rural_income_per_capita: Series[float] = pa.Field(gt=0, description="rural per-capita disposable income, yuan")
    urban_population_share: Series[float] = pa.Field(gt=0, lt=1, description="P_urban / P")
    urban_income_share: Series[float] = pa.Field(gt=0, lt=1, description="I_urban / I")
    population_basis: Series[str] = pa.Field(
        isin=["year_end_resident", "census"],
        description="year_end_resident: year-end resident urban/rural population; census: census urban/rural counts",
    )
    population_indicator_codes: Series[str] = pa.Field(description="the population indicators used, ';'-separated")
    status: Series[str] = pa.Field(str_matches=STATUS_PATTERN, description="status flags of the inputs, merged")
    source_ids: Series[str] = pa.Field(description="raw tables of the inputs, ';'-separated")

    class Config:
        strict = True
        coerce = True
        unique = ["region_code", "year"]


class SigmaConvergenceSchema(pa.DataFrameModel):
    """σ-convergence: the OLS slope of a dispersion measure (or of a region's urban–rural Theil) on the year."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    parent_region_code: Series[str] = pa.Field(
        description="the region whose units (or urban and rural parts) are compared"
    )
    unit_level: Series[str] = pa.Field(
        isin=[*UNIT_LEVELS, "urban_rural"],
        description="the units compared (as in dispersion); urban_rural: the two groups",
    )
    measure: Series[str] = pa.Field(
        isin=[*DISPERSION_MEASURES, "urban_rural_theil"], description="the dispersion measure whose trend is tested"
    )
    start_year: Series[int] = pa.Field(ge=1949, description="first year of the tested run")
    end_year: Series[int] = pa.Field(ge=1949, description="last year of the tested run")
    n_years: Series[int] = pa.Field(ge=3, description="years in the tested run (at least 3)")
    n_units: Series[int] = pa.Field(
        ge=2, description="units in every year of the run: the longest run of years with the same number of units"
    )
    series_start_year: Series[int] = pa.Field(ge=1949, description="first year of the whole series")
    series_end_year: Series[int] = pa.Field(ge=1949, description="last year of the whole series")
    slope: Series[float] = pa.Field(description="change of the measure per year; negative = σ-convergence")
    standard_error: Series[float] = pa.Field(nullable=True, ge=0, description="standard error of the slope")
    t_value: Series[float] = pa.Field(nullable=True, description="slope / standard_error")
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1, description="two-sided p-value of slope = 0")
    ci_low: Series[float] = pa.Field(nullable=True, description="lower end of the 95 % confidence interval")
    ci_high: Series[float] = pa.Field(nullable=True, description="upper end of the 95 % confidence interval")
    significant_at_5pct: Series[bool] = pa.Field(description="p_value < 0.05")
    reading: Series[str] = pa.Field(
        isin=["falling", "rising", "no significant trend"], description="falling (converging) or rising, if significant"
    )

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "parent_region_code", "unit_level", "measure"]


class TheilDecompositionSchema(pa.DataFrameModel):
    """Theil index split into between-group and within-group parts (一区一策 groups; Guangdong's four regions)."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    parent_region_code: Series[str] = pa.Field(description="the region whose units are compared (see regions)")
    grouping: Series[str] = pa.Field(
        isin=["district_group", "guangdong_region"],
        description="district_group: Guangzhou's 一区一策 groups; guangdong_region: 珠三角, 粤东, 粤西, 粤北",
    )
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    weighting: Series[str] = pa.Field(isin=["unweighted", "population"], description="unit or population shares")
    weight_indicator_code: Series[str] = pa.Field(description="population indicator used as weight (population only)")
    total: Series[float] = pa.Field(ge=0, description="Theil T of all units")
    between: Series[float] = pa.Field(ge=0, description="between-group part Σ_g s_g ln(s_g / p_g)")
    within: Series[float] = pa.Field(ge=-1e-12, description="within-group part Σ_g s_g T_g = total − between")
    between_share: Series[float] = pa.Field(nullable=True, ge=0, le=1.0000001, description="between / total")
    n_units: Series[int] = pa.Field(ge=MINIMUM_UNITS, description="units with a positive value")
    n_groups: Series[int] = pa.Field(ge=2, description="groups (every group of the grouping has a unit)")
    n_members_missing: Series[int] = pa.Field(ge=0, description="group members without a value, left out")

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "parent_region_code", "grouping", "year", "weighting"]


# The steps of the preferred-value choice rule (pipeline/indicators/choices.py), in the order they are tried.
CHOICE_RULES = [
    "single_source",
    "derived",
    "derived_over_published",
    "authority",
    "newest_access",
    "finest_rounding",
    "source_id",
]


class PreferredValueSchema(pa.DataFrameModel):
    """One value per indicator, region and year, with who said it and the rule that chose it (pipeline/indicators/choices.py)."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    region_code: Series[str] = pa.Field(description="region code (see regions)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    value: Series[float] = pa.Field(description="the preferred value, from which every computed table is built")
    unit: Series[str] = pa.Field(description="unit")
    method: Series[str] = pa.Field(isin=METHODS, description="derived here, or published by the chosen source")
    status: Series[str] = pa.Field(str_matches=STATUS_PATTERN, description="status flags of the value")
    source_ids: Series[str] = pa.Field(
        description="the chosen source (published) or the raw tables the derived value rests on, ';'-separated"
    )
    publisher_kind: Series[str] = pa.Field(
        description="publisher kind of the chosen source (for a derived value: of its inputs, ';'-separated)"
    )
    reliability: Series[str] = pa.Field(
        isin=RELIABILITY_CODES, description="grade by rule (for a derived value: its weakest input's)"
    )
    choice_rule: Series[str] = pa.Field(isin=CHOICE_RULES, description="the step of the choice rule that decided")
    alternatives: Series[int] = pa.Field(ge=0, description="how many other figures of this key were not chosen")
    spread: Series[float] = pa.Field(ge=0, description="highest minus lowest of the chosen and the other figures")

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "region_code", "year"]


class TargetProgressSchema(pa.DataFrameModel):
    """Programme targets and benchmarks with the latest value, the gap and a status."""

    target_code: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z][a-z0-9_]*$", description="target identifier")
    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    region_code: Series[str] = pa.Field(description="region the target applies to (see regions)")
    scope: Series[str] = pa.Field(description="what the target covers, as the source words it")
    kind: Series[str] = pa.Field(isin=TARGET_KINDS, description="programme_target, or reported_benchmark")
    target_value: Series[float] = pa.Field(description="target or benchmark value, in unit")
    unit: Series[str] = pa.Field(description="unit")
    direction: Series[str] = pa.Field(isin=TARGET_DIRECTIONS, description="at_most or at_least the target value")
    reference_year: Series[int] = pa.Field(ge=1949, description="year the source's statement refers to")
    deadline_year: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, description="year by which a target is to be reached"
    )
    latest_year: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="latest year with a value")
    latest_value: Series[float] = pa.Field(nullable=True, description="latest value of the indicator for the region")
    gap: Series[float] = pa.Field(nullable=True, description="latest_value − target_value")
    status: Series[str] = pa.Field(
        isin=TARGET_STATUSES, description="met, not_yet_met, missed (deadline passed) or no_data"
    )
    source_id: Series[str] = pa.Field(description="source of the target (see sources, or the reference text)")
    reference: Series[str] = pa.Field(description="where the statement can be read")
    statement: Series[str] = pa.Field(description="the statement as quoted")
    caveats: Series[str] = pa.Field(description="caveats for users")

    class Config:
        strict = True
        coerce = True


def with_known_codes(
    model: type[pa.DataFrameModel], region_columns: list[str], region_codes: list[str], catalog: pd.DataFrame
) -> pa.DataFrameSchema:
    """A table's schema whose region columns must be in regions.csv and indicator codes in the catalogue."""
    updates = {column: {"checks": [pa.Check.isin(region_codes, name="known_region_code")]} for column in region_columns}
    updates["indicator_code"] = {
        "checks": [pa.Check.isin(list(catalog["indicator_code"]), name="known_indicator_code")]
    }
    return model.to_schema().update_columns(updates)


class CoverageSchema(pa.DataFrameModel):
    """One row per indicator, region level and year: regions with a value out of the regions at that level."""

    indicator_code: Series[str] = pa.Field(description="indicator code (see indicator_catalog)")
    level: Series[str] = pa.Field(isin=REGION_LEVELS, description="region level (see regions)")
    year: Series[int] = pa.Field(ge=1949, description="reference year")
    regions_with_value: Series[int] = pa.Field(ge=0, description="regions of this level with a non-missing value")
    regions_at_level: Series[int] = pa.Field(ge=1, description="regions of this level in the region dimension")
    coverage_share: Series[float] = pa.Field(ge=0, le=1, description="regions_with_value / regions_at_level")
    missing_count: Series[int] = pa.Field(ge=0, description="regions of this level without a value")
    missing_regions: Series[str] = pa.Field(
        description=f"the missing regions as 'name (code)', ';'-separated, at most {MAX_LISTED_MISSING} listed"
    )

    class Config:
        strict = True
        coerce = True
        unique = ["indicator_code", "level", "year"]

    @pa.dataframe_check(name="counts_add_up", error="regions_with_value + missing_count must equal regions_at_level")
    def counts_add_up(cls, frame: pd.DataFrame) -> Series[bool]:
        """Present and missing regions together are all the regions of the level."""
        return frame["regions_with_value"] + frame["missing_count"] == frame["regions_at_level"]
