"""A figure outside its plausible range, explained by its unit: the unit the sidecar declares, the catalogue's unit
and range, and the printed unit (or power of ten) that would bring the figure into range."""

from __future__ import annotations

import math

import pandas as pd

from pipeline.ingest.cells import normalise_label, normalise_text

RANGE_RULE = "value_in_plausible_range"
# Powers of ten tried when no other printed unit brings a figure into range (a figure keyed in the wrong unit).
MAX_POWER = 12


def declared_unit_of(fields: dict, printed_label: str | None) -> str | None:
    """The unit a sidecar declares for a printed label: its `label_units` entry, else its `unit`."""
    label_units = {normalise_label(str(label)): str(unit) for label, unit in (fields.get("label_units") or {}).items()}
    unit = label_units.get(normalise_label(str(printed_label or "")), fields.get("unit"))
    return None if unit is None else normalise_text(str(unit))


def unit_note(
    value: float,
    declared: str | None,
    bounds: tuple[str, float | None, float | None],
    units: dict[str, tuple[str, float]],
) -> str:
    """Why a figure may be out of range: its declared unit against the catalogue's, and which unit would fit."""
    catalog_unit, low, high = bounds
    shown_range = f"{format_bound(low)}..{format_bound(high)} {catalog_unit}"
    if declared is None or declared not in units:
        return f"the catalogue's unit is {catalog_unit}, range {shown_range}"
    canonical, multiplier = units[declared]
    note = (
        f"the sidecar declares the table's unit {declared!r} (× {multiplier:g} into {canonical}); the catalogue's unit "
        f"is {catalog_unit}, range {shown_range}"
    )
    printed = value / multiplier
    fitting: dict[float, list[str]] = {}  # another multiplier that brings the figure into range → its units
    for unit, (other_canonical, other) in units.items():
        if other_canonical == canonical and other != multiplier and in_range(printed * other, low, high):
            fitting.setdefault(other, []).append(repr(unit))
    if fitting:
        alternatives = "; ".join(
            f"in {' or '.join(names)} (× {factor_text(other / multiplier)}) it is {printed * other:g} {canonical}"
            for other, names in sorted(fitting.items())
        )
        return (
            f"{note}; the printed figure is {printed:g}, and read {alternatives}, within range: is the table's unit, "
            "or the sidecar's `unit`/`label_units`, wrong?"
        )
    powers = [
        exponent
        for exponent in range(-MAX_POWER, MAX_POWER + 1)
        if exponent and in_range(value * 10.0**exponent, low, high)
    ]
    if powers:
        nearest = min(powers, key=abs)
        span = f"10^{nearest}" if len(powers) == 1 else f"10^{min(powers)} … 10^{max(powers)}"
        return (
            f"{note}; × {span} would bring it into range (× 10^{nearest} gives {value * 10.0**nearest:g}): "
            "a figure keyed in another unit?"
        )
    return note


def factor_text(factor: float) -> str:
    """A factor as a power of ten where it is one (10^-4), else as a number."""
    exponent = math.log10(factor)
    return f"10^{round(exponent)}" if math.isclose(exponent, round(exponent), abs_tol=1e-9) else f"{factor:g}"


def in_range(value: float, low: float | None, high: float | None) -> bool:
    """Within the inclusive bounds (a missing bound is no bound)."""
    return (low is None or value >= low) and (high is None or value <= high)


def format_bound(bound: float | None) -> str:
    """A bound as text ('' when there is none)."""
    return "" if bound is None else f"{bound:g}"


def with_unit_notes(
    records: list[dict],
    catalog: pd.DataFrame,
    sidecar_fields: dict[str, dict],
    units: dict[str, tuple[str, float]],
) -> list[dict]:
    """The failure records, each plausible-range failure with a `note` on its unit (sidecar_fields: by source id)."""
    bounds = {
        row.indicator_code: (
            str(row.unit),
            None if pd.isna(row.valid_min) else float(row.valid_min),
            None if pd.isna(row.valid_max) else float(row.valid_max),
        )
        for row in catalog.itertuples(index=False)
    }
    noted = []
    for record in records:
        figure = record.get("figure") or {}
        code = figure.get("indicator_code")
        value = to_number(figure.get("value"))
        if not str(record.get("rule", "")).startswith(RANGE_RULE) or code not in bounds or value is None:
            noted.append(record)
            continue
        fields = sidecar_fields.get(str(record.get("source_id")), {})
        declared = declared_unit_of(fields, record.get("printed_label")) if fields else None
        noted.append({**record, "note": unit_note(value, declared, bounds[code], units)})
    return noted


def to_number(text: object) -> float | None:
    """A figure's value as a finite float, or None."""
    try:
        number = float(str(text))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
