"""Shared by the webhook tests: a real HTTPS receiver on loopback, a webhook that posts to it,
events to queue, and a dispatcher running while a block runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from gateway.core.types.events import EventFact
from gateway.identity import accounts
from gateway.storage import tenants
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks import manage
from gateway.webhooks.dispatcher import Dispatcher
from gateway.webhooks.schema import WebhookEvent, new_event_id
from tests.conftest import make_settings
from tests.support.webhookreceiver import Receiver

SECRET_KEY = b"webhook-test-secret-key"


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    found = Receiver(tmp_path / "receiver")
    yield found
    await found.stop()


def settings_for(tmp_path: Path, db: Database, receiver: Receiver, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_ca_file": receiver.ca_file,
        "webhook_retry_base_delay": 0.1,
        "webhook_retry_max_delay": 0.3,
        "webhook_timeout": 3,
        "webhook_allow_private": True,
    }
    return make_settings(tmp_path, db.url, **(values | overrides))


async def hook(
    db: Database, receiver: Receiver, tenant: str = "acme", events: tuple[str, ...] = ()
) -> store.WebhookInfo:
    """A webhook of `tenant` (made if needed) to the receiver, which learns its secret."""
    if tenant not in {t.name for t in await tenants.list_tenants(db)}:
        await accounts.create_tenant(db, tenant)
    webhook, secret = await manage.add(
        db, SECRET_KEY, tenant, receiver.url, events, allow_private=True
    )
    receiver.secret = secret
    return webhook


async def tenant_id(db: Database, name: str = "acme") -> int:
    return (await tenants.get_tenant(db, name)).id


def bounce(tenant: int, event_id: str | None = None) -> WebhookEvent:
    now = datetime.now(UTC)
    fact = EventFact("gone@example.org", now, bounce_type="Permanent", status="5.1.1")
    return WebhookEvent(event_id or new_event_id(), "bounce", tenant, now, None, "ses-1", (fact,))


@asynccontextmanager
async def dispatching(
    db: Database, settings: Settings, owner: str = "test"
) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(db, settings, SECRET_KEY, owner)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        await asyncio.wait_for(task, 10)


async def settle(db: Database, webhook_id: int, state: str, timeout: float = 15) -> None:
    """Wait until the webhook's latest attempt leaves its delivery in `state`."""
    deadline = time.monotonic() + timeout
    while True:
        attempts = await store.list_attempts(db, webhook_id)
        if attempts and attempts[0].state == state:
            return
        assert time.monotonic() < deadline, attempts
        await asyncio.sleep(0.05)
