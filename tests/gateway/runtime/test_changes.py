"""The change bus: two instances (two `Parts`) on one PostgreSQL database. A message stored by one
is claimed by the other's worker long before its poll; a pause, a limit, a credential or a
suppression changed on one is seen by the other's policy within 100 ms, not at the end of its
cached facts' ttl; the listener survives a dropped connection and then drops every cached fact.
On SQLite, the changes a process makes itself reach its own caches and workers at the commit.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from sqlalchemy import text

from admin.runtime import Parts
from config import Settings
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import Principal
from gateway.feedback import suppressions
from gateway.identity import accounts
from gateway.policy.senders import Directory
from gateway.storage import queue, tenants
from tests.conftest import make_settings, migrated_sqlite_url, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import new_message
from tests.support.postgres import PostgresServer

LONG = 60.0
"""The poll interval and the facts' ttl of these tests: what is seen sooner was told."""


@pytest.fixture
def pg_url(postgres_server: PostgresServer, postgres_template: str) -> str:
    return postgres_server.create_database(f"changes_{secrets.token_hex(4)}", postgres_template)


@pytest.fixture
async def instances(
    pg_url: str,
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    fake_ses: FakeSes,
    self_signed: Callable[[Settings], None],
) -> AsyncIterator[tuple[Parts, Parts]]:
    """Two instances on one database, as two processes would be (same settings and key)."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, pg_url, delivery_poll_interval=LONG)
    self_signed(settings)
    async with Parts.open(settings) as a, Parts.open(settings) as b:
        yield a, b


async def within(seconds: float, seen: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `seen()` is true, asking as fast as it answers; fails after `seconds`."""
    started = time.perf_counter()
    while not await seen():
        elapsed = time.perf_counter() - started
        assert elapsed < seconds, f"not seen within {seconds * 1000:.0f} ms"
        await asyncio.sleep(0)
    return time.perf_counter() - started


async def listening(parts: Parts) -> None:
    async with asyncio.timeout(10):
        await parts.changes.listening.wait()


async def test_a_message_stored_by_one_instance_is_claimed_at_once_by_anothers_worker(
    instances: tuple[Parts, Parts], fake_ses: FakeSes
) -> None:
    a, b = instances
    tenant = await accounts.create_tenant(a.db, "acme")
    worker = await b.delivery_worker()
    b.changes.start()
    task = asyncio.create_task(worker.run())
    try:
        await listening(b)
        for _ in range(2):  # the first may be found by the worker's first claim, at its start
            message = new_message(tenant.id)
            started = time.perf_counter()
            await queue.insert_messages(a.db, a.sealer, [message])
            await settled(b.db, message.id, timeout=5)
            assert time.perf_counter() - started < 5 < LONG
        assert len(fake_ses.messages()) == 2
    finally:
        await worker.stop()
        await task
        await b.changes.stop()


@pytest.fixture
async def policy_b(instances: tuple[Parts, Parts]) -> AsyncIterator[Directory]:
    """Instance B's SMTP role, started, its facts kept for a minute: its policy's directory."""
    _, b = instances
    async with AsyncExitStack() as stack:
        role = b.smtp_role(facts_ttl=LONG, ports=(0, 0))
        await role.start()
        stack.push_async_callback(role.stop, 1)
        await listening(b)
        yield role.directory


async def test_a_pause_a_limit_and_a_resume_on_one_instance_reach_the_others_policy_at_once(
    instances: tuple[Parts, Parts], policy_b: Directory
) -> None:
    a, _ = instances
    tenant = await accounts.create_tenant(a.db, "acme")
    principal = Principal(tenant.id, "acme")
    assert (await policy_b.account(principal)).tenant_paused is None

    async def paused() -> bool:
        return (await policy_b.account(principal)).tenant_paused == "abuse"

    await accounts.pause_tenant(a.db, "acme", "abuse")
    await within(0.1, paused)

    async def capped() -> bool:
        limits = (await policy_b.account(principal)).limits
        return limits is not None and limits.max_per_day == 10

    await accounts.set_limits(a.db, "acme", {"max_per_day": 10})
    await within(0.1, capped)

    async def resumed() -> bool:
        return (await policy_b.account(principal)).tenant_paused is None

    await accounts.pause_tenant(a.db, "acme", None)
    await within(0.1, resumed)


