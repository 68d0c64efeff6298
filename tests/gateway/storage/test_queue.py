"""The durable queue: claims are leases, outcomes are per recipient, bodies go when done."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.messages import JobResult, RecipientOutcome, RecipientState
from gateway.identity import accounts
from gateway.intake.spool import new_queue_id
from gateway.storage import awsaccounts, queue
from gateway.storage.database import Database
from tests.support.messages import SEALER, new_message

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def spool(db: Database, count: int = 1, recipients: int = 2) -> list[str]:
    tenant = await accounts.create_tenant(db, f"t{new_queue_id().lower()[-8:]}")
    messages = [
        new_message(
            tenant.id,
            [f"r{i}@example.org" for i in range(recipients)],
            NOW,
            data=b"Subject: x\r\n\r\nbody " + bytes([n % 256]) * 10,
            tls="TLSv1.3",
            auth_username="u",
            message_id_header=f"<{n}@x>",
        )
        for n in range(count)
    ]
    await queue.insert_messages(db, SEALER, messages)
    return [m.id for m in messages]


async def test_claim_returns_body_and_pending_recipients(db: Database) -> None:
    [queue_id] = await spool(db)
    [job] = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    assert job.id == queue_id
    assert job.data.startswith(b"Subject: x")
    assert [r.address for r in job.recipients] == ["r0@example.org", "r1@example.org"]
    assert job.attempts == 1


async def test_a_claim_takes_the_oldest_due_first_each_with_its_pending_recipients(
    db: Database,
) -> None:
    tenant = await accounts.create_tenant(db, "order")
    addresses = ["c@example.org", "a@example.org", "b@example.org"]
    messages = [
        # Queued newest first; the second has every recipient suppressed (final at once).
        new_message(tenant.id, addresses, NOW - timedelta(seconds=n), suppressed=suppressed)
        for n, suppressed in ((1, {}), (3, dict.fromkeys(addresses, "suppressed")), (2, {}))
    ]
    await queue.insert_messages(db, SEALER, messages)
    jobs = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    assert [job.id for job in jobs] == [messages[1].id, messages[2].id, messages[0].id]
    assert jobs[0].recipients == []
    for job in jobs[1:]:  # in the order they were given
        assert [r.address for r in job.recipients] == addresses
        assert [r.attempts for r in job.recipients] == [0, 0, 0]
        assert all(r.id > 0 for r in job.recipients)


async def test_leased_message_is_not_claimed_again_until_the_lease_expires(db: Database) -> None:
    await spool(db)
    assert len(await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)) == 1
    assert await queue.claim(db, SEALER, "w2", 10, NOW + timedelta(seconds=30), NOW + LEASE) == []
    later = NOW + LEASE + timedelta(seconds=1)
    [job] = await queue.claim(db, SEALER, "w2", 10, later, later + LEASE)
    assert job.attempts == 2


async def test_concurrent_claims_never_share_a_message(db: Database) -> None:
    ids = await spool(db, count=60, recipients=1)
    other = Database(db.url)
    try:
        results = await asyncio.gather(
            *(
                queue.claim(database, SEALER, f"w{i}", 7, NOW, NOW + LEASE)
                for i in range(12)
                for database in (db, other)
            )
        )
    finally:
        await other.close()
    claimed = [job.id for jobs in results for job in jobs]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= set(ids)


async def test_sent_recipients_complete_the_message_and_drop_the_body(db: Database) -> None:
    [queue_id] = await spool(db)
    [job] = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    outcomes = tuple(RecipientOutcome(r.id, RecipientState.SENT, "ses-1") for r in job.recipients)
    await queue.record(db, [JobResult(job.id, outcomes, None, NOW)], keep_bodies=False)
    status = await queue.message_status(db, SEALER, queue_id)
    assert status.state == "done"
    assert status.completed_at == NOW
    assert not status.has_body
    assert {r.ses_message_id for r in status.recipients} == {"ses-1"}
    assert await queue.pending_count(db) == 0


async def test_deferred_recipients_are_retried_alone_at_the_next_attempt(db: Database) -> None:
    [queue_id] = await spool(db)
    [job] = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    first, second = job.recipients
    retry_at = NOW + timedelta(seconds=30)
    outcomes = (
        RecipientOutcome(first.id, RecipientState.SENT, "ses-1"),
        RecipientOutcome(second.id, RecipientState.DEFERRED, None, "Throttling: slow down"),
    )
    await queue.record(db, [JobResult(job.id, outcomes, retry_at, NOW)], keep_bodies=False)
    status = await queue.message_status(db, SEALER, queue_id)
    assert status.state == "queued"
    assert status.has_body
    assert [r.state for r in status.recipients] == [RecipientState.SENT, RecipientState.DEFERRED]
    assert status.recipients[1].last_error == "Throttling: slow down"
    assert await queue.claim(db, SEALER, "w1", 10, NOW + timedelta(seconds=10), NOW + LEASE) == []
    [again] = await queue.claim(db, SEALER, "w1", 10, retry_at, retry_at + LEASE)
    assert [r.address for r in again.recipients] == [second.address]


async def test_on_sqlite_claims_and_records_take_every_row_in_one_step_a_statement(
    db: Database,
) -> None:
    """With a statement executed once for many rows (`executemany`) or read a row at a time,
    each row is a step of SQLite's that hands the GIL to the event loop and waits to take it
    back; the writer thread's turn then lasts as long as the event loop keeps it waiting."""
    if not db.is_sqlite:
        pytest.skip("SQLite only (PostgreSQL's claim and record are one statement each)")
    await spool(db, count=12, recipients=3)
    steps: list[tuple[str, bool]] = []

    def executed(_c: Any, _cursor: Any, statement: str, _p: Any, _x: Any, many: bool) -> None:
        if statement.split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
            steps.append((statement.split(None, 1)[0].upper(), many))

    event.listen(Engine, "after_cursor_execute", executed)
    try:
        jobs = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
        claim_steps = list(steps)
        steps.clear()
        results = [
            JobResult(
                j.id,
                tuple(RecipientOutcome(r.id, RecipientState.SENT, "s") for r in j.recipients),
                None,
                NOW,
            )
            for j in jobs
        ]
        await queue.record(db, results, keep_bodies=False)
    finally:
        event.remove(Engine, "after_cursor_execute", executed)
    assert len(jobs) == 10
    assert all(len(j.recipients) == 3 for j in jobs)
    # The pick reads the ten ids; the lease is one update; the messages, bodies and
    # recipients come in one row.
    assert claim_steps == [("SELECT", False), ("UPDATE", False), ("SELECT", False)]
    assert steps == [
        ("UPDATE", False),  # thirty outcomes
        ("UPDATE", False),  # ten messages done
        ("DELETE", False),  # their bodies
    ]
    assert await queue.pending_count(db) == 2


