"""The queue of webhook deliveries: events queued for the webhooks that take them (`enqueue`),
claimed and POSTed by each worker process's `Dispatcher`, and each attempt's outcome recorded
(`conclude`).

The `Dispatcher` claims due deliveries under leases (so processes sharing PostgreSQL never send
one twice at once). A 2xx delivers. Anything else (another status, a redirect, a timeout, a
refused connection, a TLS failure) is retried with exponential backoff and jitter until
`WEBHOOK_MAX_AGE` after the event was queued, then given up (`failed`). A 410 Gone disables the
webhook and gives up its pending deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp

from config import Settings
from gateway.core import metrics
from gateway.core.crypto import previous_keys
from gateway.core.logs import log_event, utc_iso
from gateway.delivery.worker import backoff
from gateway.feedback import alerts
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks.client import CONCURRENCY, client_context, open_session, post
from gateway.webhooks.schema import WebhookEvent, payload

log = logging.getLogger("gateway.webhooks")

LEASE_MARGIN: Final = 30.0
"""A claim lasts `WEBHOOK_TIMEOUT` plus this, so it never runs out during its POST."""
PURGE_INTERVAL: Final = 3600.0


async def enqueue(db: Database, event: WebhookEvent) -> int:
    """Queue `event` for its tenant's enabled webhooks that take its type; how many deliveries
    were made (none for a webhook that has this event id queued already)."""
    tenant, webhook_ids = await store.subscribers(db, event.tenant_id, event.type)
    if not webhook_ids:
        return 0
    now = datetime.now(UTC)
    body = payload(event, tenant, now)
    return len(await store.insert_deliveries(db, webhook_ids, event.id, event.type, body, now))


async def conclude(
    db: Database, settings: Settings, claim: store.Claim, attempt: store.NewAttempt, retry: bool
) -> str:
    """Record `attempt` and the delivery's new state, which is returned: delivered on a 2xx;
    else pending until `WEBHOOK_MAX_AGE` (with `retry`), then failed. A 410 disables the webhook."""
    now = attempt.attempted_at
    next_attempt = None
    if attempt.error is None:
        state = store.DELIVERED
    elif attempt.status_code == 410:
        state = store.FAILED
    else:
        deadline = claim.created_at + timedelta(seconds=settings.webhook_max_age)
        state = store.PENDING if retry and now < deadline else store.FAILED
        delay = backoff(
            claim.attempts, settings.webhook_retry_base_delay, settings.webhook_retry_max_delay
        )
        next_attempt = min(now + timedelta(seconds=delay), deadline)
    await store.record(db, claim.delivery_id, attempt, state, next_attempt)
    metrics.webhook_attempts.labels(state).inc()
    fields: dict[str, Any] = {
        "webhook": claim.webhook_id,
        "event_id": claim.event_id,
        "attempts": claim.attempts,
        "status": attempt.status_code,
        "error": attempt.error,
    }
    if attempt.status_code == 410:
        reason = f"the endpoint answered 410 Gone on {utc_iso(now)}"
        await store.disable(db, claim.webhook_id, reason, now)
        log_event(log, "webhook-disabled", level=logging.WARNING, reason=reason, **fields)
    elif state == store.PENDING:
        retry_at = utc_iso(next_attempt) if next_attempt else None
        log_event(log, "webhook-retry", next_attempt=retry_at, **fields)
    else:
        level = logging.INFO if state == store.DELIVERED else logging.WARNING
        log_event(log, f"webhook-{state}", level=level, **fields)
    if attempt.error is not None and (retry or attempt.status_code == 410):
        await alerts.webhook_failing(db, claim, attempt, state, attempt.status_code == 410)
    return state


class Dispatcher:
    """Claims due deliveries and POSTs them, up to `CONCURRENCY` at once, until `stop()`."""

    def __init__(self, db: Database, settings: Settings, secret_key: bytes, owner: str) -> None:
        self._db = db
        self._settings = settings
        self._secret_keys = (secret_key, *previous_keys(settings))
        self._owner = owner
        self._context = client_context(settings)
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Stop claiming; `run()` then lets the POSTs in flight finish and returns."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        purger = asyncio.create_task(self._purge(), name="webhook-purge")
        try:
            async with open_session(self._context, self._settings.webhook_allow_private) as session:
                await self._claim_loop(session)
                if self._inflight:
                    await asyncio.wait(self._inflight)
        finally:
            purger.cancel()
            await asyncio.gather(purger, return_exceptions=True)
            await store.release(self._db, self._owner)

    async def _claim_loop(self, session: aiohttp.ClientSession) -> None:
        lease = timedelta(seconds=self._settings.webhook_timeout + LEASE_MARGIN)
        while not self._stopping:
            self._wake.clear()
            free = CONCURRENCY - len(self._inflight)
            claims: list[store.Claim] = []
            if free > 0:
                now = datetime.now(UTC)
                try:
                    claims = await store.claim(self._db, self._owner, free, now, now + lease)
                except Exception:
                    log.exception("claiming due webhook deliveries failed; trying again shortly")
                for claim in claims:
                    task = asyncio.create_task(
                        self._deliver(session, claim), name=f"webhook-{claim.delivery_id}"
                    )
                    self._inflight.add(task)
                    task.add_done_callback(self._done)
                if claims and len(claims) == free:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.delivery_poll_interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _deliver(self, session: aiohttp.ClientSession, claim: store.Claim) -> None:
        attempt = await post(session, claim, self._secret_keys, self._settings.webhook_timeout)
        try:
            await conclude(self._db, self._settings, claim, attempt, retry=True)
        except Exception:
            # The lease runs out and the delivery is tried again: a duplicate, never a loss.
            log.exception("recording webhook delivery %s failed", claim.delivery_id)

    async def _purge(self) -> None:
        """Finished deliveries go `EVENT_RETENTION_DAYS` after they were queued, like events."""
        keep = timedelta(days=self._settings.event_retention_days)
        while True:
            try:
                purged = await store.purge(self._db, datetime.now(UTC) - keep)
                if purged:
                    log_event(log, "webhook-deliveries-purged", count=purged)
            except Exception:
                log.exception("purging old webhook deliveries failed")
            await asyncio.sleep(PURGE_INTERVAL)