async def test_a_credential_paused_or_revoked_on_one_instance_is_told_to_the_other_at_once(
    instances: tuple[Parts, Parts], policy_b: Directory
) -> None:
    a, b = instances
    heard: list[Change] = []
    b.changes.subscribe(heard.append, Topic.CREDENTIAL)
    tenant = await accounts.create_tenant(a.db, "acme")
    new = await accounts.create_credential(a.db, "acme")
    principal = Principal(tenant.id, "acme", new.credential.id)
    assert (await policy_b.account(principal)).credential_paused is None

    async def paused() -> bool:
        return (await policy_b.account(principal)).credential_paused == "leaked"

    await accounts.pause_credential(a.db, new.credential.id, "leaked")
    await within(0.1, paused)

    key = str(new.credential.id)

    async def told() -> bool:
        return heard[-1:] == [Change(Topic.CREDENTIAL, key)] and len(heard) == 3

    await tenants.revoke_credential(a.db, new.credential.id, accounts.now())
    await within(0.1, told)  # made, paused, revoked: what a cache of credentials hooks on


async def test_a_suppression_added_on_one_instance_reaches_the_others_policy_at_once(
    instances: tuple[Parts, Parts], policy_b: Directory
) -> None:
    a, _ = instances
    tenant = await accounts.create_tenant(a.db, "acme")
    assert await policy_b.suppressed(tenant.id, "Bob@Example.ORG") is None

    async def suppressed() -> bool:
        return await policy_b.suppressed(tenant.id, "Bob@Example.ORG") is not None

    await suppressions.add(a.db, "bob@example.org")
    await within(0.1, suppressed)

    async def lifted() -> bool:
        return await policy_b.suppressed(tenant.id, "Bob@Example.ORG") is None

    await suppressions.remove(a.db, "bob@example.org")
    await within(0.1, lifted)


async def terminate_listeners(parts: Parts) -> int:
    async with parts.db.begin() as conn:
        result = await conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'ses-gateway changes'"
                " AND datname = current_database()"
            )
        )
        killed: int = result.scalar_one()
    return killed


async def test_the_listener_survives_a_dropped_connection_and_then_drops_every_cached_fact(
    instances: tuple[Parts, Parts], policy_b: Directory
) -> None:
    a, b = instances
    resets: list[Change] = []
    b.changes.subscribe(resets.append, Topic.RESET)
    tenant = await accounts.create_tenant(a.db, "acme")
    principal = Principal(tenant.id, "acme")
    assert (await policy_b.account(principal)).tenant_paused is None

    assert await terminate_listeners(a) == 1
    # Made while B is not listening: its notification is lost, and B must not keep the fact.
    await accounts.pause_tenant(a.db, "acme", "abuse")

    async def paused() -> bool:
        return (await policy_b.account(principal)).tenant_paused == "abuse"

    await within(5, paused)  # backoff, reconnection, and every cached fact dropped
    assert resets == [Change(Topic.RESET)]
    await listening(b)

    async def resumed() -> bool:
        return (await policy_b.account(principal)).tenant_paused is None

    await accounts.pause_tenant(a.db, "acme", None)
    await within(0.1, resumed)  # and listening again


async def test_on_sqlite_a_process_hears_its_own_changes_at_the_commit(
    tmp_path: Path, request: pytest.FixtureRequest, self_signed: Callable[[Settings], None]
) -> None:
    settings = make_settings(tmp_path, migrated_sqlite_url(request, tmp_path / "gateway.db"))
    self_signed(settings)
    async with Parts.open(settings) as parts:
        role = parts.smtp_role(facts_ttl=LONG, ports=(0, 0))
        await role.start()
        try:
            tenant = await accounts.create_tenant(parts.db, "acme")
            principal = Principal(tenant.id, "acme")
            assert (await role.directory.account(principal)).tenant_paused is None
            await accounts.pause_tenant(parts.db, "acme", "abuse")
            assert (await role.directory.account(principal)).tenant_paused == "abuse"
        finally:
            await role.stop(1)


async def test_on_sqlite_a_message_stored_wakes_the_worker_of_the_same_process(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    aws_env: pytest.MonkeyPatch,
    fake_ses: FakeSes,
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    url = migrated_sqlite_url(request, tmp_path / "gateway.db")
    settings = make_settings(tmp_path, url, delivery_poll_interval=LONG)
    async with Parts.open(settings) as parts:
        tenant = await accounts.create_tenant(parts.db, "acme")
        worker = await parts.delivery_worker()
        task = asyncio.create_task(worker.run())
        try:
            for _ in range(2):  # the first may be found by the worker's first claim
                message = new_message(tenant.id)
                await queue.insert_messages(parts.db, parts.sealer, [message])
                await settled(parts.db, message.id, timeout=5)
        finally:
            await worker.stop()
            await task
