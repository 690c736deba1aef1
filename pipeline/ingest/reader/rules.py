"""Rules applied to staged observations: the sidecar against the metadata, value problems, duplicates and status rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, InputProblem
from pipeline.core.frames import packed_keys
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
    if problems:
        raise InputError(problems)


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
