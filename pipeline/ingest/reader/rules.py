"""Rules applied to staged observations: the sidecar against the metadata, value problems, duplicates and status rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.frames import packed_keys
from pipeline.core.metadata import SeriesBreak, load_series_breaks
from pipeline.ingest.cells import normalise_label, normalise_text
from pipeline.ingest.reader.locate import cell_name
from pipeline.ingest.sidecar import CELL_RANGE_PATTERN, Sidecar


def check_sidecar_against_metadata(
    sidecar: Sidecar, units: dict[str, tuple[str, float]], catalog: pd.DataFrame
) -> None:
    """The sidecar's unit, multiplier and indicator codes exist in the metadata files."""
    fields = sidecar.fields
    problems = []
    name = str(sidecar.path)
    if normalise_text(fields["unit"]) not in units:
        problems.append(
            InputProblem(
                name,
                "unknown_unit",
                f"unit {fields['unit']!r} is not in pipeline/metadata/units.csv",
                column="unit",
                expected=", ".join(units),
            )
        )
    elif float(fields["multiplier"]) != units[normalise_text(fields["unit"])][1]:
        problems.append(
            InputProblem(
                name,
                "unit_multiplier",
                f"multiplier {fields['multiplier']} does not match unit {fields['unit']!r}",
                column="multiplier",
                expected=str(units[normalise_text(fields["unit"])][1]),
            )
        )
    known = set(catalog["indicator_code"])
    for label, code in sidecar.labels.items():
        if code not in known:
            problems.append(
                InputProblem(
                    name,
                    "unknown_indicator",
                    f"label {label!r} maps to indicator {code!r}, which is not in pipeline/metadata/indicators.yaml",
                    column="labels",
                    expected="an indicator_code of the catalogue (add the indicator there first)",
                )
            )
    problems.extend(label_unit_problems(sidecar, units))
    problems.extend(series_break_label_problems(sidecar, load_series_breaks()))
    if problems:
        raise InputError(problems)


def label_unit_problems(sidecar: Sidecar, units: dict[str, tuple[str, float]]) -> list[InputProblem]:
    """label_units names labels of `labels` and units of units.csv."""
    name = str(sidecar.path)
    problems = []
    labels = {normalise_label(label) for label in sidecar.labels}
    for label, unit in (sidecar.fields.get("label_units") or {}).items():
        if normalise_label(label) not in labels:
            problems.append(
                InputProblem(
                    name,
                    "sidecar_label_units",
                    f"label_units names label {label!r}, which is not in labels",
                    column="label_units",
                    expected=f"one of {sorted(sidecar.labels)}",
                )
            )
        if normalise_text(unit) not in units:
            problems.append(
                InputProblem(
                    name,
                    "unknown_unit",
                    f"label_units gives {label!r} unit {unit!r}, which is not in pipeline/metadata/units.csv",
                    column="label_units",
                    expected=", ".join(units),
                )
            )
    return problems


def series_break_label_problems(sidecar: Sidecar, breaks: tuple[SeriesBreak, ...]) -> list[InputProblem]:
    """A printed label with one side's words (纯收入) never maps onto the other side's indicator (disposable income)."""
    problems = []
    for series_break in breaks:
        for side in series_break.sides:
            others = [other for other in series_break.sides if other is not side]
            for label, code in sidecar.labels.items():
                key = normalise_label(label)
                words = [term for term in side.terms if normalise_label(term) in key]
                if not words or code in side.indicators:
                    continue
                if any(code in other.indicators for other in others):
                    problems.append(
                        InputProblem(
                            str(sidecar.path),
                            "series_break_mapping",
                            f"label {label!r} ({words[0]}) maps to {code!r}, the other side of series break {series_break.name}: {series_break.note}",
                            column="labels",
                            expected=f"one of {sorted(side.indicators)} for a label with {words[0]!r} (pipeline/metadata/series_breaks.yaml)",
                        )
                    )
    return problems


def series_break_year_problems(staged: pd.DataFrame, file_name: str) -> list[InputProblem]:
    """No figure of a series before its first year (series_breaks.yaml): a pre-2013 figure is not disposable income."""
    problems = []
    for series_break in load_series_breaks():
        for side in series_break.sides:
            if side.first_year is None:
                continue
            early = staged[
                staged["indicator_code"].isin(list(side.indicators)).to_numpy()
                & (staged["year"].to_numpy() < side.first_year)
            ]
            for row in early.head(20).itertuples(index=False):
                problems.append(
                    InputProblem(
                        file_name,
                        "series_break_year",
                        f"a figure of {row.indicator_code} for {row.year}, before the series exists ({side.first_year}; {series_break.name}): {series_break.note}",
                        row=int(row.source_row),
                        column=str(row.source_column),
                        cell=cell_name(row.column_number, row.source_row),
                        expected=f"figures of {row.indicator_code} from {side.first_year} on; earlier years belong to the other series (pipeline/metadata/series_breaks.yaml)",
                    )
                )
    return problems


