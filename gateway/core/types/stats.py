"""Counts and time series for the dashboard and the reputation guard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Counts:
    """What happened to mail in a time span (`gateway.storage.stats` says what each counts)."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    complained: int = 0
    opened: int = 0
    clicked: int = 0
    rejected: int = 0
    deferred: int = 0


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start: datetime
    """The bucket is [start, start + bucket)."""
    counts: Counts


@dataclass(frozen=True, slots=True)
class Series:
    since: datetime
    until: datetime
    bucket: timedelta
    points: tuple[SeriesPoint, ...]
    """Every bucket from `since`, empty ones included; the last may end after `until`, but
    counts nothing from `until` on."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Bounces and complaints over a window of sends, as the reputation guard counts them."""

    sends: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sends if self.sends else 0.0
