"""Staging value cells into observations: bulk parsing of plain numbers and cell-by-cell parsing of the rest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.frames import categorical_texts, spread_texts
from pipeline.core.metadata import BREAK_FLAG, BoundaryChange
from pipeline.ingest.cells import CellError, ParsedCell, normalise_label, normalise_text, parse_cell
from pipeline.ingest.reader.locate import cell_name
from pipeline.ingest.reader.model import FIRST_YEAR, STAGED_COLUMNS, TEXT_COLUMNS
from pipeline.ingest.reader.regions import printed_region_code, region_key, region_keys_of
from pipeline.ingest.reader.rules import (
    apply_status_rules,
    duplicate_problems,
    series_break_year_problems,
    value_problem,
)
from pipeline.ingest.sidecar import Sidecar

# Cells the bulk path parses without Python, in one vectorised pass: plain ASCII decimals, no sign but '-', no
# grouping, no exponent, at most 15 digits each side (so Arrow's and Python's float parsing agree and stay finite).
# Every other cell (placeholders, footnotes, full-width digits, %, 12,345) goes through parse_cell once per text.
PLAIN_NUMBER_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"


@dataclass(frozen=True)
class StagingRules:
    """What the sidecar and the metadata say about staging one table, built once for both staging paths."""

    sidecar: Sidecar
    file_name: str
    units: dict[str, tuple[str, float]]  # printed unit → (canonical unit, multiplier)
    today: dt.date
    declared_unit: str
    bounds: dict[str, str]  # indicator code → its catalogue unit
    labels: dict[str, str]  # normalised printed label → indicator code
    skip_labels: set[str]
    skip_regions: set[str]
    regions: dict[str, str]  # region key → region code
    former: dict[str, BoundaryChange]  # key of a former region name → its boundary change
    merged_into: dict[str, BoundaryChange]  # region code → the merger it absorbed (unless the table restates)
    blank_cells_not_transcribed: bool
    label_units: dict[str, str]  # normalised printed label → its printed unit, where not the sidecar's unit
    unit_column_number: int | None = None  # the unit column's number (1 = A), when the table has one

    @classmethod
    def of(
        cls,
        sidecar: Sidecar,
        file_name: str,
        region_lookup: dict[str, str],
        units: dict[str, tuple[str, float]],
        today: dt.date,
        catalog: pd.DataFrame,
        changes: list[BoundaryChange],
    ) -> StagingRules:
        """The rules of one table from its sidecar, the region lookup, the units, the catalogue and boundary changes."""
        fields = sidecar.fields
        restated = fields.get("boundaries") == "restated"
        return cls(
            sidecar=sidecar,
            file_name=file_name,
            units=units,
            today=today,
            declared_unit=normalise_text(fields["unit"]),
            # Plausible ranges (valid_min/valid_max) are checked once, on all observations, by observations_schema.
            bounds=dict(zip(catalog["indicator_code"], catalog["unit"], strict=True)),
            labels={normalise_label(label): code for label, code in sidecar.labels.items()},
            skip_labels={normalise_label(label) for label in fields.get("skip_labels") or []},
            skip_regions={region_key(region) for region in fields.get("skip_regions") or []},
            regions=region_keys_of(tuple(region_lookup.items())),
            former={region_key(change.old_name): change for change in changes},
            merged_into={
                change.new_code: change for change in changes if change.change == "merged_into" and not restated
            },
            blank_cells_not_transcribed=fields.get("blank_cells") == "not_transcribed",
            label_units={
                normalise_label(label): normalise_text(unit)
                for label, unit in (fields.get("label_units") or {}).items()
            },
        )


def stage_cells(cells: pd.DataFrame, rules: StagingRules) -> pd.DataFrame:
    """Map labels, regions and units to codes, parse values and apply status rules; collect every problem."""
    sidecar, file_name = rules.sidecar, rules.file_name
    cells, unit_problems = cells_with_declared_units(cells, rules)
    if unit_problems:
        raise InputError(unit_problems)
    staged = cell_records_in_bulk(cells, rules)
    problems: list[InputProblem] = []
    if staged is None:
        staged, problems = cell_records_one_by_one(cells, rules)
    problems.extend(duplicate_problems(staged, file_name))
    if not staged.empty:
        problems.extend(series_break_year_problems(staged, file_name))
    if staged.empty and not problems:
        problems.append(
            InputProblem(
                file_name,
                "no_figures",
                "no figure was read from the table (every row blank or skipped)",
                expected="at least one figure, or the table removed from raw/",
            )
        )
    if problems:
        raise InputError(problems)
    fields = sidecar.fields
    staged = flag_boundary_breaks(staged, rules.merged_into)
    staged = apply_status_rules(staged, fields.get("status") or [], str(sidecar.path))
    staged = staged[STAGED_COLUMNS]
    staged = staged.astype({"year": "int64", "source_row": "int64", "value": "float64", "rounding_radius": "float64"})
    return categorical_texts(staged, TEXT_COLUMNS)


def flag_boundary_breaks(staged: pd.DataFrame, merged_into: dict[str, BoundaryChange]) -> pd.DataFrame:
    """`b` on the first figure of a region on its new boundary: per indicator, the first year at or after the merger.

    `b` on year t means a break between t−1 (or the figure before it) and t, as everywhere in the pipeline; the
    figures before the merger are on the old boundary and carry no flag of their own. The first figure after the
    merger is flagged when it is the merger's own year or when the table also prints a figure before the merger
    (the break then lies inside the table); a table that starts later, e.g. one 2018 figure, holds no break.
    """
    if not merged_into or staged.empty:
        return staged
    since = staged["region_code"].astype("str").map({code: change.year for code, change in merged_into.items()})
    printed = since.notna().to_numpy() & staged["value"].notna().to_numpy()
    years = staged["year"].to_numpy()
    change_years = since.fillna(0).to_numpy()
    after = printed & (years >= change_years)
    if not after.any():
        return staged
    keys = ["region_code", "indicator_code"]
    candidates = staged.loc[after, [*keys, "year"]].astype({"year": "int64"})
    first_years = candidates.groupby(keys, observed=True)["year"].transform("min")
    before = staged.loc[printed & (years < change_years), keys].astype("str").drop_duplicates()
    has_figure_before = pd.MultiIndex.from_frame(candidates[keys].astype("str")).isin(pd.MultiIndex.from_frame(before))
    breaks = (candidates["year"] == first_years).to_numpy() & (
        has_figure_before | (candidates["year"].to_numpy() == since[candidates.index].to_numpy())
    )
    first = candidates.index[breaks]
    status = staged["status"].astype("str")
    status.loc[first] = ["".join(sorted(set(text) | {BREAK_FLAG})) for text in status.loc[first]]
    return staged.assign(status=status)


def cell_records_in_bulk(cells: pd.DataFrame, rules: StagingRules) -> pd.DataFrame | None:
    """The staged records computed once per distinct printed text; None when any cell has a problem (the one-by-one path names it)."""
    if cells.empty:
        return None
    sidecar, file_name, units, today = rules.sidecar, rules.file_name, rules.units, rules.today
    declared_unit, bounds, labels = rules.declared_unit, rules.bounds, rules.labels
    skip_labels, skip_regions = rules.skip_labels, rules.skip_regions
    regions, former, merged_into = rules.regions, rules.former, rules.merged_into

    plain = plain_number_mask(cells["raw_value"])
    blank = np.zeros(len(cells), dtype=bool)  # a plain number is never blank
    blank[~plain] = per_distinct(cells["raw_value"][~plain], lambda raw: not str(raw).strip()).astype(bool)
    label_positions, printed_labels = distinct_values(cells["printed_label"])
    region_positions, printed_regions = distinct_values(cells["printed_region"])
    label_keys = [normalise_label(label) for label in printed_labels]
    region_keys = [region_key(region) for region in printed_regions]
    skipped = np.array([key in skip_labels for key in label_keys], dtype=bool)[label_positions]
    skipped |= np.array([key in skip_regions for key in region_keys], dtype=bool)[region_positions]
    no_label = np.array([key == "" for key in label_keys], dtype=bool)[label_positions]
    skipped |= no_label & np.array([key == "" for key in region_keys], dtype=bool)[region_positions] & blank
    if rules.blank_cells_not_transcribed:
        skipped |= blank
    kept = ~skipped
    if not kept.all():
        cells = cells[kept].reset_index(drop=True)
        label_positions, region_positions, plain = label_positions[kept], region_positions[kept], plain[kept]
    if cells.empty:
        return pd.DataFrame(columns=[*STAGED_COLUMNS, "column_number"])

    indicator_of_label = [labels.get(key) for key in label_keys]
    years = cells["year"].to_numpy(dtype="int64", copy=True)
    used_labels = np.flatnonzero(np.bincount(label_positions, minlength=len(label_keys)))
    if any(indicator_of_label[position] is None for position in used_labels):
        return None
    if not ((years >= FIRST_YEAR) & (years <= today.year)).all():
        return None
    # A region is resolved once per printed name.
    used_regions = np.flatnonzero(np.bincount(region_positions, minlength=len(region_keys)))
    resolved = {
        int(position): printed_region_code(region_keys[position], regions, former, merged_into)
        for position in used_regions
    }
    if any(problem for _, problem, _ in resolved.values()):
        return None
    region_codes = [resolved[position][0] if position in resolved else None for position in range(len(region_keys))]

    unit_positions, printed_unit_texts = distinct_values(cells["printed_unit"])
    printed_units = [normalise_text(text) or declared_unit for text in printed_unit_texts]
    if any(unit not in units for unit in printed_units):
        return None
    values = parsed_values(cells["raw_value"], plain)
    if values is None:
        return None
    numbers, decimals, percent, status_positions, status_texts = values
    unit_numbers: dict[str, int] = {}  # canonical unit → a number, to compare units per cell without Python objects

    def unit_number(unit: str | None) -> int:
        """The unit's number (-1 for none)."""
        return -1 if unit is None else unit_numbers.setdefault(unit, len(unit_numbers))

    indicator_units = np.array(
        [unit_number(None if code is None else bounds.get(code)) for code in indicator_of_label], dtype="int64"
    )
    indicator_units = indicator_units[label_positions]
    canonical_units = [*(units[unit][0] for unit in printed_units)]
    multipliers = [*(units[unit][1] for unit in printed_units)]
    canonical_positions = unit_positions.astype("int64")
    if "%" in units:
        # A printed % sign is the cell's unit, in a percent indicator: position len(printed_units) stands for '%'.
        canonical_units.append(units["%"][0])
        multipliers.append(units["%"][1])
        canonical_positions = np.where(
            percent & (indicator_units == unit_number(units["%"][0])), len(printed_units), canonical_positions
        )
    canonical = np.array([unit_number(unit) for unit in canonical_units], dtype="int64")[canonical_positions]
    multiplier = np.array(multipliers, dtype="float64")[canonical_positions]
    if ((percent & (canonical != unit_number("percent"))) | (canonical != indicator_units)).any():
        return None

    fewest = int(decimals.min())
    radius_by_decimals = np.array(
        [0.5 * 10 ** (-places) for places in range(fewest, int(decimals.max()) + 1)], dtype="float64"
    )
    half_digits = radius_by_decimals[decimals - fewest]
    # Status: the cell's own (placeholders); the boundary-break flag is set afterwards (flag_boundary_breaks).
    count = len(cells)
    return pd.DataFrame(
        {
            "source_id": spread_texts([sidecar.source_id], np.zeros(count, dtype="int64")),
            "source_file": spread_texts([file_name], np.zeros(count, dtype="int64")),
            "source_row": cells["source_row"].to_numpy(copy=True),
            "source_column": cells["source_column"].array.copy(),
            "printed_label": spread_texts([normalise_text(label) for label in printed_labels], label_positions),
            "region_code": spread_texts(region_codes, region_positions),
            "year": years,
            "indicator_code": spread_texts(indicator_of_label, label_positions),
            "value": numbers * multiplier,
            "unit": spread_texts(canonical_units, canonical_positions),
            "status": spread_texts(status_texts, status_positions),
            "rounding_radius": np.where(np.isnan(numbers), np.nan, half_digits * multiplier),
            "column_number": cells["column_number"].to_numpy(copy=True),
        },
        copy=False,  # every column is a fresh array of its own: no second copy into consolidated blocks
    )


