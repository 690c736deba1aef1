"""Charts: Chinese labels drawn with Noto Sans CJK SC (never boxes), derived and published apart, same data → same bytes."""

from __future__ import annotations

import math
import struct
import warnings

import matplotlib
import pandas as pd
import pytest
from matplotlib import font_manager

from pipeline.publish.documents import charts
from pipeline.publish.documents.charts import (
    CHART_STYLE,
    DPI,
    MissingFontError,
    chart_png,
    cjk_font_path,
    district_urbanisation_figure,
    gapped_series,
    income_ratio_figure,
    paired_city_figure,
)
from tests.support.made_up_charts import (
    CATALOG,
    PNG_SIGNATURE,
    REGIONS,
    SOURCES,
    made_up_dispersion,
    made_up_indicators,
    made_up_paired,
    made_up_values,
)

CHART_INPUTS = {
    "income_ratio": (income_ratio_figure, lambda: (made_up_indicators(), REGIONS, SOURCES)),
    "district_urbanisation": (
        district_urbanisation_figure,
        lambda: (made_up_values(), REGIONS, made_up_dispersion()),
    ),
    "paired_cities": (paired_city_figure, lambda: (made_up_paired(), REGIONS, CATALOG)),
}


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG file."""
    assert data[:8] == PNG_SIGNATURE
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def test_the_cjk_font_is_noto_sans_cjk_sc_and_the_chart_style_resolves_to_it():
    path = cjk_font_path()
    assert "NotoSansCJK" in path
    with matplotlib.rc_context(CHART_STYLE):
        found = font_manager.findfont(font_manager.FontProperties(family=CHART_STYLE["font.family"]))
    assert str(found) == path
    assert font_manager.get_font(found).family_name == "Noto Sans CJK SC"


@pytest.mark.parametrize("name", list(CHART_INPUTS))
def test_every_label_of_a_chart_is_drawn_with_the_cjk_font_and_no_glyph_is_missing(name):
    builder, inputs = CHART_INPUTS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = chart_png(builder, *inputs())
        with matplotlib.rc_context(CHART_STYLE):
            figure = builder(*inputs())
            figure.canvas.draw()
            texts = [text for text in figure.findobj(matplotlib.text.Text) if text.get_text().strip()]
            fonts = {font_manager.findfont(text.get_fontproperties()) for text in texts}
            families = {font_manager.get_font(font).family_name for font in fonts}
    # matplotlib warns "Glyph … missing from font(s)" whenever it would draw a box instead of a character.
    assert not [str(warning.message) for warning in caught if "missing from font" in str(warning.message)]
    assert any(any("\u4e00" <= character <= "\u9fff" for character in text.get_text()) for text in texts)
    assert families == {"Noto Sans CJK SC"}  # regular and bold faces of the one family
    assert png[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("name", list(CHART_INPUTS))
def test_the_same_data_gives_the_same_bytes_with_no_timestamp_or_software_chunk(name):
    builder, inputs = CHART_INPUTS[name]
    first, second = chart_png(builder, *inputs()), chart_png(builder, *inputs())
    assert first == second
    chunks = png_chunks(first)
    kinds = [kind for kind, _ in chunks]
    assert b"tIME" not in kinds
    assert not [payload for kind, payload in chunks if kind in (b"tEXt", b"iTXt") and b"Software" in payload]
    width, height = struct.unpack(">II", chunks[0][1][:8])
    figure_width, figure_height = builder(*inputs()).get_size_inches()
    assert (width, height) == (round(figure_width * DPI), round(figure_height * DPI))


def test_different_data_gives_different_bytes():
    assert chart_png(income_ratio_figure, made_up_indicators(2.2), REGIONS, SOURCES) != chart_png(
        income_ratio_figure, made_up_indicators(2.3), REGIONS, SOURCES
    )


def test_derived_and_published_ratios_are_drawn_apart_and_the_flagged_value_is_ringed():
    with matplotlib.rc_context(CHART_STYLE):
        figure = income_ratio_figure(made_up_indicators(), REGIONS, SOURCES)
    axes = figure.axes[0]
    styles = {line.get_label().split("\n")[0]: (line.get_linestyle(), line.get_marker()) for line in axes.get_lines()}
    assert styles["广东省 440000 · 本数据集推算 derived here"] == ("-", "o")
    assert styles["广东省 440000 · 来源公布值 published by a source"] == ("--", "s")
    assert set(styles) >= {"广州市 440100 · 本数据集推算 derived here", "全国 CN · 本数据集推算 derived here"}
    rings = [collection.get_offsets().tolist() for collection in axes.collections]
    assert rings == [[[2022.0, 2.2]]]
    assert [text.get_text() for text in axes.texts] == ["u"]
    assert "u = 可靠性低 low reliability" in figure._supxlabel.get_text()


def test_each_legend_entry_names_the_publisher_kinds_of_its_sources_and_only_those():
    with matplotlib.rc_context(CHART_STYLE):
        figure = income_ratio_figure(made_up_indicators(), REGIONS, SOURCES)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "广州市 440100 · 来源公布值 published by a source\n发布者 by: 新闻报道 news report" in legend
    assert (
        "广州市 440100 · 本数据集推算 derived here\n输入来自 inputs from: 自媒体、问答或博客 self-media, Q&A or blog"
        " + 统计部门 statistics office"
    ) in legend
    assert "广东省 440000 · 来源公布值 published by a source\n发布者 by: 统计部门 statistics office" in legend
    # A statistics office is named only where a source of the series is one (the grading rule's publisher kind).
    with_bureau = {entry.split("\n")[0] for entry in legend if "统计部门" in entry}
    assert with_bureau == {
        "全国 CN · 本数据集推算 derived here",
        "广东省 440000 · 本数据集推算 derived here",
        "广东省 440000 · 来源公布值 published by a source",
        "广州市 440100 · 本数据集推算 derived here",
    }


def test_a_gap_between_years_stays_a_gap_in_the_line():
    series = pd.DataFrame({"year": [2013, 2014, 2016], "value": [2.7, 2.65, 2.6]})
    years, values = gapped_series(series)
    assert years == [2013, 2014, 2015, 2016]
    assert values[:2] == [2.7, 2.65] and math.isnan(values[2]) and values[3] == 2.6


@pytest.mark.parametrize("name", list(CHART_INPUTS))
def test_a_chart_without_data_still_renders_and_says_so(name):
    builder, inputs = CHART_INPUTS[name]
    empty = [frame.iloc[0:0] if frame is not REGIONS and frame is not CATALOG else frame for frame in inputs()]
    with matplotlib.rc_context(CHART_STYLE):
        figure = builder(*empty)
    texts = [text.get_text() for text in figure.findobj(matplotlib.text.Text)]
    assert charts.NO_DATA_TEXT in texts
    assert chart_png(builder, *empty)[:8] == PNG_SIGNATURE


def test_without_a_cjk_font_the_charts_fail_with_a_clear_error_instead_of_drawing_boxes(monkeypatch):
    def no_such_font(*args, **kwargs):
        raise ValueError("Failed to find font")

    monkeypatch.setattr(charts.font_manager, "findfont", no_such_font)
    monkeypatch.setattr(charts.font_manager, "findSystemFonts", lambda *args, **kwargs: [])
    with pytest.raises(MissingFontError, match=r"Noto Sans CJK SC.*fonts-noto-cjk"):
        chart_png(income_ratio_figure, made_up_indicators(), REGIONS, SOURCES)


def test_the_district_bars_are_coloured_by_publisher_kind_and_the_legend_names_only_the_kinds_shown():
    from pipeline.publish.documents.economy_charts import KIND_COLOURS, district_economy_figure

    observations = pd.DataFrame(  # MADE-UP figures: one district's GDP from the bureau, one from a news report
        {
            "indicator_code": "gdp",
            "region_code": ["440103", "440104"],
            "year": 2023,
            "value": [1.0e11, 2.0e11],
            "status": ["", "u"],
            "source_id": ["made_up", "made_up_news"],
        }
    )
    with matplotlib.rc_context(CHART_STYLE):
        figure = district_economy_figure(observations, REGIONS, SOURCES)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["统计部门 statistics office", "新闻报道 news report", "可靠性低 low reliability u"]
    bars = {patch.get_height(): patch for patch in figure.axes[0].patches}
    assert matplotlib.colors.to_hex(bars[1000.0].get_facecolor()) == KIND_COLOURS["statistics_office"]
    assert matplotlib.colors.to_hex(bars[2000.0].get_facecolor()) == KIND_COLOURS["news_report"]
    assert bars[2000.0].get_hatch() == "//" and not bars[1000.0].get_hatch()
