"""The generic table reader: a raw table plus its sidecar → tidy staged observations with lineage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from pipeline.cells import CellError, normalise_text, parse_cell, parse_year
from pipeline.errors import InputError, InputProblem
from pipeline.sidecar import Sidecar

FIRST_YEAR = 1949
STAGED_COLUMNS = [
    "source_id",
    "source_file",
    "source_row",
    "source_column",
    "printed_label",
    "region_code",
    "year",
    "indicator_code",
    "value",
    "unit",
    "status",
    "rounding_radius",
]


def read_source_table(
    sidecar: Sidecar,
    raw_dir: Path,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Read one raw table as its sidecar describes it; raise InputError listing every problem found."""
    file_name = sidecar.data_path.relative_to(raw_dir.resolve()).as_posix()
    table = read_text_table(sidecar, file_name)
    layout = sidecar.layout
    cells = wide_cells(table, layout, file_name) if layout["kind"] == "wide" else long_cells(table, layout, file_name)
    return stage_cells(cells, sidecar, file_name, region_lookup, units, today or dt.date.today())


def read_text_table(sidecar: Sidecar, file_name: str) -> pd.DataFrame:
    """The raw CSV as strings, exactly as printed; errors for undecodable, empty or header-only files."""
    encoding = sidecar.fields["encoding"]
    try:
        text = sidecar.data_path.read_bytes().decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "encoding",
                    f"the file does not decode as {encoding}: {error}",
                    expected=f"text in the declared encoding {encoding}",
                )
            ]
        ) from error
    if not text.strip():
        raise InputError(
            [InputProblem(file_name, "empty_file", "the file is empty", expected="a header row and data rows")]
        )
    from io import StringIO

    try:
        table = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as error:
        raise InputError([InputProblem(file_name, "csv_syntax", f"not a well-formed CSV: {error}")]) from error
    table.columns = [normalise_text(str(column)) for column in table.columns]
    if table.empty:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "no_data_rows",
                    "the file has a header but no data rows",
                    expected="at least one data row",
                )
            ]
        )
    # Line numbers as a person sees them in an editor: the header is line 1.
    table.index = pd.RangeIndex(2, len(table) + 2)
    return table


def require_columns(table: pd.DataFrame, columns: list[str], file_name: str) -> None:
    """Raise when a column the layout names is not in the table's header."""
    missing = [column for column in columns if column and column not in table.columns]
    if missing:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "missing_column",
                    f"the header has no column {column!r}",
                    row=1,
                    column=column,
                    expected=f"one of the layout's columns; header is {list(table.columns)}",
                )
                for column in missing
            ]
        )


def wide_cells(table: pd.DataFrame, layout: dict, file_name: str) -> pd.DataFrame:
    """Indicators (and regions) as rows, years as columns → one record per cell."""
    label_column = layout["label_column"]
    unit_column = layout.get("unit_column")
    region_column = layout.get("region_column")
    require_columns(table, [label_column, unit_column, region_column], file_name)
    year_columns = {column: parse_year(column) for column in table.columns}
    year_columns = {column: year for column, year in year_columns.items() if year is not None}
    if not year_columns:
        raise InputError(
            [
                InputProblem(
                    file_name,
                    "no_year_columns",
                    "a wide table needs year columns",
                    row=1,
                    expected="headers such as 2023 or 2023年",
                )
            ]
        )
    id_columns = [column for column in (label_column, unit_column, region_column) if column]
    cells = table.reset_index(names="source_row").melt(
        id_vars=["source_row", *id_columns],
        value_vars=list(year_columns),
        var_name="source_column",
        value_name="raw_value",
    )
    cells["year"] = cells["source_column"].map(year_columns)
    return normalise_cell_frame(cells, layout, label_column, unit_column, region_column)


def long_cells(table: pd.DataFrame, layout: dict, file_name: str) -> pd.DataFrame:
    """One figure per row, with label, value and optionally year, region and unit columns."""
    label_column = layout["label_column"]
    value_column = layout["value_column"]
    unit_column = layout.get("unit_column")
    region_column = layout.get("region_column")
    year_column = layout.get("year_column")
    require_columns(table, [label_column, value_column, unit_column, region_column, year_column], file_name)
    cells = table.reset_index(names="source_row").rename(columns={value_column: "raw_value"})
    cells["source_column"] = value_column
    if year_column:
        cells["year"] = cells[year_column].map(parse_year)
        bad_years = cells[cells["year"].isna()]
        if not bad_years.empty:
            raise InputError(
                [
                    InputProblem(
                        file_name,
                        "year_format",
                        f"{row[year_column]!r} is not a year",
                        row=int(row.source_row),
                        column=year_column,
                        expected="a year such as 2023 or 2023年",
                    )
                    for _, row in bad_years.iterrows()
                ]
            )
    else:
        cells["year"] = int(layout["year"])
    return normalise_cell_frame(cells, layout, label_column, unit_column, region_column)


def normalise_cell_frame(
    cells: pd.DataFrame, layout: dict, label_column: str, unit_column: str | None, region_column: str | None
) -> pd.DataFrame:
    """Common columns for both layouts: printed label, printed region, printed unit, raw value."""
    frame = pd.DataFrame(
        {
            "source_row": cells["source_row"].astype(int),
            "source_column": cells["source_column"].astype(str),
            "printed_label": cells[label_column].map(normalise_text),
            "printed_region": cells[region_column].map(normalise_text)
            if region_column
            else str(layout.get("region", "")),
            "printed_unit": cells[unit_column].map(normalise_text) if unit_column else None,
            "year": cells["year"].astype(int),
            "raw_value": cells["raw_value"],
        }
    )
    return frame


