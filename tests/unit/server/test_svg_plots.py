"""The server's SVG bar charts (server/svg_plots.py): well-formed SVG, text escaped, bars in
proportion, days over the limit and hours outside working hours in red, no inline style."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from facesearch.server.svg_plots import OVER, day_bars, hour_bars

NS = "{http://www.w3.org/2000/svg}"
DAYS = [date(2025, 3, 1) + timedelta(days=i) for i in range(4)]


def bars(svg: str) -> list[ET.Element]:
    """The bars: rects with a tooltip, but for the shaded working hours."""
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{NS}rect") if r.findtext(f"{NS}title") != "working hours"]


def test_day_bars_in_proportion_with_the_limit() -> None:
    svg = day_bars([0, 2, 4, 1], DAYS, limit=3, label="searches of alice")
    assert isinstance(svg, Markup) and "style=" not in svg
    found = bars(svg)
    heights = [float(r.get("height", "")) for r in found]
    assert heights[0] == 0 and heights[2] == 2 * heights[1] == 4 * heights[3]
    assert [r.get("fill") == OVER for r in found] == [False, False, True, False]
    assert [r.findtext(f"{NS}title") for r in found][1] == "2025-03-02: 2 searches"
    assert "limit: 3 a day" in svg and "01 Mar" in svg and "04 Mar" in svg
    assert "limit:" not in day_bars([0, 1, 2, 1], DAYS, limit=3, label="x")  # off the chart


def test_text_is_escaped() -> None:
    svg = day_bars([1, 0, 0, 0], DAYS, label='<script>alert("x")</script> & co')
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    assert root.get("aria-label") == '<script>alert("x")</script> & co'
    assert root.findtext(f"{NS}title") == '<script>alert("x")</script> & co'


def test_hour_bars_shade_the_working_hours() -> None:
    counts = [0] * 24
    counts[6], counts[7], counts[18], counts[19] = 1, 3, 2, 1
    svg = hour_bars(counts, (7 * 60 + 30, 19 * 60), label="by hour")
    root = ET.fromstring(svg)
    (shade,) = [r for r in root.iter(f"{NS}rect") if r.findtext(f"{NS}title") == "working hours"]
    found = bars(svg)
    assert len(found) == 24
    # the shade starts half-way into the 07:00 bar's slot and ends where the 19:00 one starts
    start, width = float(shade.get("x", "")), float(shade.get("width", ""))
    slot = float(found[8].get("x", "")) - float(found[7].get("x", ""))
    assert width == pytest.approx(11.5 * slot)
    assert start + width == pytest.approx(float(found[19].get("x", "")) - 2)
    red = [h for h, r in enumerate(found) if r.get("fill") == OVER]
    assert red == [*range(8), *range(19, 24)]  # 07:00-08:00 is only half inside
    assert found[18].findtext(f"{NS}title") == "18:00-19:00: 2 searches"


def test_one_value_per_day_and_per_hour() -> None:
    with pytest.raises(ValueError):
        day_bars([1, 2], DAYS, label="x")
    with pytest.raises(ValueError):
        hour_bars([1] * 23, (0, 60), label="x")


def test_hour_bars_shade_a_night_shift_on_both_sides_of_midnight() -> None:
    counts = [1] * 24
    svg = hour_bars(counts, (22 * 60, 6 * 60), label="by hour")
    root = ET.fromstring(svg)
    shades = [r for r in root.iter(f"{NS}rect") if r.findtext(f"{NS}title") == "working hours"]
    found = bars(svg)
    slot = float(found[1].get("x", "")) - float(found[0].get("x", ""))
    widths = sorted(float(r.get("width", "")) for r in shades)
    assert widths == [pytest.approx(2 * slot), pytest.approx(6 * slot)]
    red = [h for h, r in enumerate(found) if r.get("fill") == OVER]
    assert red == list(range(6, 22))
