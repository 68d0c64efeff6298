"""Idempotency keys on SQLite and PostgreSQL: of concurrent requests with one key exactly one
takes it; a key a day old is taken afresh; keys are per tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.identity import accounts
from gateway.storage import idempotency
from gateway.storage.database import Database

NOW = datetime.now(UTC)
SINCE = NOW - idempotency.KEPT_FOR


async def test_of_concurrent_requests_exactly_one_takes_the_key(db: Database) -> None:
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    found = await asyncio.gather(
        *(idempotency.take(db, tenant_id, "k", "f", NOW, SINCE) for _ in range(12))
    )
    assert found.count(None) == 1
    assert {t.fingerprint for t in found if t is not None} == {"f"}


async def test_an_answer_is_kept_and_a_key_given_back_is_free(db: Database) -> None:
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    assert await idempotency.take(db, tenant_id, "k", "f", NOW, SINCE) is None
    waiting = await idempotency.take(db, tenant_id, "k", "f", NOW, SINCE)
    assert waiting is not None
    assert waiting.status is None
    await idempotency.keep(db, tenant_id, "k", 202, b'{"id": "x"}')
    assert await idempotency.take(db, tenant_id, "k", "f", NOW, SINCE) == idempotency.Taken(
        "f", 202, b'{"id": "x"}', NOW
    )
    assert await idempotency.take(db, tenant_id, "other", "f", NOW, SINCE) is None
    await idempotency.give_back(db, tenant_id, "other")
    assert await idempotency.take(db, tenant_id, "other", "g", NOW, SINCE) is None


async def test_a_key_a_day_old_is_taken_afresh_and_keys_are_per_tenant(db: Database) -> None:
    acme = (await accounts.create_tenant(db, "acme")).id
    globex = (await accounts.create_tenant(db, "globex")).id
    old = NOW - timedelta(hours=25)
    assert await idempotency.take(db, acme, "k", "f", old, old - idempotency.KEPT_FOR) is None
    await idempotency.keep(db, acme, "k", 202, b"{}")
    assert await idempotency.take(db, globex, "k", "f", NOW, SINCE) is None
    assert await idempotency.take(db, acme, "k", "new", NOW, SINCE) is None
    again = await idempotency.take(db, acme, "k", "new", NOW, SINCE)
    assert again == idempotency.Taken("new", None, None, NOW)