def cells_with_declared_units(cells: pd.DataFrame, rules: StagingRules) -> tuple[pd.DataFrame, list[InputProblem]]:
    """Each row's printed unit must be the one the sidecar declares for its label (`label_units`, else `unit`); a
    blank unit cell takes the declared unit. Problems name the row and the unit cell."""
    if cells.empty:
        return cells, []
    label_positions, printed_labels = distinct_values(cells["printed_label"])
    unit_positions, printed_units = distinct_values(cells["printed_unit"])
    label_keys = [normalise_label(label) for label in printed_labels]
    expected = [rules.label_units.get(key, rules.declared_unit) for key in label_keys]
    checked = [key in rules.labels and key not in rules.skip_labels for key in label_keys]
    units = [normalise_text(unit) for unit in printed_units]
    combined = label_positions.astype("int64") * len(units) + unit_positions
    problems = []
    bad_rows = np.zeros(len(cells), dtype=bool)
    for combination in np.unique(combined):
        label, unit = divmod(int(combination), len(units))
        if checked[label] and units[unit] and units[unit] != expected[label]:
            bad_rows |= combined == combination
    if bad_rows.any():
        skipped_regions = np.array(
            [region_key(region) in rules.skip_regions for region in cells["printed_region"].astype("str")], dtype=bool
        )
        bad_rows &= ~skipped_regions
    seen_rows: set[int] = set()
    for position in np.flatnonzero(bad_rows):
        row = int(cells["source_row"].iloc[position])
        if row in seen_rows:
            continue
        seen_rows.add(row)
        label = int(label_positions[position])
        printed = units[int(unit_positions[position])]
        declared = "label_units" if label_keys[label] in rules.label_units else "unit"
        problems.append(
            InputProblem(
                rules.file_name,
                "unit_column_mismatch",
                f"the row prints unit {printed!r} for {normalise_text(printed_labels[label])!r}, but the sidecar declares {expected[label]!r} (its `{declared}`)",
                row=row,
                column=str(rules.sidecar.layout.get("unit_column") or "unit"),
                cell=None if rules.unit_column_number is None else cell_name(rules.unit_column_number, row),
                expected=f"unit {expected[label]!r} as the sidecar declares; if the table really prints {printed!r}, correct the sidecar's unit / multiplier / label_units",
            )
        )
    if problems:
        return cells, problems
    blank = np.array([not unit for unit in units], dtype=bool)[unit_positions]
    if blank.any() and rules.label_units:
        filled = np.array(expected, dtype=object)[label_positions]
        units_now = cells["printed_unit"].astype("str").to_numpy(dtype=object, copy=True)
        units_now[blank] = filled[blank]
        cells = cells.assign(printed_unit=pd.array(units_now, dtype="str"))
    return cells, []


