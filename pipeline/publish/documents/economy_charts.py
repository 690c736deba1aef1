"""Two more release charts: Guangzhou districts' GDP and industrial output, and the dispersion of Guangdong's cities."""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from pipeline.ingest.sidecar import AUTHORITY_RANK
from pipeline.publish.documents.answers import kind_label, source_publisher_kinds
from pipeline.publish.documents.charts import (
    CHART_STYLE,
    DISPERSION_MEASURE_LABELS,
    FLAG_COLOUR,
    GUANGZHOU,
    finish_time_axes,
    gapped_series,
    new_figure,
    no_data,
)

GUANGDONG = "440000"
CITY_UNIT_LEVEL = "prefecture_city"
# (indicator, Chinese title, English title): one bar panel each; GDP for its latest year, the others any year.
DISTRICT_ECONOMY_PANELS = [
    ("gdp", "地区生产总值（最新年份）", "GDP (latest year)"),
    ("industrial_output_above_designated_size", "规模以上工业总产值", "Industrial output above designated size"),
    ("gdp_secondary_industry", "第二产业增加值", "Secondary-industry value added"),
]
HUNDRED_MILLION = 1e8  # 亿元
# Bar colour by publisher kind (the grading rule's kinds, pipeline/validate/grades.py), official kinds darkest.
KIND_COLOURS = {
    "statistics_office": "#1f4e8c",
    "government_department": "#4c72b0",
    "compilation": "#55a868",
    "news_report": "#dd8452",
    "self_media": "#c44e52",
}
UNKNOWN_KIND_COLOUR = "#8c8c8c"


def district_economy_figure(observations: pd.DataFrame, regions: pd.DataFrame, sources: pd.DataFrame) -> Figure:
    """Bars of each Guangzhou district's GDP and industrial output from the most authoritative source; `u` hatched."""
    values = most_authoritative(district_figures(observations, regions), sources)
    values = values.assign(publisher_kind=source_publisher_kinds(values["source_id"], sources))
    with matplotlib.rc_context(CHART_STYLE):
        figure = new_figure(14, 5.8)
        panels = figure.subplots(1, len(DISTRICT_ECONOMY_PANELS), width_ratios=[3, 1.2, 1.2])
        for axes, (indicator_code, title_zh, title_en) in zip(panels, DISTRICT_ECONOMY_PANELS, strict=True):
            rows = values[values["indicator_code"] == indicator_code]
            if indicator_code == "gdp" and not rows.empty:
                rows = rows[rows["year"] == rows["year"].max()]
            bar_panel(axes, rows.sort_values("value", ascending=False), f"{title_zh}\n{title_en}")
        note = (
            "每区每年取最权威来源（官方 > 官方镜像 > 新闻 > 汇编 > 低可信度）；标签含年份，柱色为发布者类型。\n"
            "Per district and year the most authoritative source is shown; labels give the year, colours the publisher kind."
        )
        kinds = sorted(set(values["publisher_kind"]), key=lambda kind: [*KIND_COLOURS, kind].index(kind))
        handles = [Patch(facecolor=kind_colour(kind), label=kind_label(kind)) for kind in kinds]
        if handles:
            handles.append(
                Patch(facecolor="white", edgecolor=FLAG_COLOUR, hatch="//", label="可靠性低 low reliability u")
            )
            figure.legend(
                handles=handles,
                loc="outside lower center",
                ncols=len(handles),
                fontsize=8,
                title=note,
                title_fontsize=8,
            )
        else:
            figure.supxlabel(note, fontsize=8)
        figure.suptitle(
            "广州各区经济规模（亿元，纵轴从 0 起；斜线 = 可靠性低 u）\n"
            "Guangzhou's districts: GDP and industry (100 million yuan, axis from 0; hatched = low reliability u)"
        )
        return figure


def district_figures(observations: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Observations with a value for Guangzhou's districts and the charted indicators, with the district names."""
    districts = regions[regions["parent_code"] == GUANGZHOU][["region_code", "name_zh", "name_en"]]
    codes = [indicator_code for indicator_code, _, _ in DISTRICT_ECONOMY_PANELS]
    rows = observations[observations["indicator_code"].isin(codes) & observations["value"].notna()]
    return rows.merge(districts, on="region_code", how="inner")


def most_authoritative(rows: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator, region and year: the source of the best authority rank, then the source id."""
    rank = sources.set_index("source_id")["authority"].map(AUTHORITY_RANK)
    ranked = rows.assign(authority_rank=rows["source_id"].map(rank).fillna(len(AUTHORITY_RANK) + 1))
    ordered = ranked.sort_values(["indicator_code", "region_code", "year", "authority_rank", "source_id"])
    return ordered.drop_duplicates(["indicator_code", "region_code", "year"])


def kind_colour(kind: str) -> str:
    """The bar colour of a publisher kind."""
    return KIND_COLOURS.get(kind, UNKNOWN_KIND_COLOUR)


def bar_panel(axes, rows: pd.DataFrame, title: str) -> None:
    """One bar per district (name and year below), hatched where flagged `u`, the value axis from 0."""
    axes.set_title(title, fontsize=9)
    axes.set_ylabel("亿元 100 million yuan")
    if rows.empty:
        no_data(axes)
        return
    labels = [f"{row.name_zh}\n{row.name_en}\n{row.year}" for row in rows.itertuples()]
    colours = [kind_colour(kind) for kind in rows["publisher_kind"]]
    bars = axes.bar(labels, rows["value"] / HUNDRED_MILLION, color=colours)
    for bar, status in zip(bars, rows["status"].astype(str), strict=True):
        if "u" in status:
            bar.set_hatch("//")
            bar.set_edgecolor(FLAG_COLOUR)
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelsize=7)


def city_dispersion_figure(dispersion: pd.DataFrame, catalog: pd.DataFrame) -> Figure:
    """CV and catalogue-weighted CV across Guangdong's cities, one panel per indicator, the value axis from 0."""
    rows = dispersion[
        (dispersion["parent_region_code"] == GUANGDONG)
        & (dispersion["unit_level"] == CITY_UNIT_LEVEL)
        & dispersion["measure"].isin(DISPERSION_MEASURE_LABELS)
    ]
    codes = sorted(rows["indicator_code"].unique())
    catalog_by_code = catalog.set_index("indicator_code")
    with matplotlib.rc_context(CHART_STYLE):
        figure = new_figure(5 * max(len(codes), 1), 5.4)
        panels = figure.subplots(1, max(len(codes), 1), squeeze=False).ravel()
        for axes, code in zip(panels, codes, strict=False):
            of_code = rows[rows["indicator_code"] == code]
            for measure, label in DISPERSION_MEASURE_LABELS.items():
                series = of_code[of_code["measure"] == measure]
                if not series.empty:
                    years, values = gapped_series(series)
                    axes.plot(years, values, marker="o" if measure == "cv" else "s", label=label)
            weights = str(catalog_by_code["weights"].get(code, "")) or "–"
            name_zh = catalog_by_code["name_zh"].get(code, code)
            name_en = catalog_by_code["name_en"].get(code, "")
            axes.set_title(f"{name_zh}\n{name_en}\n(权重 weights: {weights})", fontsize=9)
            finish_time_axes(axes, "变异系数 CV（纵轴从 0 起 axis from 0）", of_code.empty)
            axes.set_ylim(bottom=0)
        if not codes:
            no_data(panels[0])
        figure.suptitle(
            "广东各地级市之间的离散程度（下降 = 收敛）\nDispersion across Guangdong's prefecture cities (falling = converging)"
        )
        return figure