async def test_deferred_messages_can_be_brought_forward(db: Database) -> None:
    deferred, done, fresh = await spool(db, count=3)
    jobs = {j.id: j for j in await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)}
    retry_at = NOW + timedelta(minutes=30)
    results = [
        JobResult(
            job.id, tuple(RecipientOutcome(r.id, state, None) for r in job.recipients), at, NOW
        )
        for job, state, at in (
            (jobs[deferred], RecipientState.DEFERRED, retry_at),
            (jobs[done], RecipientState.SENT, None),
        )
    ]
    await queue.record(db, results, keep_bodies=False)
    await queue.release(db, "w1")  # `fresh` was not tried: due as it was
    later = NOW + timedelta(seconds=5)
    assert await queue.bring_forward(db, later) == 1  # neither the sent one nor the due one
    assert (await queue.message_status(db, SEALER, deferred)).next_attempt_at == later
    claimed = await queue.claim(db, SEALER, "w1", 10, later, later + LEASE)
    assert {job.id for job in claimed} == {deferred, fresh}


async def test_only_the_messages_of_one_aws_accounts_tenants_are_brought_forward(
    db: Database,
) -> None:
    """SES came back in one account: another's may still be failing."""
    spec = AwsAccountSpec("alpha", "eu-west-1", "AKIAALPHA", "secret")
    await awsaccounts.add_account(db, SEALER, spec, NOW)
    on_alpha, on_default = (await spool(db))[0], (await spool(db))[0]
    await awsaccounts.set_tenant_account(
        db, (await queue.message_status(db, SEALER, on_alpha)).tenant, "alpha"
    )
    retry_at = NOW + timedelta(minutes=30)
    jobs = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    deferred = [
        JobResult(
            j.id,
            tuple(RecipientOutcome(r.id, RecipientState.DEFERRED, None) for r in j.recipients),
            retry_at,
            NOW,
        )
        for j in jobs
    ]
    await queue.record(db, deferred, keep_bodies=False)
    later = NOW + timedelta(seconds=5)

    assert await queue.bring_forward(db, later, "alpha") == 1
    assert (await queue.message_status(db, SEALER, on_alpha)).next_attempt_at == later
    assert (await queue.message_status(db, SEALER, on_default)).next_attempt_at == retry_at
    assert await queue.bring_forward(db, later) == 1  # the process's own account's tenants
    assert (await queue.message_status(db, SEALER, on_default)).next_attempt_at == later


async def test_retention_keeps_bodies_until_purged(db: Database) -> None:
    [queue_id] = await spool(db)
    [job] = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    outcomes = tuple(
        RecipientOutcome(r.id, RecipientState.FAILED, None, "no") for r in job.recipients
    )
    await queue.record(db, [JobResult(job.id, outcomes, None, NOW)], keep_bodies=True)
    assert (await queue.message_status(db, SEALER, queue_id)).has_body
    assert await queue.purge_bodies(db, NOW) == 0
    assert await queue.purge_bodies(db, NOW + timedelta(days=1)) == 1
    assert not (await queue.message_status(db, SEALER, queue_id)).has_body


