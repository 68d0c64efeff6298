"""Webhook deliveries as stored: leases, recording, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.identity import accounts
from gateway.storage import webhooks as store
from gateway.storage.database import Database

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def queued(db: Database, event_id: str = "event-1") -> int:
    tenant = await accounts.create_tenant(db, "acme")
    webhook_id = await store.insert_webhook(
        db, tenant.id, "https://hooks.example/", (), "secret", NOW
    )
    [delivery_id] = await store.insert_deliveries(db, [webhook_id], event_id, "bounce", "{}", NOW)
    return delivery_id


def attempt(at: datetime, status: int | None) -> store.NewAttempt:
    return store.NewAttempt(at, status, "", None if status == 200 else "down", 5)


async def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(db: Database) -> None:
    delivery_id = await queued(db)
    until = NOW + timedelta(seconds=40)
    [claim] = await store.claim(db, "one", 10, NOW, until)
    assert (claim.delivery_id, claim.attempts, claim.event_type) == (delivery_id, 1, "bounce")
    assert await store.claim(db, "two", 10, NOW + timedelta(seconds=39), until) == []
    [again] = await store.claim(db, "two", 10, NOW + timedelta(seconds=41), until)
    assert again.attempts == 2


async def test_a_released_lease_is_claimed_at_once(db: Database) -> None:
    await queued(db)
    await store.claim(db, "one", 10, NOW, NOW + timedelta(minutes=1))
    await store.release(db, "one")
    assert len(await store.claim(db, "two", 10, NOW, NOW + timedelta(minutes=1))) == 1


async def test_a_failed_attempt_waits_for_its_next_time(db: Database) -> None:
    delivery_id = await queued(db)
    [claim] = await store.claim(db, "one", 10, NOW, NOW + timedelta(minutes=1))
    later = NOW + timedelta(seconds=30)
    await store.record(db, delivery_id, attempt(NOW, 500), store.PENDING, later)
    assert await store.claim(db, "one", 10, later - timedelta(seconds=1), later) == []
    [retry] = await store.claim(db, "one", 10, later, later + timedelta(minutes=1))
    await store.record(db, delivery_id, attempt(later, 200), store.DELIVERED, None)
    assert await store.claim(db, "one", 10, later + timedelta(days=1), later) == []
    attempts = await store.list_attempts(db, claim.webhook_id)
    assert [(a.status_code, a.state) for a in attempts] == [(200, "delivered"), (500, "delivered")]
    assert retry.attempts == 2


async def test_finished_deliveries_are_purged_pending_ones_kept(db: Database) -> None:
    finished = await queued(db)
    await store.record(db, finished, attempt(NOW, 200), store.DELIVERED, None)
    [webhook] = await store.list_webhooks(db)
    await store.insert_deliveries(db, [webhook.id], "event-2", "bounce", "{}", NOW)
    assert await store.purge(db, NOW + timedelta(seconds=1), chunk=1) == 1
    assert await store.list_attempts(db, webhook.id) == []
    assert len(await store.claim(db, "one", 10, NOW, NOW + timedelta(minutes=1))) == 1
