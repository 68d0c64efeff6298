"""Clean-up by the workers: every hour, old SES and tracking events and old failed-login records;
at start and every day, message content sealed again under the current `SECRET_KEY` (after a key
rotation, or stored in clear before encryption at rest)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.crypto import Sealer
from gateway.core.logs import log_event
from gateway.feedback import events
from gateway.storage import content, logins, tracking
from gateway.storage.database import Database

log = logging.getLogger("gateway.housekeeping")

INTERVAL = 3600.0
RESEAL_INTERVAL = 86400.0
"""A round reads every stored body and header copy's first bytes, so not often: a rotation needs
a restart, and a round runs at every start."""
RESEAL_LEASE = "reseal"
RESEAL_LEASE_TTL = 600.0
"""Short, so that a worker restarted with a new key runs a round at once: the lease only keeps
workers started together from reading everything at the same time (two rounds at once are
harmless)."""


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


async def reseal(db: Database, sealer: Sealer) -> int:
    """Seal every body (and body chunk), header copy and subject not sealed under the current
    key again (those under a key of `PREVIOUS_SECRET_KEYS`, or in clear), a batch per
    transaction; return how many."""
    after: str | None = ""
    total = 0
    while after is not None:
        after, count = await content.reseal(db, sealer, after)
        total += count
    if total:
        log_event(log, "content-resealed", count=total)
    return total
