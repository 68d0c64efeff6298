"""Clean-up by the workers: every hour, old SES and tracking events, old failed-login records and
the send API's idempotency keys past their day; every half minute, paused tenants' queued
messages set aside as held;
at start and every day, message content sealed again under the current `SECRET_KEY` (after a key
rotation, or stored in clear before encryption at rest), unless a round already found all of it
under that key: what is written since is sealed under it anyway."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.crypto import Sealer
from gateway.core.logs import log_event
from gateway.feedback import events
from gateway.storage import content, idempotency, logins, markers, queue, tracking
from gateway.storage.database import Database

log = logging.getLogger("gateway.housekeeping")

INTERVAL = 3600.0
RESEAL_INTERVAL = 86400.0
"""A round reads every stored body and header copy's first bytes, so not often: a rotation needs
a restart, and a round runs at every start."""
RESEAL_LEASE = "reseal"
RESEALED = "content-sealed-under"
SEALED_FIELDS = 2
"""Which fields a round seals (1: bodies and header copies; 2: and body chunks and subjects):
raised when a field is added, so that a round runs again under a key already complete."""
"""The marker naming the key (its id, as sealed values begin) the last complete round left every
body and header copy under."""
RESEAL_LEASE_TTL = 600.0
"""Short, so that a worker restarted with a new key runs a round at once: the lease only keeps
workers started together from reading everything at the same time (two rounds at once are
harmless)."""


async def tidy(db: Database, settings: Settings, now: datetime | None = None) -> None:
    """SES and tracking events past `EVENT_RETENTION_DAYS`; failed logins too old to count
    towards a lockout; idempotency keys older than `idempotency.KEPT_FOR`."""
    now = now or datetime.now(UTC)
    purged = await events.purge(db, settings, now)
    tracked = await tracking.purge_events(db, now - timedelta(days=settings.event_retention_days))
    forgotten = timedelta(seconds=settings.auth_failure_window + settings.auth_lockout)
    await logins.purge_failures(db, now - forgotten)
    keys = await idempotency.purge(db, now - idempotency.KEPT_FOR)
    if purged:
        log_event(log, "events-purged", count=purged)
    if tracked:
        log_event(log, "tracking-events-purged", count=tracked)
    if keys:
        log_event(log, "idempotency-keys-purged", count=keys)


HOLD_INTERVAL = 30.0


async def hold_paused(db: Database) -> int:
    """Set the queued messages of paused tenants aside (`queue.hold`): after a pause by the
    reputation guard, which only sets the flag in the middle of handling an SES event, and after
    a send in flight during a pause was deferred."""
    held = await queue.hold_paused(db)
    if held:
        log_event(log, "messages-held", count=held)
    return held


async def reseal(db: Database, sealer: Sealer, *, everything: bool = False) -> int:
    """Seal every body (and body chunk), header copy and subject not sealed under the current
    key again (those under a key of `PREVIOUS_SECRET_KEYS`, or in clear), a batch per
    transaction; return how many. Nothing to read when the last complete round was under the
    current key, unless `everything` (`secrets rotate`, given an old key the workers lacked:
    their round left what it could not open)."""
    key = f"{sealer.prefix.hex()}/{SEALED_FIELDS}"
    if not everything and await markers.get(db, RESEALED) == key:
        return 0
    after: str | None = ""
    total = 0
    while after is not None:
        after, count = await content.reseal(db, sealer, after)
        total += count
    await markers.put(db, RESEALED, key, datetime.now(UTC))
    if total:
        log_event(log, "content-resealed", count=total)
    return total