def stage_cells(
    cells: pd.DataFrame,
    sidecar: Sidecar,
    file_name: str,
    region_lookup: dict[str, str],
    units: dict[str, tuple[str, float]],
    today: dt.date,
) -> pd.DataFrame:
    """Map labels, regions and units to codes, parse values and apply status rules; collect every problem."""
    problems: list[InputProblem] = []
    fields = sidecar.fields
    label_column = sidecar.layout["label_column"]
    region_column = sidecar.layout.get("region_column") or "(sidecar layout.region)"
    unit_column = sidecar.layout.get("unit_column") or "(sidecar unit)"

    if fields["unit"] not in units:
        problems.append(
            InputProblem(
                str(sidecar.path),
                "unknown_unit",
                f"unit {fields['unit']!r} is not in pipeline/metadata/units.csv",
                expected=", ".join(units),
            )
        )
    elif float(fields["multiplier"]) != units[fields["unit"]][1]:
        problems.append(
            InputProblem(
                str(sidecar.path),
                "unit_multiplier",
                f"multiplier {fields['multiplier']} does not match unit {fields['unit']!r}",
                expected=str(units[fields["unit"]][1]),
            )
        )
    cells["printed_unit"] = cells["printed_unit"].where(cells["printed_unit"].notna(), fields["unit"])
    if fields.get("blank_cells") == "not_transcribed":
        cells = cells[cells["raw_value"].map(lambda value: str(value).strip() != "")]

    labels = {normalise_text(label): code for label, code in sidecar.labels.items()}
    records = []
    for cell in cells.itertuples(index=False):
        indicator_code = labels.get(cell.printed_label)
        if indicator_code is None:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_label",
                    f"row label {cell.printed_label!r} is not mapped in the sidecar's labels",
                    row=cell.source_row,
                    column=label_column,
                    expected=f"one of {sorted(labels)}",
                )
            )
            continue
        region_code = region_lookup.get(cell.printed_region)
        if region_code is None:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_region",
                    f"region {cell.printed_region!r} is not in regions.csv or region_aliases.csv",
                    row=cell.source_row,
                    column=region_column,
                    expected="an official name or a listed alias",
                )
            )
            continue
        if cell.printed_unit not in units:
            problems.append(
                InputProblem(
                    file_name,
                    "unknown_unit",
                    f"unit {cell.printed_unit!r} is not in pipeline/metadata/units.csv",
                    row=cell.source_row,
                    column=unit_column,
                    expected=", ".join(units),
                )
            )
            continue
        if not FIRST_YEAR <= cell.year <= today.year:
            problems.append(
                InputProblem(
                    file_name,
                    "year_range",
                    f"year {cell.year} is outside {FIRST_YEAR}–{today.year}",
                    row=cell.source_row,
                    column=cell.source_column,
                    expected=f"a year from {FIRST_YEAR} to this year",
                )
            )
            continue
        try:
            parsed = parse_cell(cell.raw_value)
        except CellError as error:
            problems.append(
                InputProblem(
                    file_name,
                    error.rule,
                    str(error),
                    row=cell.source_row,
                    column=cell.source_column,
                    expected=error.expected,
                )
            )
            continue
        unit, multiplier = units[cell.printed_unit]
        if parsed.percent and unit != "percent":
            problems.append(
                InputProblem(
                    file_name,
                    "unit_mismatch",
                    f"{cell.raw_value!r} carries a % sign but the unit is {cell.printed_unit!r}",
                    row=cell.source_row,
                    column=cell.source_column,
                    expected="a % sign only in percent rows",
                )
            )
            continue
        value = None if parsed.value is None else parsed.value * multiplier
        radius = 0.5 * 10 ** (-parsed.decimals) * multiplier if parsed.value is not None else None
        records.append(
            {
                "source_id": sidecar.source_id,
                "source_file": file_name,
                "source_row": cell.source_row,
                "source_column": cell.source_column,
                "printed_label": cell.printed_label,
                "region_code": region_code,
                "year": cell.year,
                "indicator_code": indicator_code,
                "value": value,
                "unit": unit,
                "status": parsed.status,
                "rounding_radius": radius,
            }
        )
    if problems:
        raise InputError(problems)
    staged = pd.DataFrame.from_records(records, columns=STAGED_COLUMNS)
    staged = apply_status_rules(staged, fields.get("status") or [], labels)
    return staged.astype({"year": "int64", "source_row": "int64", "value": "float64", "rounding_radius": "float64"})


def apply_status_rules(staged: pd.DataFrame, rules: list[dict], labels: dict[str, str]) -> pd.DataFrame:
    """Set observation status flags (b, e, p, u, …) from the sidecar's rules on indicators, regions, years."""
    for rule in rules:
        selected = pd.Series(True, index=staged.index)
        if "indicators" in rule:
            selected &= staged["indicator_code"].isin(rule["indicators"])
        if "labels" in rule:
            selected &= staged["printed_label"].isin([normalise_text(label) for label in rule["labels"]])
        if "years" in rule:
            selected &= staged["year"].isin([int(year) for year in rule["years"]])
        if "regions" in rule:
            selected &= staged["region_code"].isin([str(code) for code in rule["regions"]])
        flag = str(rule["status"])
        staged.loc[selected, "status"] = staged.loc[selected, "status"].map(
            lambda current, flag=flag: "".join(sorted(set(current) | set(flag)))
        )
    return staged
