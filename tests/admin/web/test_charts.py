"""The charts as inline SVG: well-formed, without inline style, deterministic, and drawn from the
data (empty, one bucket, large numbers, labels that need escaping)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from admin.panel.charts import Kind, Line, chart, compact, date_label, nice_top

T0 = datetime(2026, 1, 17, 14, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own output, under test


def tooltips(svg: str) -> list[str]:
    """The `<title>` of every point or bar (the chart's own title left out)."""
    root = parse(svg)
    shapes = [shape for shape in root if shape.tag != f"{SVG}title"]
    return [t.text or "" for shape in shapes for t in shape.iter(f"{SVG}title")]


@pytest.mark.parametrize("kind", list(Kind))
def test_a_chart_is_svg_with_presentation_attributes_only(kind: Kind) -> None:
    starts = [T0 + i * HOUR for i in range(3)]
    svg = chart("Outcomes", starts, HOUR, [Line("sent", "#123456", [1, 0, 4])], kind)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert "style" not in svg
    assert all("style" not in element.attrib for element in root.iter())
    assert 'fill="#123456"' in svg or 'stroke="#123456"' in svg
    assert svg == chart("Outcomes", starts, HOUR, [Line("sent", "#123456", [1, 0, 4])], kind)


def test_each_point_of_a_line_has_a_tooltip_with_its_value_and_date() -> None:
    starts = [T0, T0 + HOUR]
    svg = chart("Outcomes", starts, HOUR, [Line("delivered", "#0a0", [3, 0])])
    assert tooltips(svg) == [
        "delivered: 3 in the hour from Jan 17 2026 14:00 UTC",
        "delivered: 0 in the hour from Jan 17 2026 15:00 UTC",
    ]
    assert len(parse(svg).findall(f"{SVG}circle")) == 2


def test_bars_stack_their_series_and_skip_zeros() -> None:
    starts = [T0, T0 + DAY]
    lines = [Line("rejected", "#a00", [2, 0]), Line("deferred", "#aa0", [1, 5])]
    svg = chart("Refused", starts, DAY, lines, Kind.BARS)
    bars = parse(svg).findall(f"{SVG}rect")[len(lines) :]  # after the legend's swatches
    assert [b.attrib["fill"] for b in bars] == ["#a00", "#aa0", "#aa0"]
    first, on_top = bars[0], bars[1]
    assert float(on_top.attrib["y"]) + float(on_top.attrib["height"]) == pytest.approx(
        float(first.attrib["y"]), abs=0.11
    )
    assert "deferred: 5 in the day from Jan 18 2026 14:00 UTC" in tooltips(svg)


def test_an_empty_chart_is_one_line_that_says_so() -> None:
    for starts, values in (([], []), ([T0, T0 + HOUR], [0, 0])):
        said = chart("Engagement", starts, HOUR, [Line("opened", "#0aa", values)])
        assert said == '<p class="chart-empty">Engagement: nothing in this range.</p>'


def test_one_bucket_is_drawn_in_the_middle() -> None:
    svg = chart("One", [T0], HOUR, [Line("sent", "#00f", [7])])
    [point] = parse(svg).findall(f"{SVG}circle")
    assert float(point.attrib["cx"]) == pytest.approx((56 + 720 - 12) / 2)
    assert "Jan 17 14:00" in svg


def test_large_numbers_are_compact_on_the_axis_and_exact_in_tooltips() -> None:
    svg = chart("Big", [T0], DAY, [Line("sent", "#00f", [1_234_567])])
    labels = [t.text for t in parse(svg).findall(f"{SVG}text")]
    assert labels[-4:] == ["500k", "1M", "1.5M", "Jan 17"]
    assert "sent: 1,234,567 in the day from Jan 17 2026 14:00 UTC" in tooltips(svg)


def test_labels_and_titles_are_escaped() -> None:
    svg = chart('<b>"x"</b>', [T0], HOUR, [Line("a<script>&", "#000", [1])])
    assert "<script>" not in svg
    assert "<b>" not in svg
    root = parse(svg)
    assert root.attrib["aria-label"] == '<b>"x"</b>'
    assert "a<script>&" in [t.text for t in root.findall(f"{SVG}text")]


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 1 buckets"):
        chart("Bad", [T0], HOUR, [Line("sent", "#000", [1, 2])])


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (95, 100, 50), (1001, 1500, 500)],
)
def test_the_axis_top_is_a_round_number(largest: int, top: int, step: int) -> None:
    assert nice_top(largest) == (top, step)
    assert top // step <= 4


@pytest.mark.parametrize(
    ("value", "shown"), [(950, "950"), (9999, "9999"), (12_000, "12k"), (1_500_000, "1.5M")]
)
def test_compact_numbers(value: int, shown: str) -> None:
    assert compact(value) == shown


def test_dates_read_as_the_panel_writes_them() -> None:
    assert date_label(T0, HOUR) == "Jan 17 14:00"
    assert date_label(T0, DAY) == "Jan 17"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", date_label(T0 + 3 * DAY, DAY))
