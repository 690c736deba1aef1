"""The two figures a derived ratio is computed from, checked on the raw rows of the table that prints them both.

A table that swaps its urban and rural rows (or columns) gives every derived ratio below 1. Checked only on the
derived indicator, the error would name a computed row; here it names the table's two printed figures, their rows
and column, and the rule (urban ≥ rural, urban population ≤ total population), taken from the catalogue: a
derived ratio's valid range, multiplied back, is a rule on its two inputs.
"""

from __future__ import annotations

import math

import pandas as pd

PAIR_KEY = ["source_id", "region_code", "year"]
PAIR_COLUMNS = [*PAIR_KEY, "value", "rounding_radius", "source_file", "source_row", "source_column", "printed_label"]


def ratio_rules(catalog: pd.DataFrame) -> list[dict]:
    """Derived ratios of two inputs with a bound: (ratio, numerator, denominator, multiplier, min, max, names)."""
    rules = []
    names = dict(zip(catalog["indicator_code"], catalog["name_zh"], strict=True))
    for entry in catalog.itertuples(index=False):
        inputs = [code for code in str(entry.inputs or "").split(";") if code]
        if entry.derivation != "ratio" or len(inputs) != 2 or (pd.isna(entry.valid_min) and pd.isna(entry.valid_max)):
            continue
        rules.append(
            {
                "indicator_code": entry.indicator_code,
                "numerator": inputs[0],
                "denominator": inputs[1],
                "multiplier": float(entry.multiplier),
                "valid_min": None if pd.isna(entry.valid_min) else float(entry.valid_min),
                "valid_max": None if pd.isna(entry.valid_max) else float(entry.valid_max),
                "names": (names.get(inputs[0]), names.get(inputs[1])),
            }
        )
    return rules


def ratio_pair_violations(observations: pd.DataFrame, catalog: pd.DataFrame) -> list[dict]:
    """Per table, region and year: the two printed inputs of a bounded ratio that no rounding brings within its range."""
    records: list[dict] = []
    rules = ratio_rules(catalog)
    inputs = {code for rule in rules for code in (rule["numerator"], rule["denominator"])}
    columns = [column for column in PAIR_COLUMNS if column in observations.columns]
    figures = observations.loc[
        observations["indicator_code"].isin(inputs) & (observations["value"] > 0), [*columns, "indicator_code"]
    ]
    for rule in rules:
        pairs = pair_figures(figures, rule["numerator"], rule["denominator"])
        if pairs.empty:
            continue
        radius_top = pairs["rounding_radius_top"].fillna(0.0)
        radius_bottom = pairs["rounding_radius_bottom"].fillna(0.0)
        multiplier = rule["multiplier"]
        if rule["valid_min"] is not None:  # even the largest numerator over the smallest denominator is too small
            low = (pairs["value_top"] + radius_top) * multiplier < rule["valid_min"] * (
                pairs["value_bottom"] - radius_bottom
            )
            records.extend(pair_record(row, rule, "≥", rule["valid_min"]) for row in pairs[low].itertuples())
        if rule["valid_max"] is not None:
            high = (pairs["value_top"] - radius_top) * multiplier > rule["valid_max"] * (
                pairs["value_bottom"] + radius_bottom
            )
            records.extend(pair_record(row, rule, "≤", rule["valid_max"]) for row in pairs[high].itertuples())
    return records


def pair_figures(observations: pd.DataFrame, numerator: str, denominator: str) -> pd.DataFrame:
    """Both figures of a ratio printed by the same table for the same region and year, side by side (observations:
    the figures present and above zero)."""
    columns = [column for column in PAIR_COLUMNS if column in observations.columns]
    top = observations.loc[observations["indicator_code"] == numerator, columns]
    bottom = observations.loc[observations["indicator_code"] == denominator, columns]
    if top.empty or bottom.empty:
        return pd.DataFrame()
    return top.merge(bottom, on=PAIR_KEY, suffixes=("_top", "_bottom"))


def pair_record(row, rule: dict, comparison: str, bound: float) -> dict:
    """One failing pair as a record naming the table's file, both rows, the column, both figures and the rule."""
    factor = bound / rule["multiplier"]
    scaled = "" if math.isclose(factor, 1.0) else f"{factor:g} × "
    return {
        "file": row.source_file_top,
        "rows": sorted({int(row.source_row_top), int(row.source_row_bottom)}),
        "columns": sorted({str(row.source_column_top), str(row.source_column_bottom)}),
        "region_code": row.region_code,
        "year": int(row.year),
        "rule": f"{rule['numerator']} {comparison} {scaled}{rule['denominator']}",
        "numerator": figure_of(row, "top", rule["numerator"]),
        "denominator": figure_of(row, "bottom", rule["denominator"]),
        "ratio_indicator": rule["indicator_code"],
        "ratio": row.value_top / row.value_bottom * rule["multiplier"],
        "bound": f"{'valid_min' if comparison == '≥' else 'valid_max'} {bound:g}",
        "names": rule["names"],
    }


def figure_of(row, side: str, indicator_code: str) -> dict:
    """One printed figure of a pair: its indicator, label, row, column and value."""
    return {
        "indicator_code": indicator_code,
        "printed_label": str(getattr(row, f"printed_label_{side}")),
        "row": int(getattr(row, f"source_row_{side}")),
        "column": str(getattr(row, f"source_column_{side}")),
        "value": float(getattr(row, f"value_{side}")),
    }


def short_rule(record: dict) -> str:
    """The rule in words where it reads as one (urban ≥ rural), else in indicator codes."""
    top, bottom = record["numerator"]["indicator_code"], record["denominator"]["indicator_code"]
    if "urban" in top and top.replace("urban", "rural") == bottom:
        return f"{record['rule'].replace(top, 'urban').replace(bottom, 'rural')} ({record['rule']})"
    return record["rule"]


def describe_pair_violation(record: dict) -> str:
    """A failing pair as one readable line: file, rows, column, the two printed figures and the rule."""
    top, bottom = record["numerator"], record["denominator"]
    rows = " and ".join(str(row) for row in record["rows"])
    columns = ", ".join(repr(column) for column in record["columns"])
    rule = short_rule(record)
    swapped = "; urban and rural swapped in the table or in the sidecar's labels?" if rule.startswith("urban") else ""
    return (
        f"{record['file']}, row{'s' if len(record['rows']) > 1 else ''} {rows}, column {columns}: "
        f"[ratio_inputs] region {record['region_code']}, {record['year']}: "
        f"row {top['row']} {top['printed_label']!r} = {top['value']:g} ({top['indicator_code']}), "
        f"row {bottom['row']} {bottom['printed_label']!r} = {bottom['value']:g} ({bottom['indicator_code']}) "
        f"break the rule {rule} (their ratio {record['ratio']:.4g}; {record['ratio_indicator']} has "
        f"{record['bound']} in indicators.yaml){swapped}"
    )
