"""What an operator does to a webhook beyond storage's plain changes: add one (its URL checked,
its signing secret made and kept encrypted) and send it a test event now.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.crypto import encrypt, previous_keys
from gateway.core.logs import log_event
from gateway.storage import tenants
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks.client import client_context, open_session, post
from gateway.webhooks.dispatcher import LEASE_MARGIN, conclude
from gateway.webhooks.schema import TEST, WebhookEvent, new_event_id, payload
from gateway.webhooks.urls import check_url

log = logging.getLogger("gateway.webhooks")


@dataclass(frozen=True, slots=True)
class TestResult:
    delivery_id: int
    event_id: str
    state: str
    attempt: store.NewAttempt

    @property
    def outcome(self) -> str:
        """`HTTP 200`, or what went wrong."""
        return self.attempt.error or f"HTTP {self.attempt.status_code}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


async def add(
    db: Database,
    secret_key: bytes,
    tenant: str,
    url: str,
    events: tuple[str, ...],
    *,
    allow_private: bool,
) -> tuple[store.WebhookInfo, str]:
    """Register a webhook for `tenant`; (the webhook, its signing secret in clear, shown once).
    `allow_private`: `WEBHOOK_ALLOW_PRIVATE` (see `check_url`)."""
    owner = await tenants.get_tenant(db, tenant)
    secret = new_secret()
    now = datetime.now(UTC)
    webhook_id = await store.insert_webhook(
        db, owner.id, check_url(url, allow_private), events, encrypt(secret_key, secret), now
    )
    log_event(log, "webhook-added", tenant=tenant, webhook=webhook_id, url=url)
    return await store.get_webhook(db, webhook_id), secret


async def send_test(
    db: Database, settings: Settings, secret_key: bytes, webhook_id: int
) -> TestResult:
    """POST a `test` event to a webhook now, once (not retried), and record the attempt."""
    webhook = await store.get_webhook(db, webhook_id)
    now = datetime.now(UTC)
    event = WebhookEvent(new_event_id(), TEST, 0, now)
    lease = ("test", now + timedelta(seconds=settings.webhook_timeout + LEASE_MARGIN))
    [delivery_id] = await store.insert_deliveries(
        db, [webhook.id], event.id, TEST, payload(event, webhook.tenant, now), now, lease
    )
    [claim] = await store.claimed(db, [delivery_id])
    async with open_session(client_context(settings), settings.webhook_allow_private) as session:
        keys = (secret_key, *previous_keys(settings))
        attempt = await post(session, claim, keys, settings.webhook_timeout)
    state = await conclude(db, settings, claim, attempt, retry=False)
    return TestResult(delivery_id, event.id, state, attempt)
