"""Changes announced by storage: heard by this process at the commit (never on a rollback), and on
PostgreSQL by every other process's listener, but not by the announcer's own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from gateway.core.types.changes import Change, Topic
from gateway.identity import accounts
from gateway.storage import domains, networks, suppressions, tenants, webhooks
from gateway.storage.changes import Listener, announce
from gateway.storage.database import Database
from tests.conftest import add_verified_domain


async def test_a_change_is_heard_once_its_transaction_commits(db: Database) -> None:
    heard: list[Change] = []
    db.on_change = heard.append
    async with db.begin() as conn:
        await announce(db, conn, Change(Topic.TENANT, "7"), Change(Topic.QUEUED))
        assert heard == []  # not before the commit
    assert heard == [Change(Topic.TENANT, "7"), Change(Topic.QUEUED)]


async def test_a_change_rolled_back_is_never_heard(db: Database) -> None:
    heard: list[Change] = []
    db.on_change = heard.append

    async def rolled_back() -> None:
        async with db.begin() as conn:
            await announce(db, conn, Change(Topic.TENANT, "7"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await rolled_back()
    async with db.begin() as conn:
        await conn.execute(text("SELECT 1"))
    assert heard == []


async def test_the_writes_that_change_policy_facts_announce_them(db: Database) -> None:
    heard: list[Change] = []
    db.on_change = heard.append
    tenant = await accounts.create_tenant(db, "acme")
    new = await accounts.create_credential(db, "acme")
    credential = str(new.credential.id)
    await accounts.pause_tenant(db, "acme", "a test")
    await accounts.pause_tenant(db, "acme", None)
    await accounts.set_limits(db, "acme", {"max_per_day": 10})
    await accounts.pause_credential(db, new.credential.id, "a test")
    await tenants.revoke_credential(db, new.credential.id, datetime.now(UTC))
    now = datetime.now(UTC)
    await suppressions.add(db, [suppressions.Entry("a@example.org", None, "manual", "", now)])
    many = [suppressions.Entry(f"{n}@example.org", None, "manual", "", now) for n in range(11)]
    await suppressions.add(db, many)
    await suppressions.remove(db, "a@example.org", None)
    await networks.add_network(db, tenant.id, "192.0.2.0/24", now)
    hook = await webhooks.insert_webhook(db, tenant.id, "https://hooks.example/", (), "s", now)
    await webhooks.insert_deliveries(db, [hook], "e1", "bounce", "{}", now)
    await webhooks.insert_deliveries(db, [hook], "e1", "bounce", "{}", now)  # there: none made
    key = str(tenant.id)
    assert heard == [
        Change(Topic.CREDENTIAL, credential),
        Change(Topic.TENANT, key),
        Change(Topic.TENANT, key),
        Change(Topic.QUEUED),  # resumed: its messages are due again
        Change(Topic.TENANT, key),
        Change(Topic.CREDENTIAL, credential),
        Change(Topic.CREDENTIAL, credential),
        Change(Topic.SUPPRESSION, "a@example.org"),
        Change(Topic.SUPPRESSION),  # many at once: every address
        Change(Topic.SUPPRESSION, "a@example.org"),
        Change(Topic.NETWORK),
        Change(Topic.WEBHOOK),
    ]


async def test_other_processes_hear_a_change_by_postgresql_and_never_their_own(
    db: Database,
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no notifications: other processes go by the facts' ttl")
    other = Database(db.url)
    heard_here: list[Change] = []
    heard_there: list[Change] = []
    here = Listener(db, heard_here.append)
    there = Listener(other, heard_there.append)
    try:
        await here.connect()
        await there.connect()
        async with db.begin() as conn:
            await announce(db, conn, Change(Topic.SUPPRESSION, "bob@example.org"))
            await announce(db, conn, Change(Topic.QUEUED))
        async with asyncio.timeout(5):
            while len(heard_there) < 2:
                await asyncio.sleep(0.005)
        assert heard_there == [Change(Topic.SUPPRESSION, "bob@example.org"), Change(Topic.QUEUED)]
        assert heard_here == []  # its own: heard at the commit already
    finally:
        await here.dispose()
        await there.dispose()
        await other.close()


async def test_a_listener_notices_at_once_that_the_server_dropped_it(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    listener = Listener(db, lambda _: None)
    try:
        await listener.connect()
        async with db.begin() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'ses-gateway changes'"
                    " AND datname = current_database()"
                )
            )
        async with asyncio.timeout(5):  # far less than the keepalive
            await listener.until_lost(keepalive=60)
    finally:
        await listener.dispose()


async def test_a_sending_domain_or_address_changed_is_announced_with_the_domains_name(
    db: Database,
) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    await add_verified_domain(db, tenant.id, "example.com")
    heard: list[Change] = []
    db.on_change = heard.append
    domain = await domains.get_domain(db, "example.com")
    await domains.update_domain(db, domain.id, restrict_to_addresses=True)
    now = datetime.now(UTC)
    await domains.insert_address(
        db, domain, tenant.id, {"address": "a@example.com", "created_at": now}
    )
    address = await domains.find_address(db, "a@example.com")
    assert address is not None
    await domains.update_address(db, address.id, verified_for_sending=True)
    await domains.delete_address(db, address.id)
    await domains.delete_domain(db, domain.id)
    assert heard == [Change(Topic.SENDER, "example.com")] * 5
