"""Jinja2 for the panel: autoescaped templates, how dates read (`Jan 17 2026 14:03 UTC`, with
relative words only beside them), durations (`24 h`) and commands in a sentence (`` `sns setup` ``
as code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from gateway.core.times import spoken_duration

_BACKTICKED = re.compile(r"`([^`]+)`")


def when(moment: datetime | None, seconds: bool = False) -> str:
    """`Jan 17 2026 14:03 UTC`, or with `seconds` `Jan 17 2026 14:03:09 UTC`."""
    if moment is None:
        return "—"
    moment = moment.astimezone(UTC)
    clock = f"{moment:%H:%M:%S}" if seconds else f"{moment:%H:%M}"
    return f"{moment:%b} {moment.day} {moment:%Y} {clock} UTC"


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


def timestamp(moment: datetime | None, seconds: bool = False, short: bool = False) -> Markup:
    """`<time>` with the absolute date (to the second with `seconds`), and the relative words
    beside it (`short`, in a table's column: on hover only), kept on one line (`.when`)."""
    if moment is None:
        return Markup("—")
    iso, relative = moment.astimezone(UTC).isoformat(), ago(moment)
    if short:
        return Markup('<time class="when" datetime="{}" title="{}">{}</time>').format(
            iso, relative, when(moment, seconds)
        )
    return Markup(
        '<span class="when"><time datetime="{}">{}</time> <span class="ago">({})</span></span>'
    ).format(iso, when(moment, seconds), relative)


def duration(seconds: float | None) -> str:
    """A setting or a span in seconds as people read it (`24 h`); `—` when there is none."""
    return "—" if seconds is None else spoken_duration(seconds)


def code(text: str | None) -> Markup:
    """A sentence with its `backticked` commands and names set as `<code>` (the rest escaped)."""
    if not text:
        return Markup("")
    parts = _BACKTICKED.split(str(text))
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if odd else escape(part)
        for odd, part in ((i % 2 == 1, part) for i, part in enumerate(parts))
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
    env.filters.update(
        when=when,
        ago=ago,
        timestamp=timestamp,
        percent=percent,
        pairs=pairs,
        duration=duration,
        code=code,
    )
    return env
