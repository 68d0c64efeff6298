"""Jinja2 for the panel: autoescaped templates, and how dates read
(`Jan 17 2026 14:03 UTC`, with relative words only beside them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    moment = moment.astimezone(UTC)
    return f"{moment:%b} {moment.day} {moment:%Y %H:%M} UTC"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            words = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {words}" if future else f"{words} ago"
    return "just now"


def timestamp(moment: datetime | None) -> Markup:
    """`<time>` with the absolute date, and the relative words beside it."""
    if moment is None:
        return Markup("—")
    relative = ago(moment)
    return Markup('<time datetime="{}">{}</time> <span class="ago">({})</span>').format(
        moment.astimezone(UTC).isoformat(), when(moment), relative
    )


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def pairs(values: Any) -> list[tuple[str, str]]:
    """Options of a `<select>` whose values are their own labels."""
    return [(str(v), str(v)) for v in values]


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("admin.panel", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, timestamp=timestamp, percent=percent, pairs=pairs)
    return env
