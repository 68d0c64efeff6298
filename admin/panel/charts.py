"""Charts over time as inline SVG: lines or stacked bars, one series per count, with the value
axis, date labels, a legend and a `<title>` tooltip per point or bar.

Only presentation attributes (`fill=`, `stroke=`, ...): the panel's CSP allows no inline style.
The output depends on the input alone, so equal data draws the same bytes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from markupsafe import Markup, escape

from admin.panel.render import when

WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 34, 30
"""The plot's margins: the value axis on the left, the legend on top, the dates below."""
MAX_DATE_LABELS = 7
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
AXIS = "#5d6778"
GRID = "#e4e8ef"


class Kind(StrEnum):
    LINES = "lines"
    BARS = "bars"
    """Stacked: each bar is the sum of its series."""


@dataclass(frozen=True, slots=True)
class Line:
    """One series: its legend, its colour, and a value per bucket."""

    label: str
    color: str
    values: Sequence[int]


def nice_top(largest: int) -> tuple[int, int]:
    """(top of the axis, step between its ticks): steps of 1, 2 or 5 times a power of ten,
    at most 4 of them."""
    rough = max(largest, 1) / 4
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return step * max(1, math.ceil(largest / step)), step


def compact(value: int) -> str:
    """An axis label: `950`, `12k`, `1.5M`."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (10_000, "k")):
        if value >= size:
            shown = value / (size if suffix != "k" else 1000)
            return f"{shown:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def date_label(start: datetime, bucket: timedelta) -> str:
    """`Jan 17` for buckets of a day or more, `Jan 17 14:00` for shorter ones (UTC)."""
    moment = start.astimezone(UTC)
    day = f"{moment:%b} {moment.day}"
    return day if bucket >= timedelta(days=1) else f"{day} {moment:%H:%M}"


def _tooltip(line: Line, value: int, start: datetime, bucket: timedelta) -> str:
    """`delivered: 1,234 in the hour from Jan 17 2026 14:00 UTC`."""
    return f"{line.label}: {value:,} in the {_duration(bucket)} from {when(start)}"


def _duration(bucket: timedelta) -> str:
    """`hour`, `day`, `15 minutes`."""
    seconds = int(bucket.total_seconds())
    units = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
    size, unit = next((size, unit) for size, unit in units if seconds % size == 0)
    count = seconds // size
    return unit if count == 1 else f"{count} {unit}s"


def _legend(lines: Sequence[Line]) -> list[str]:
    parts, x = [], LEFT
    for line in lines:
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" rx="2" fill="{line.color}"/>')
        parts.append(f'<text x="{x + 17}" y="18" fill="{AXIS}" {FONT}>{escape(line.label)}</text>')
        x += 30 + 7 * len(line.label)
    return parts


def _axes(top: int, step: int, starts: Sequence[datetime], bucket: timedelta) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for tick in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}" {FONT}>'
            f"{compact(tick)}</text>"
        )
    every = max(1, math.ceil(len(starts) / MAX_DATE_LABELS))
    slot = (WIDTH - LEFT - RIGHT) / max(len(starts), 1)
    for i in range(0, len(starts), every):
        x = LEFT + slot * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="{AXIS}" {FONT}>'
            f"{escape(date_label(starts[i], bucket))}</text>"
        )
    return parts


def _bars(
    lines: Sequence[Line], top: int, starts: Sequence[datetime], bucket: timedelta
) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / len(starts)
    width = max(slot * 0.7, 1.0)
    parts = []
    for i, start in enumerate(starts):
        base = 0
        for line in lines:
            value = line.values[i]
            if not value:
                continue
            height = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - height
            parts.append(
                f'<rect x="{LEFT + slot * i + (slot - width) / 2:.1f}" y="{y:.1f}" '
                f'width="{width:.1f}" height="{height:.1f}" fill="{line.color}">'
                f"<title>{escape(_tooltip(line, value, start, bucket))}</title></rect>"
            )
            base += value
    return parts


def _lines(
    lines: Sequence[Line], top: int, starts: Sequence[datetime], bucket: timedelta
) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / len(starts)
    parts = []
    for line in lines:
        points = [
            (LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * value / top)
            for i, value in enumerate(line.values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="2"/>'
        )
        for (x, y), value, start in zip(points, line.values, starts, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{line.color}">'
                f"<title>{escape(_tooltip(line, value, start, bucket))}</title></circle>"
            )
    return parts


def chart(
    title: str,
    starts: Sequence[datetime],
    bucket: timedelta,
    lines: Sequence[Line],
    kind: Kind = Kind.LINES,
) -> Markup:
    """The SVG of `lines` over the buckets starting at `starts` (each `bucket` long); when they
    count nothing, one line that says so instead."""
    for line in lines:
        if len(line.values) != len(starts):
            raise ValueError(f"{line.label}: {len(line.values)} values for {len(starts)} buckets")
    stacked = [sum(column) for column in zip(*(line.values for line in lines), strict=True)]
    singles = [v for line in lines for v in line.values]
    largest = max((stacked if kind is Kind.BARS else singles) or [0])
    if not (starts and largest):
        return Markup('<p class="chart-empty">{}: nothing in this range.</p>').format(title)
    top, step = nice_top(largest)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        *_legend(lines),
        *_axes(top, step, starts, bucket),
    ]
    parts += (_bars if kind is Kind.BARS else _lines)(lines, top, starts, bucket)
    parts.append("</svg>")
    return Markup("\n".join(parts))  # noqa: S704 - every text in it went through escape()