def distinct_values(values: pd.Series) -> tuple[np.ndarray, list]:
    """Every row's position among the distinct values, and the distinct values (a missing value counts as one)."""
    positions, distinct = pd.factorize(values, use_na_sentinel=False)
    return positions, list(distinct)


def per_distinct(values: pd.Series, function) -> np.ndarray:
    """function applied once per distinct value, spread back to every row (an object array)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    results = np.empty(len(distinct), dtype=object)
    results[:] = [function(value) for value in distinct]
    return results[codes]


def plain_number_mask(raw_values: pd.Series) -> np.ndarray:
    """True for cells printed as a plain decimal (PLAIN_NUMBER_PATTERN), found in one vectorised pass."""
    texts = pa.array(raw_values, type=pa.large_string(), from_pandas=True)
    matches = pc.fill_null(pc.match_substring_regex(texts, PLAIN_NUMBER_PATTERN), False)
    return matches.to_numpy(zero_copy_only=False)


def parsed_values(
    raw_values: pd.Series, plain: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]] | None:
    """Value, printed decimals, % sign and status (position among the distinct status texts, which are returned
    last; '' first) of every cell; None when a cell is neither number nor placeholder.

    Plain decimals are parsed by Arrow in one pass (Arrow and Python both round a decimal text to the nearest
    double, so the values are identical); every other cell goes through parse_cell once per distinct text.
    """
    count = len(raw_values)
    numbers = np.full(count, np.nan, dtype="float64")
    decimals = np.zeros(count, dtype="int64")
    percent = np.zeros(count, dtype=bool)
    status_positions = np.zeros(count, dtype="int64")
    status_texts = [""]
    if plain.any():
        texts = pa.array(raw_values[plain], type=pa.large_string())
        numbers[plain] = pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
        dots = pc.find_substring(texts, ".").to_numpy(zero_copy_only=False)
        lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False)
        decimals[plain] = np.where(dots >= 0, lengths - dots - 1, 0)
    rest = ~plain
    if rest.any():
        parsed = per_distinct(raw_values[rest], parsed_or_none)
        if any(cell is None for cell in parsed):
            return None
        numbers[rest] = [np.nan if cell.value is None else cell.value for cell in parsed]
        decimals[rest] = [cell.decimals for cell in parsed]
        percent[rest] = [cell.percent for cell in parsed]
        status_number = {"": 0}
        status_positions[rest] = [status_number.setdefault(cell.status, len(status_number)) for cell in parsed]
        status_texts = list(status_number)
    return numbers, decimals, percent, status_positions, status_texts


def parsed_or_none(raw: object) -> ParsedCell | None:
    """The parsed cell, or None when it is not a number or placeholder (the one-by-one path reports it)."""
    try:
        return parse_cell(raw)
    except CellError:
        return None


def cell_records_one_by_one(cells: pd.DataFrame, rules: StagingRules) -> tuple[pd.DataFrame, list[InputProblem]]:
    """The staged records cell by cell, with every problem named by file, row, column, rule and expected text."""
    problems: list[InputProblem] = []
    sidecar, file_name, units, today = rules.sidecar, rules.file_name, rules.units, rules.today
    declared_unit, bounds, labels = rules.declared_unit, rules.bounds, rules.labels
    skip_labels, skip_regions = rules.skip_labels, rules.skip_regions
    regions, former, merged_into = rules.regions, rules.former, rules.merged_into
    layout = sidecar.layout
    label_column = layout.get("label_column") or "(sidecar layout.label)"
    region_column = layout.get("region_column") or "(sidecar layout.region)"
    unit_column = layout.get("unit_column") or "(sidecar unit)"

    records = []
    for cell in cells.itertuples(index=False):
        if rules.blank_cells_not_transcribed and not str(cell.raw_value).strip():
            continue
        label_key = normalise_label(cell.printed_label)
        printed_region = region_key(cell.printed_region)
        if label_key in skip_labels or printed_region in skip_regions:
            continue
        if not label_key and not printed_region and not str(cell.raw_value).strip():
            continue
        where = {"row": cell.source_row, "cell": cell_name(cell.column_number, cell.source_row)}
        indicator_code = labels.get(label_key)
        if indicator_code is None:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_label",
                    f"row label {normalise_text(cell.printed_label)!r} is not mapped in the sidecar's labels",
                    column=label_column,
                    expected=f"one of {sorted(sidecar.labels)}, or the label in skip_labels",
                    **where,
                )
            )
            continue
        region_code, region_problem, _ = printed_region_code(printed_region, regions, former, merged_into)
        if region_problem:
            problems.append(
                InputProblem(
                    file_name,
                    region_problem[0],
                    region_problem[1],
                    column=region_column,
                    expected=region_problem[2],
                    **where,
                )
            )
            continue
        printed_unit = normalise_text(cell.printed_unit) or declared_unit
        if printed_unit not in units:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_unit",
                    f"unit {printed_unit!r} is not in pipeline/metadata/units.csv",
                    column=unit_column,
                    expected=", ".join(units),
                    **where,
                )
            )
            continue
        if not FIRST_YEAR <= cell.year <= today.year:
            problems.append(
                InputProblem(
                    file_name,
                    "year_range",
                    f"year {cell.year} is outside {FIRST_YEAR}–{today.year}",
                    column=getattr(cell, "year_column", None) or cell.source_column,
                    expected=f"a year from {FIRST_YEAR} to this year ({today.year})",
                    **where,
                )
            )
            continue
        try:
            parsed = parse_cell(cell.raw_value)
        except CellError as error:
            problems.append(
                InputProblem(
                    file_name, error.rule, str(error), column=cell.source_column, expected=error.expected, **where
                )
            )
            continue
        if parsed.percent and "%" in units and bounds[indicator_code] == units["%"][0]:
            printed_unit = "%"  # a printed % sign is the cell's unit, in a percent indicator
        unit, multiplier = units[printed_unit]
        problem = value_problem(cell, parsed, printed_unit, unit, indicator_code, bounds, file_name)
        if problem:
            problems.append(problem)
            continue
        value = None if parsed.value is None else parsed.value * multiplier
        radius = 0.5 * 10 ** (-parsed.decimals) * multiplier if parsed.value is not None else None
        records.append(
            {
                "source_id": sidecar.source_id,
                "source_file": file_name,
                "source_row": cell.source_row,
                "source_column": cell.source_column,
                "printed_label": normalise_text(cell.printed_label),
                "region_code": region_code,
                "year": cell.year,
                "indicator_code": indicator_code,
                "value": value,
                "unit": unit,
                "status": "".join(sorted(set(parsed.status))),
                "rounding_radius": radius,
                "column_number": cell.column_number,
            }
        )
    return pd.DataFrame.from_records(records, columns=[*STAGED_COLUMNS, "column_number"]), problems
