"""The release's charts, drawn with matplotlib and Noto Sans CJK SC; same data → same PNG bytes."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.publish.documents.answers import kind_label, source_publisher_kinds
from pipeline.publish.documents.card import STATUS_FLAGS

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

CJK_FONT_FAMILY = "Noto Sans CJK SC"
FALLBACK_FONT_FAMILY = "DejaVu Sans"  # matplotlib's own font, for any glyph the CJK font lacks
FONT_PACKAGE = "fonts-noto-cjk"
DPI = 100
# Same data → same bytes: no software/date chunks, fixed size and resolution (releases are content-hashed).
PNG_METADATA = {"Software": None}
INCOME_RATIO_INDICATOR = "urban_rural_income_ratio"
INCOME_RATIO_REGIONS = ["440100", "440000", "CN"]
URBANISATION_INDICATOR = "urbanisation_rate"
GUANGZHOU = "440100"
DISTRICT_LEVEL = "district"
DISTRICT_UNIT_LEVEL = "county_level"
DISPERSION_MEASURE_LABELS = {"cv": "变异系数 CV", "weighted_cv": "人口加权变异系数 population-weighted CV"}
# "Published" is any source's printed figure: a statistics office, a government page, a news report or self-media
# (the sources table and preferred_values say which); a single unofficial source is flagged u (red ring).
METHOD_LABELS = {"derived": "本数据集推算 derived here", "published": "来源公布值 published by a source"}
# The legend names each series' publisher kinds (the grading rule's, pipeline/validate/grades.py).
KIND_PREFIXES = {"derived": "输入来自 inputs from", "published": "发布者 by"}
# Derived and published values stay visibly apart: solid line and filled circles vs dashed line and open squares.
METHOD_STYLES: dict[str, dict[str, Any]] = {
    "derived": {"linestyle": "-", "marker": "o", "markersize": 6},
    "published": {"linestyle": "--", "marker": "s", "markersize": 7, "markerfacecolor": "none"},
}
FLAG_COLOUR = "#c0392b"
METHOD_NOTE = (
    "实线·实心点 = 本数据集由城乡收入推算 derived here from urban and rural income; "
    "虚线·空心方块 = 来源公布值，照原样抄录 published as printed by its source;\n"
    "图例注明各系列来源的发布者类型 the legend names the publisher kinds of each series' sources; 红圈 = 单一非官方来源 u"
)
DISTRICT_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*"]
NO_DATA_TEXT = "本版本无数据 · no data in this release"
CHART_STYLE: dict[RcKeyType, Any] = {
    "font.family": [CJK_FONT_FAMILY, FALLBACK_FONT_FAMILY],
    "font.size": 10,
    "axes.unicode_minus": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


class MissingFontError(RuntimeError):
    """No CJK font is installed, so Chinese labels would be drawn as empty boxes."""


def png_data_uri(png: bytes) -> str:
    """A PNG as a data: URI, for HTML and Markdown without a separate file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cjk_font_path() -> str:
    """The file of Noto Sans CJK SC, registering it with matplotlib if its font cache predates the install."""
    properties = font_manager.FontProperties(family=CJK_FONT_FAMILY)
    try:
        return str(font_manager.findfont(properties, fallback_to_default=False))
    except ValueError:
        pass
    for path in font_manager.findSystemFonts():
        if "cjk" in path.lower():
            font_manager.fontManager.addfont(path)
    try:
        return str(font_manager.findfont(properties, fallback_to_default=False, rebuild_if_missing=False))
    except ValueError as error:
        raise MissingFontError(
            f"the charts need the font {CJK_FONT_FAMILY!r} for their Chinese labels and it is not installed; "
            f"install the Debian package {FONT_PACKAGE} (`sudo apt-get install -y {FONT_PACKAGE}`, or `make system-packages` "
            "as root), then run again"
        ) from error


