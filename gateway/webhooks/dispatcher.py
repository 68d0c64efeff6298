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

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from config import Settings
from gateway.core import metrics
from gateway.core.crypto import previous_keys
from gateway.core.logs import log_event, utc_iso
from gateway.delivery.worker import backoff
from gateway.feedback import alerts
from gateway.runtime.claims import ClaimLoop
from gateway.storage import webhooks as store
from gateway.storage.campaigns import campaign_of
from gateway.storage.database import Database
from gateway.webhooks.client import CONCURRENCY, client_context, open_session, post
from gateway.webhooks.schema import WebhookEvent, payload

if TYPE_CHECKING:
    import aiohttp

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
    campaign_id = await campaign_of(db, event.queue_id) if event.queue_id else None
    body = payload(event, tenant, now, campaign_id)
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
        self._session: aiohttp.ClientSession | None = None
        self._claims: ClaimLoop[store.Claim] = ClaimLoop(
            "webhook",
            self._claim,
            self._deliver,
            lambda claim: str(claim.delivery_id),
            concurrency=CONCURRENCY,
            batch=CONCURRENCY,
            poll_interval=settings.delivery_poll_interval,
            log=log,
        )

    def wake(self) -> None:
        """Deliveries are due: claim now rather than at the next poll."""
        self._claims.wake()

    async def stop(self) -> None:
        """Stop claiming; `run()` then lets the POSTs in flight finish and returns."""
        await self._claims.stop()

    async def run(self) -> None:
        try:
            async with open_session(self._context, self._settings.webhook_allow_private) as session:
                self._session = session
                await self._claims.run()
        finally:
            await store.release(self._db, self._owner)

    async def _claim(self, limit: int) -> list[store.Claim]:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self._settings.webhook_timeout + LEASE_MARGIN)
        return await store.claim(self._db, self._owner, limit, now, until)

    async def _deliver(self, claim: store.Claim) -> None:
        assert self._session is not None
        attempt = await post(
            self._session, claim, self._secret_keys, self._settings.webhook_timeout
        )
        try:
            await conclude(self._db, self._settings, claim, attempt, retry=True)
        except Exception:
            # The lease runs out and the delivery is tried again: a duplicate, never a loss.
            log.exception("recording webhook delivery %s failed", claim.delivery_id)


async def purge(db: Database, settings: Settings) -> None:
    """Finished deliveries go `EVENT_RETENTION_DAYS` after they were queued, like events."""
    keep = timedelta(days=settings.event_retention_days)
    purged = await store.purge(db, datetime.now(UTC) - keep)
    if purged:
        log_event(log, "webhook-deliveries-purged", count=purged)
