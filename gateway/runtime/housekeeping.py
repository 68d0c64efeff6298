"""Hourly clean-up by the workers: old SES and tracking events and old failed-login records."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.logs import log_event
from gateway.feedback import events
from gateway.storage import logins, tracking
from gateway.storage.database import Database

log = logging.getLogger("gateway.housekeeping")

INTERVAL = 3600.0


async def tidy(db: Database, settings: Settings, now: datetime | None = None) -> None:
    """SES and tracking events past `EVENT_RETENTION_DAYS`; failed logins too old to count
    towards a lockout."""
    now = now or datetime.now(UTC)
    purged = await events.purge(db, settings, now)
    tracked = await tracking.purge_events(db, now - timedelta(days=settings.event_retention_days))
    forgotten = timedelta(seconds=settings.auth_failure_window + settings.auth_lockout)
    await logins.purge_failures(db, now - forgotten)
    if purged:
        log_event(log, "events-purged", count=purged)
    if tracked:
        log_event(log, "tracking-events-purged", count=tracked)