def value_problem(
    cell, parsed, printed_unit: str, unit: str, indicator_code: str, bounds: dict[str, str], file_name: str
) -> InputProblem | None:
    """A parsed value whose unit contradicts its % sign or its indicator's unit in the catalogue."""
    where = {
        "row": cell.source_row,
        "column": cell.source_column,
        "cell": cell_name(cell.column_number, cell.source_row),
    }
    if parsed.percent and unit != "percent":
        return InputProblem(
            file_name,
            "unit_mismatch",
            f"{cell.raw_value!r} carries a % sign but the unit is {printed_unit!r}",
            expected="a % sign only in percent rows",
            **where,
        )
    expected_unit = bounds[indicator_code]
    if unit != expected_unit:
        return InputProblem(
            file_name,
            "unit_mismatch",
            f"{indicator_code} is measured in {expected_unit}, but this row's unit {printed_unit!r} is {unit}",
            expected=f"a unit in {expected_unit} for {indicator_code}",
            **where,
        )
    return None


def duplicate_problems(staged: pd.DataFrame, file_name: str) -> list[InputProblem]:
    """Two figures for the same indicator, region and year in one table: name both rows."""
    key = ["indicator_code", "region_code", "year"]
    packed = packed_keys(staged, key)
    if packed is None:
        repeats = staged.duplicated(key, keep="first").to_numpy()
    elif not (np.diff(np.sort(packed)) == 0).any():
        return []  # every key once (the usual case), found by sorting, without hashing
    else:
        repeats = pd.Series(packed).duplicated(keep="first").to_numpy()
    if not repeats.any():
        return []
    repeated = staged[repeats]
    problems = []
    for row in repeated.itertuples(index=False):
        first = staged[
            (staged["indicator_code"] == row.indicator_code)
            & (staged["region_code"] == row.region_code)
            & (staged["year"] == row.year)
        ].iloc[0]
        problems.append(
            InputProblem(
                file_name,
                "duplicate_row",
                f"a second figure for {row.indicator_code}, region {row.region_code}, {row.year} (first at row {first.source_row}, cell {cell_name(first.column_number, first.source_row)})",
                row=int(row.source_row),
                column=row.source_column,
                cell=cell_name(row.column_number, row.source_row),
                expected="one figure per indicator, region and year in a table",
            )
        )
    return problems


def apply_status_rules(staged: pd.DataFrame, rules: list[dict], sidecar_name: str) -> pd.DataFrame:
    """Set status flags (b, e, p, u) from the sidecar's rules: per table, indicator, column, region, year or cells."""
    problems = []
    if rules:
        staged = staged.assign(status=staged["status"].astype("str"))  # flags are added per row: plain texts
    for number, rule in enumerate(rules, start=1):
        selected = pd.Series(True, index=staged.index)
        if "indicators" in rule:
            selected &= staged["indicator_code"].isin([str(code) for code in rule["indicators"]])
        if "labels" in rule:
            keys = {normalise_label(label) for label in rule["labels"]}
            selected &= staged["printed_label"].map(normalise_label).isin(keys)
        if "years" in rule:
            selected &= staged["year"].isin([int(year) for year in rule["years"]])
        if "regions" in rule:
            selected &= staged["region_code"].isin([str(code) for code in rule["regions"]])
        if "columns" in rule:
            keys = {normalise_label(column) for column in rule["columns"]}
            selected &= staged["source_column"].map(normalise_label).isin(keys)
        if "cells" in rule:
            selected &= in_cell_ranges(staged, [str(cell_range) for cell_range in rule["cells"]])
        if not selected.any():
            problems.append(
                InputProblem(
                    sidecar_name,
                    "status_rule_unmatched",
                    f"status rule {number} ({rule}) selects no figure of the table",
                    column="status",
                    expected="selectors that match the table (check spelling, codes and cell ranges)",
                )
            )
            continue
        flag = str(rule["status"])
        staged.loc[selected, "status"] = staged.loc[selected, "status"].map(
            lambda current, flag=flag: "".join(sorted(set(current) | set(flag)))
        )
    if problems:
        raise InputError(problems)
    return staged


def in_cell_ranges(staged: pd.DataFrame, cell_ranges: list[str]) -> pd.Series:
    """True for figures whose cell lies in any of the ranges (A1 notation, as in the file or sheet)."""
    from openpyxl.utils.cell import column_index_from_string

    inside = pd.Series(False, index=staged.index)
    for cell_range in cell_ranges:
        match = CELL_RANGE_PATTERN.match(cell_range)
        if match is None:  # the sidecar check rejects such a range before the rules are applied
            raise ValueError(f"{cell_range!r} is not a cell range such as C3:E5")
        first_column, first_row, last_column, last_row = match.groups()
        inside |= staged["source_row"].between(int(first_row), int(last_row)) & staged["column_number"].between(
            column_index_from_string(first_column), column_index_from_string(last_column)
        )
    return inside