def colormap_colours(name: str) -> tuple[tuple[float, float, float], ...]:
    """The colours of a listed colormap such as tab10, in order (the stubs type them as any array-like)."""
    return cast(tuple[tuple[float, float, float], ...], cast(ListedColormap, matplotlib.colormaps[name]).colors)


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas (no pyplot, no display), drawn with the CJK font."""
    cjk_font_path()
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def chart_png(builder, *tables: pd.DataFrame) -> bytes:
    """Draw a chart with the house style and the CJK font, and return its PNG bytes."""
    with matplotlib.rc_context(CHART_STYLE):
        return png_bytes(builder(*tables))


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes: fixed dpi, no timestamp or software chunk, so the same data gives the same bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def income_ratio_figure(indicators: pd.DataFrame, regions: pd.DataFrame, sources: pd.DataFrame) -> Figure:
    """Chart 1: the income ratio of each region over time, one colour per region, one line style per method.

    Each legend entry names its series' publisher kinds (a published value's source; a derived value's inputs).
    """
    with matplotlib.rc_context(CHART_STYLE):
        figure = new_figure(10, 5.6)
        axes = figure.add_subplot()
        rows = indicators[
            (indicators["indicator_code"] == INCOME_RATIO_INDICATOR)
            & indicators["region_code"].isin(INCOME_RATIO_REGIONS)
        ]
        names = region_names(regions)
        colours = colormap_colours("tab10")
        flagged_parts = []
        for position, region_code in enumerate(INCOME_RATIO_REGIONS):
            for method, style in METHOD_STYLES.items():
                series = rows[(rows["region_code"] == region_code) & (rows["method"] == method)]
                if series.empty:
                    continue
                years, values = gapped_series(series)
                label = (
                    f"{names.get(region_code, region_code)} {region_code} · {METHOD_LABELS.get(method, method)}\n"
                    f"{KIND_PREFIXES.get(method, '')}: {series_kind_label(series, sources)}"
                )
                axes.plot(years, values, color=colours[position], label=label, **style)
                flagged_parts.append(series[series["status"].astype(str) != ""])
        flagged = pd.concat(flagged_parts) if flagged_parts else rows.iloc[0:0]
        mark_flagged(axes, flagged)
        axes.set_title(
            "城乡居民人均可支配收入比（城镇 ÷ 农村）\nUrban–rural per-capita disposable income ratio (urban ÷ rural)"
        )
        finish_time_axes(axes, "倍 ratio（纵轴从 1 起 = 持平 · axis from 1 = parity）", rows.empty)
        axes.set_ylim(bottom=1)
        figure.supxlabel(f"{METHOD_NOTE}\n{flag_note(flagged)}", fontsize=8)
        return figure


def district_urbanisation_figure(values: pd.DataFrame, regions: pd.DataFrame, dispersion: pd.DataFrame) -> Figure:
    """Chart 2: each Guangzhou district's urbanisation rate by year (left) and the districts' CV by year (right)."""
    with matplotlib.rc_context(CHART_STYLE):
        figure = new_figure(13, 5.6)
        left, right = figure.subplots(1, 2, width_ratios=[1.6, 1])
        districts = regions[(regions["parent_code"] == GUANGZHOU) & (regions["level"] == DISTRICT_LEVEL)]
        rates = values[
            (values["indicator_code"] == URBANISATION_INDICATOR) & values["region_code"].isin(districts["region_code"])
        ]
        colours = colormap_colours("tab20")
        for position, district in enumerate(districts.sort_values("region_code").itertuples()):
            series = rates[rates["region_code"] == district.region_code]
            if series.empty:
                continue
            years, rate = gapped_series(series)
            label = f"{district.name_zh} {district.name_en}"
            left.plot(
                years,
                rate,
                marker=DISTRICT_MARKERS[position % len(DISTRICT_MARKERS)],
                markersize=4,
                color=colours[(2 * position) % len(colours) + (2 * position) // len(colours) % 2],
                label=label,
            )
        left.set_title("广州各区常住人口城镇化率\nUrbanisation rate of Guangzhou's districts")
        finish_time_axes(
            left,
            "% 城镇人口占常住人口 urban share of residents",
            rates.empty,
            legend_placement={"loc": "center left", "bbox_to_anchor": (1.0, 0.5)},
        )
        spread = dispersion[
            (dispersion["indicator_code"] == URBANISATION_INDICATOR)
            & (dispersion["parent_region_code"] == GUANGZHOU)
            & (dispersion["unit_level"] == DISTRICT_UNIT_LEVEL)
            & dispersion["measure"].isin(DISPERSION_MEASURE_LABELS)
        ]
        for measure, label in DISPERSION_MEASURE_LABELS.items():
            series = spread[spread["measure"] == measure]
            if not series.empty:
                years, measure_values = gapped_series(series)
                right.plot(years, measure_values, marker="o", label=label)
        right.set_title("区际差异：城镇化率的变异系数\nDispersion across districts (coefficient of variation)")
        finish_time_axes(right, "变异系数 CV (std ÷ mean)（纵轴从 0 起 · axis from 0）", spread.empty)
        right.set_ylim(bottom=0)
        if not spread.empty:
            counts = sorted(set(spread["n_units"].astype(int)))
            right.annotate(
                f"参与计算的区数 districts with a value: {', '.join(map(str, counts))}",
                (0.0, -0.2),
                xycoords="axes fraction",
                fontsize=8,
            )
        return figure


def paired_city_figure(paired: pd.DataFrame, regions: pd.DataFrame, catalog: pd.DataFrame) -> Figure:
    """Chart 3: Guangzhou ÷ each paired city by year, one small panel per indicator, a reference line at 1."""
    codes = sorted(paired["indicator_code"].unique())
    columns = 2
    rows = max((len(codes) + columns - 1) // columns, 1)
    with matplotlib.rc_context(CHART_STYLE):
        figure = new_figure(12, 1.2 + 2.9 * rows)
        panels = figure.subplots(rows, columns, squeeze=False).ravel()
        names = region_names(regions)
        indicator_names = catalog.set_index("indicator_code")["name_zh"].to_dict()
        cities = sorted(paired["region_code"].unique())
        colours = colormap_colours("tab10")
        flagged_parts = [paired.iloc[0:0]]
        for axes, code in zip(panels, codes, strict=False):
            rows_of_code = paired[paired["indicator_code"] == code]
            for position, city in enumerate(cities):
                series = rows_of_code[rows_of_code["region_code"] == city]
                if series.empty:
                    continue
                years, ratio = gapped_series(series)
                axes.plot(years, ratio, marker="o", color=colours[position], label=f"{names.get(city, city)} {city}")
            flagged_rows = rows_of_code[rows_of_code["status"].astype(str) != ""]
            mark_flagged(axes, flagged_rows)
            flagged_parts.append(flagged_rows)
            axes.axhline(1.0, color="grey", linewidth=0.8)
            axes.set_title(f"{indicator_names.get(code, code)}\n{code}", fontsize=9)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylabel("广州 ÷ 该市 Guangzhou ÷ city", fontsize=8)
        for axes in panels[len(codes) :]:
            axes.set_axis_off()
        if codes:
            handles, labels = panels[0].get_legend_handles_labels()
            figure.legend(
                handles,
                labels,
                loc="outside lower center",
                ncols=max(len(labels), 1),
                fontsize=9,
                title=flag_note(pd.concat(flagged_parts)),
                title_fontsize=8,
            )
        else:
            panels[0].set_axis_on()
            no_data(panels[0])
        figure.suptitle(
            f"{names.get(GUANGZHOU, '广州市')}与对口城市之比（1 = 持平）\nGuangzhou ÷ paired city, by indicator (1 = parity)"
        )
        return figure


def series_kind_label(series: pd.DataFrame, sources: pd.DataFrame) -> str:
    """The publisher kinds of every source a series rests on, in words (e.g. 新闻报道 news report)."""
    kinds = {part for kinds in source_publisher_kinds(series["source_ids"], sources) for part in kinds.split(";")}
    return kind_label(";".join(sorted(kinds)))


def gapped_series(series: pd.DataFrame) -> tuple[list[int], list[float]]:
    """Years and values with every missing year in between as NaN, so a line breaks at a gap instead of bridging it."""
    by_year = series.groupby("year")["value"].mean().sort_index()
    years = list(range(int(by_year.index.min()), int(by_year.index.max()) + 1))
    return years, [float(value) for value in by_year.reindex(years)]


def mark_flagged(axes, flagged: pd.DataFrame) -> None:
    """An open red ring and the flag letters at every flagged value (e.g. `u` low reliability)."""
    for row in flagged.sort_values(["year", "value"]).itertuples():
        axes.scatter(
            [row.year], [row.value], s=220, facecolors="none", edgecolors=FLAG_COLOUR, linewidths=1.6, zorder=5
        )
        axes.annotate(
            str(row.status),
            (row.year, row.value),
            xytext=(9, 7),
            textcoords="offset points",
            color=FLAG_COLOUR,
            fontweight="bold",
        )


def flag_note(flagged: pd.DataFrame) -> str:
    """The line under a chart naming the status flags it marks."""
    letters = sorted({letter for status in flagged["status"].astype(str) for letter in status})
    flags = "; ".join(f"{letter} = {' '.join(STATUS_FLAGS.get(letter, (letter, '')))}" for letter in letters)
    return f"红圈 = 有标记的数值 flagged value: {flags}." if flags else "本图无标记值 no flagged value shown."


def finish_time_axes(axes, y_label: str, empty: bool, legend_placement: dict | None = None) -> None:
    """Year on x (whole years), the y label, and a legend, or a 'no data' note when the panel is empty."""
    axes.set_xlabel("年份 year")
    axes.set_ylabel(y_label)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if empty:
        no_data(axes)
    else:
        axes.legend(**(legend_placement or {"loc": "best"}), fontsize=8)


def no_data(axes) -> None:
    """A centred 'no data' note on an empty panel."""
    axes.text(0.5, 0.5, NO_DATA_TEXT, transform=axes.transAxes, ha="center", va="center", color="grey")


def region_names(regions: pd.DataFrame) -> dict[str, str]:
    """Region code → Chinese name."""
    return dict(zip(regions["region_code"], regions["name_zh"], strict=True))
