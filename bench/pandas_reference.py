"""The reference an analyst would write instead: idiomatic, vectorised pandas doing the same steps on the same files.

Read every CSV, reshape wide → long, map labels, regions and units to codes, the same checks (known codes, year
range, plausible range, unit matches the catalogue, one figure per indicator, region and year), the urban/rural
ratios, the dispersion measures over villages within each town and towns' villages within each county, Parquet.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.core.metadata import load_indicator_catalog, load_units

ID_COLUMNS = ["地区", "指标", "单位"]
RATIOS = {
    "urban_rural_income_ratio": ("urban_disposable_income_per_capita", "rural_disposable_income_per_capita"),
    "urban_rural_consumption_ratio": (
        "urban_consumption_expenditure_per_capita",
        "rural_consumption_expenditure_per_capita",
    ),
}


def run(raw_dir: Path, regions: pd.DataFrame, output_dir: Path) -> dict:
    """The whole script, timed per step."""
    stages = {}
    catalog = load_indicator_catalog().set_index("indicator_code")
    units = load_units()
    started = time.perf_counter()
    frames = []
    for sidecar_path in sorted(raw_dir.glob("*.meta.yaml")):
        sidecar = yaml.safe_load(sidecar_path.read_text(encoding="utf-8"))
        wide = pd.read_csv(raw_dir / sidecar["file"], dtype={column: "string" for column in ID_COLUMNS})
        long = wide.melt(id_vars=ID_COLUMNS, var_name="year", value_name="value")
        long = long[long["value"].notna()]  # blank cells are not transcribed (the sidecar's blank_cells)
        long["indicator_code"] = long["指标"].map(sidecar["labels"])
        long["source_id"] = sidecar["source_id"]
        frames.append(long)
    observations = pd.concat(frames, ignore_index=True)
    del frames
    observations["region_code"] = observations["地区"].map(
        dict(zip(regions["name_zh"], regions["region_code"], strict=True))
    )
    observations["unit"] = observations["单位"].map({printed: unit for printed, (unit, _) in units.items()})
    multiplier = observations["单位"].map({printed: factor for printed, (_, factor) in units.items()})
    observations["value"] = pd.to_numeric(observations["value"], errors="coerce") * multiplier
    observations["year"] = observations["year"].astype("int64")
    observations = observations.drop(columns=ID_COLUMNS)
    stages["read_and_stage"] = time.perf_counter() - started

    started = time.perf_counter()
    bounds = catalog.loc[observations["indicator_code"]]
    problems = {
        "unknown_label": int(observations["indicator_code"].isna().sum()),
        "unknown_region": int(observations["region_code"].isna().sum()),
        "unknown_unit": int(observations["unit"].isna().sum()),
        "year_range": int((~observations["year"].between(1949, 2026)).sum()),
        "missing_value": int(observations["value"].isna().sum()),
        "value_in_plausible_range": int(
            (
                (observations["value"].to_numpy() < bounds["valid_min"].to_numpy())
                | (observations["value"].to_numpy() > bounds["valid_max"].to_numpy())
            ).sum()
        ),
        "unit_matches_catalog": int((observations["unit"].to_numpy() != bounds["unit"].to_numpy()).sum()),
        "duplicate_row": int(observations.duplicated(["indicator_code", "region_code", "year"]).sum()),
    }
    stages["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    pivot = observations[observations["indicator_code"].isin({code for pair in RATIOS.values() for code in pair})]
    pivot = pivot.pivot_table(index=["region_code", "year"], columns="indicator_code", values="value")
    ratios = pd.concat(
        [
            (pivot[numerator] / pivot[denominator]).rename("value").reset_index().assign(indicator_code=code)
            for code, (numerator, denominator) in RATIOS.items()
        ],
        ignore_index=True,
    )
    stages["indicators"] = time.perf_counter() - started

    started = time.perf_counter()
    values = pd.concat([observations[["indicator_code", "region_code", "year", "value"]], ratios], ignore_index=True)
    flagged = set(catalog.index[catalog["dispersion"]])
    values = values[values["indicator_code"].isin(flagged) & values["value"].notna()]
    parents = regions.set_index("region_code")["parent_code"]
    values["town"] = values["region_code"].map(parents)
    values["county"] = values["town"].map(parents)
    dispersion = pd.concat([group_statistics(values, "town"), group_statistics(values, "county")], ignore_index=True)
    stages["dispersion"] = time.perf_counter() - started

    started = time.perf_counter()
    observations.to_parquet(output_dir / "observations.parquet", index=False)
    ratios.to_parquet(output_dir / "indicators.parquet", index=False)
    dispersion.to_parquet(output_dir / "dispersion.parquet", index=False)
    stages["release"] = time.perf_counter() - started
    return {
        "stages": stages,
        "counts": {"observations": len(observations), "indicators": len(ratios), "dispersion": len(dispersion)},
        "problems": problems,
    }


def group_statistics(values: pd.DataFrame, parent: str) -> pd.DataFrame:
    """cv, Theil, Gini and max/min per indicator, parent and year over ≥5 units, vectorised with groupby."""
    key = ["indicator_code", parent, "year"]
    frame = values[["indicator_code", parent, "year", "value"]].sort_values([*key, "value"], kind="stable")
    grouped = frame.groupby(key, sort=False)["value"]
    count = grouped.transform("size")
    mean = grouped.transform("mean")
    frame = frame.assign(
        rank=grouped.cumcount() + 1,
        share=frame["value"] / mean,
        count=count,
    )
    frame["theil_term"] = frame["share"] * np.log(frame["share"].where(frame["share"] > 0))
    frame["gini_term"] = (2 * frame["rank"] - frame["count"] - 1) * frame["value"]
    summary = frame.groupby(key, sort=False).agg(
        n_units=("value", "size"),
        mean=("value", "mean"),
        std=("value", "std"),
        minimum=("value", "min"),
        maximum=("value", "max"),
        theil=("theil_term", "mean"),
        gini_sum=("gini_term", "sum"),
    )
    summary = summary[summary["n_units"] >= 5]
    summary["cv"] = summary["std"] * np.sqrt((summary["n_units"] - 1) / summary["n_units"]) / summary["mean"]
    summary["gini"] = summary["gini_sum"] / (summary["n_units"] ** 2 * summary["mean"])
    summary["max_min_ratio"] = summary["maximum"] / summary["minimum"]
    return summary.reset_index().rename(columns={parent: "parent_region_code"})[
        ["indicator_code", "parent_region_code", "year", "n_units", "cv", "theil", "gini", "max_min_ratio"]
    ]


def main(raw_dir: str, regions_file: str) -> None:
    """Entry point for a subprocess: print timings and this process's peak RSS as JSON."""
    regions = pd.read_parquet(regions_file)
    with tempfile.TemporaryDirectory(prefix="bench-pandas-") as output:
        result = run(Path(raw_dir), regions, Path(output))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