async def test_released_leases_can_be_claimed_at_once(db: Database) -> None:
    await spool(db)
    await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)
    await queue.release(db, "w1")
    assert len(await queue.claim(db, SEALER, "w2", 10, NOW, NOW + LEASE)) == 1


async def test_a_paused_tenants_messages_wait_until_it_is_resumed(db: Database) -> None:
    [paused_id] = await spool(db)
    [other_id] = await spool(db)
    tenant = (await queue.message_status(db, SEALER, paused_id)).tenant
    await accounts.pause_tenant(db, tenant, "bounce rate 5% over the last 100 sends")
    assert [job.id for job in await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)] == [
        other_id
    ]
    assert (await queue.message_status(db, SEALER, paused_id)).state == queue.HELD
    assert await queue.pending_summary(db) == (2, NOW)
    await accounts.pause_tenant(db, tenant, None)
    assert (await queue.message_status(db, SEALER, paused_id)).state == queue.QUEUED
    assert [job.id for job in await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)] == [
        paused_id
    ]


async def test_a_paused_tenants_backlog_is_held_batch_by_batch_and_released_whole(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue, "HOLD_BATCH", 3)
    ids = await spool(db, count=7, recipients=1)
    tenant = (await queue.message_status(db, SEALER, ids[0])).tenant
    [other_id] = await spool(db)
    await accounts.pause_tenant(db, tenant, "paused")
    states = {(await queue.message_status(db, SEALER, i)).state for i in ids}
    assert states == {queue.HELD}
    assert (await queue.message_status(db, SEALER, other_id)).state == queue.QUEUED
    await accounts.pause_tenant(db, tenant, None)
    claimed = await queue.claim(db, SEALER, "w1", 20, NOW, NOW + LEASE)
    assert sorted(job.id for job in claimed) == sorted([*ids, other_id])


async def test_a_message_queued_again_after_the_pause_is_skipped_then_held(db: Database) -> None:
    [queue_id] = await spool(db)
    tenant = (await queue.message_status(db, SEALER, queue_id)).tenant
    [job] = await queue.claim(db, SEALER, "w1", 10, NOW, NOW + LEASE)  # in flight: then paused
    await accounts.pause_tenant(db, tenant, "paused")
    later = NOW + timedelta(minutes=1)
    deferred = RecipientOutcome(job.recipients[0].id, RecipientState.DEFERRED, None, "throttled")
    await queue.record(db, [JobResult(job.id, (deferred,), later, NOW)], keep_bodies=False)
    assert (await queue.message_status(db, SEALER, queue_id)).state == queue.QUEUED
    far = later + LEASE * 10
    assert await queue.claim(db, SEALER, "w1", 10, far, far + LEASE) == []
    assert await queue.hold_paused(db) == 1
    assert (await queue.message_status(db, SEALER, queue_id)).state == queue.HELD


async def test_the_release_at_shutdown_reads_only_due_messages(db: Database) -> None:
    """Its plan bounds the claims' index (state, next attempt) by both columns: by the state
    alone, every worker's shutdown walked a million deferred messages to find its few leases."""
    release = queue._release("w1", NOW)
    async with db.begin() as conn:
        sql = str(release.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            plan = " ".join(
                row[-1] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert "USING INDEX ix_messages_due (state=? AND next_attempt_at<?)" in plan, plan
        else:
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a table of none
            plan = " ".join(row[0] for row in await conn.exec_driver_sql(f"EXPLAIN {sql}"))
            assert re.search(r"Index Cond: .*state.* AND \(next_attempt_at <=", plan), plan


async def test_a_claim_on_postgresql_leases_by_key_whatever_the_plan(db: Database) -> None:
    """The lease reads the picked messages by their key, the ids as one array: joined with the
    pick instead, PostgreSQL's generic plan (which takes the limit for a tenth of the due rows)
    hashed the whole table, a million rows behind a backlog (docs/performance.md, 2026-12-06)."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL only (SQLite's claim is its own statements)")
    async with db.begin() as conn:
        sql = str(queue._CLAIM_ALL.compile(conn.sync_connection))
        sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "('queued', 'deferred')", sql)
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a table of none
        await conn.exec_driver_sql(f"PREPARE claim AS {sql}")
        explain = "EXPLAIN EXECUTE claim(1, 'w', now(), 'queued', now(), 50)"
        plan = "\n".join(row[0] for row in await conn.exec_driver_sql(explain))
    update = plan[plan.index("Update on messages") :]
    assert re.search(r"pk_messages .*\n\s+Index Cond: \(\(id\)::text = ANY", update), plan
