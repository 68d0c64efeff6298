"""`gateway.storage.leases`: a named lease is held by one owner at a time, until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.storage import leases
from gateway.storage.database import Database


async def test_only_one_instance_holds_a_lease(db: Database) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(seconds=30)
    assert await leases.acquire_lease(db, "identity-sync", "a", now, later)
    assert not await leases.acquire_lease(db, "identity-sync", "b", now, later)
    assert await leases.acquire_lease(db, "identity-sync", "a", now, later)
    assert await leases.acquire_lease(db, "identity-sync", "b", later + timedelta(seconds=1), later)
