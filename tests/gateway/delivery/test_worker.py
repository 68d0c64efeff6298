"""Delivery through a fake SES that answers as SES does: retries, failures, batches, APIs."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import Outgoing, SesSender
from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.messages import MessageStatus, RecipientState
from gateway.delivery.governor import Governors
from gateway.delivery.worker import DeliveryWorker, Sent, backoff, batches, purge_bodies
from gateway.identity import accounts
from gateway.identity.tenancy import TenantAccounts
from gateway.runtime.tasks import Schedule
from gateway.storage import awsaccounts, queue
from gateway.storage.database import Database
from gateway.storage.models import Message
from gateway.storage.tenants import list_tenants
from tests.conftest import make_settings, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER, new_message, queued

Deliver = Callable[..., Awaitable[tuple[str, DeliveryWorker]]]


@pytest.fixture
async def deliver(
    db: Database,
    fake_ses: FakeSes,
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    ses_send_path: str,
) -> AsyncIterator[Deliver]:
    """`await deliver(recipients=..., **settings)` spools one message and starts a worker,
    sending over each `SES_SEND_PATH` in turn."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    running: list[tuple[DeliveryWorker, asyncio.Task[None], SesClientProvider]] = []

    async def start(
        recipients: tuple[str, ...] = ("a@example.org",),
        age: float = 0,
        on_sent: Sent | None = None,
        **overrides: Any,
    ) -> tuple[str, DeliveryWorker]:
        settings = make_settings(tmp_path, db.url, ses_send_path=ses_send_path, **overrides)
        if not await list_tenants(db):
            await accounts.create_tenant(db, "acme")
        now = datetime.now(UTC) - timedelta(seconds=age)
        message = new_message(1, recipients, now, timedelta(seconds=settings.max_queue_age))
        queue_id = message.id
        await queue.insert_messages(db, SEALER, [message])
        provider = await SesClientProvider(settings).__aenter__()
        send = SesSender(provider, settings).send
        worker = DeliveryWorker(db, SEALER, send, settings, "w", on_sent=on_sent)
        running.append((worker, asyncio.create_task(worker.run()), provider))
        return queue_id, worker

    yield start
    for worker, task, provider in running:
        await worker.stop()
        await task
        await provider.__aexit__(None, None, None)


async def test_sent_message_records_the_ses_message_id(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    queue_id, _ = await deliver()
    status = await settled(db, queue_id)
    [sent] = fake_ses.messages()
    assert status.recipients[0].state is RecipientState.SENT
    assert status.recipients[0].ses_message_id == sent.message_id
    assert sent.tags == {"tenant": "acme", "queue_id": queue_id}
    assert sent.api == "v2"
    assert not status.has_body


async def test_on_sent_is_told_of_each_accepted_send_only(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    told: list[tuple[str, Outgoing, str]] = []
    fake_ses.fail_next(1, code="MessageRejected", message="Email address is not verified.")
    rejected, _ = await deliver(on_sent=lambda *call: told.append(call))
    await settled(db, rejected)
    assert told == []
    queue_id, _ = await deliver(on_sent=lambda *call: told.append(call))
    status = await settled(db, queue_id)
    [(tenant, outgoing, ses_message_id)] = told
    assert (tenant, outgoing.recipients) == ("acme", ["a@example.org"])
    assert outgoing.tags["queue_id"] == queue_id
    assert ses_message_id == status.recipients[0].ses_message_id


async def test_throttling_is_retried_until_sent(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    fake_ses.fail_next(3, code="TooManyRequestsException", status=429, message="slow down")
    queue_id, _ = await deliver()
    status = await settled(db, queue_id)
    assert status.recipients[0].state is RecipientState.SENT
    assert status.attempts >= 2
    assert len(fake_ses.messages()) == 1


async def test_server_errors_are_retried(deliver: Deliver, fake_ses: FakeSes, db: Database) -> None:
    fake_ses.fail_next(2, code="InternalFailure", status=500, message="oops")
    queue_id, _ = await deliver()
    assert (await settled(db, queue_id)).recipients[0].state is RecipientState.SENT


async def test_deferred_messages_go_as_soon_as_ses_is_back(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    """After an outage, the first send that succeeds brings the messages the outage deferred
    forward, rather than leaving them to wait for their backoff (issue 16)."""
    fake_ses.fail_next(2, code="ServiceUnavailable", status=503, message="Service Unavailable")
    first, worker = await deliver(retry_base_delay=30, retry_max_delay=1800)
    async with asyncio.timeout(10):  # the SDK's own retry fails too: deferred for 15-30 s
        while (await queue.message_status(db, SEALER, first)).recipients[
            0
        ].state is RecipientState.QUEUED:
            await asyncio.sleep(0.05)
    second = new_message(1, ("b@example.org",))  # SES is back: this one goes at once
    await queue.insert_messages(db, SEALER, [second])
    worker.wake()
    assert (await settled(db, second.id)).recipients[0].state is RecipientState.SENT
    status = await settled(db, first, timeout=5)
    assert status.recipients[0].state is RecipientState.SENT
    assert status.attempts == 2


async def test_message_rejected_fails_at_once_with_ses_words(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    fake_ses.fail_next(1, code="MessageRejected", message="Email address is not verified.")
    queue_id, _ = await deliver()
    status = await settled(db, queue_id)
    assert status.attempts == 1
    assert status.recipients[0].state is RecipientState.FAILED
    assert status.recipients[0].last_error == "MessageRejected: Email address is not verified."


async def test_a_timeout_defers_and_the_next_attempt_sends(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    fake_ses.delay_next(2, 3)
    queue_id, _ = await deliver(ses_timeout=0.5)
    status = await settled(db, queue_id, timeout=30)
    assert status.recipients[0].state is RecipientState.SENT
    assert status.attempts >= 2


async def test_transient_errors_past_max_queue_age_fail(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    fake_ses.fail_next(5, code="Throttling", message="Daily message quota exceeded.")
    queue_id, _ = await deliver(max_queue_age=60, age=120)
    status = await settled(db, queue_id)
    assert status.recipients[0].state is RecipientState.FAILED
    assert "MAX_QUEUE_AGE" in (status.recipients[0].last_error or "")


async def test_recipients_go_in_batches_of_fifty(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    recipients = tuple(f"r{i}@example.org" for i in range(120))
    queue_id, _ = await deliver(recipients=recipients)
    status: MessageStatus = await settled(db, queue_id)
    calls = fake_ses.messages()
    assert sorted(len(c.destinations) for c in calls) == [20, 50, 50]
    assert sorted(d for c in calls for d in c.destinations) == sorted(recipients)
    by_address = {r.address: r.ses_message_id for r in status.recipients}
    for call in calls:
        assert {by_address[d] for d in call.destinations} == {call.message_id}


async def test_each_ses_call_is_recorded_as_soon_as_it_returns(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    # The first call of three is answered at once, the second after 3 s: meanwhile the first
    # call's recipients are already recorded as sent (a crash now would not send them again).
    fake_ses.delay_next(1, 0)
    fake_ses.delay_next(1, 3)
    recipients = tuple(f"r{i}@example.org" for i in range(120))
    queue_id, _ = await deliver(recipients=recipients, delivery_concurrency=1)
    deadline = asyncio.get_running_loop().time() + 2.5
    while True:
        status = await queue.message_status(db, SEALER, queue_id)
        sent = [r for r in status.recipients if r.state is RecipientState.SENT]
        if sent:
            break
        assert asyncio.get_running_loop().time() < deadline, "nothing recorded during the send"
        await asyncio.sleep(0.05)
    [first] = fake_ses.messages()
    assert status.state == "queued"  # the second call is still in flight
    assert sorted(r.address for r in sent) == sorted(first.destinations)
    assert {r.ses_message_id for r in sent} == {first.message_id}
    status = await settled(db, queue_id)
    assert all(r.state is RecipientState.SENT for r in status.recipients)
    assert [r.attempts for r in status.recipients] == [1] * 120
    assert len(fake_ses.messages()) == 3


async def test_leases_are_renewed_while_a_send_outlasts_them(
    db: Database,
    fake_ses: FakeSes,
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    ses_send_path: str,
) -> None:
    # A 1 s lease, and a worker whose SES call takes 2.5 s: its heartbeat keeps the message
    # from a second worker that polls all along.
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, db.url, delivery_lease=1, ses_send_path=ses_send_path)
    tenant = await accounts.create_tenant(db, "acme")
    message = new_message(tenant.id, ("a@example.org",), datetime.now(UTC), timedelta(hours=1))
    await queue.insert_messages(db, SEALER, [message])
    async with SesClientProvider(settings) as provider:
        ses = SesSender(provider, settings).send

        async def slow(tenant: str, outgoing: Outgoing) -> str:
            await asyncio.sleep(2.5)
            return await ses(tenant, outgoing)

        first = DeliveryWorker(db, SEALER, slow, settings, "first")
        second = DeliveryWorker(db, SEALER, ses, settings, "second")
        tasks = [asyncio.create_task(first.run())]
        while (await leased(db, message.id)) != "first":
            await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(second.run()))
        await settled(db, message.id)
        for worker in (first, second):
            await worker.stop()
        await asyncio.gather(*tasks)
    assert len(fake_ses.messages()) == 1


async def leased(db: Database, queue_id: str) -> str | None:
    async with db.read() as conn:
        owner: str | None = (
            await conn.execute(select(Message.lease_owner).where(Message.id == queue_id))
        ).scalar_one()
    return owner


async def test_v1_api_and_configuration_set(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    queue_id, _ = await deliver(ses_send_api="v1", configuration_set="tracking")
    await settled(db, queue_id)
    [sent] = fake_ses.messages()
    assert sent.api == "v1"
    assert sent.configuration_set == "tracking"
    assert sent.tags["tenant"] == "acme"


async def test_stop_waits_for_a_send_in_flight(
    deliver: Deliver, fake_ses: FakeSes, db: Database
) -> None:
    fake_ses.delay_next(1, 1)
    queue_id, worker = await deliver()
    await asyncio.sleep(0.3)
    await worker.stop()
    status = await queue.message_status(db, SEALER, queue_id)
    assert status.state == "done"
    assert status.recipients[0].state is RecipientState.SENT


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    assert all(15 <= backoff(1, 30, 1800) <= 30 for _ in range(50))
    assert all(60 <= backoff(3, 30, 1800) <= 120 for _ in range(50))
    assert all(900 <= backoff(20, 30, 1800) <= 1800 for _ in range(50))


def test_batches_split_at_fifty() -> None:
    assert [len(b) for b in batches(list(range(101)))] == [50, 50, 1]


async def test_retained_bodies_are_purged_after_the_retention(
    deliver: Deliver, fake_ses: FakeSes, db: Database, tmp_path: Path
) -> None:
    old, _ = await deliver(body_retention_days=1, age=3 * 86400, max_queue_age=4 * 86400)
    await settled(db, old)
    assert (await queue.message_status(db, SEALER, old)).has_body
    async with db.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.id == old)
            .values(completed_at=datetime.now(UTC) - timedelta(days=2))
        )
    recent, _ = await deliver(body_retention_days=1)
    await settled(db, recent)
    await purge_bodies(db, make_settings(tmp_path, db.url, body_retention_days=1))  # the task
    assert not (await queue.message_status(db, SEALER, old)).has_body
    assert (await queue.message_status(db, SEALER, recent)).has_body


async def test_a_failing_aws_account_holds_no_other_accounts_mail(
    db: Database, tmp_path: Path, aws_env: pytest.MonkeyPatch, ses_send_path: str
) -> None:
    """Tenant ann's AWS account is broken (its secret is wrong: SES refuses every call);
    bob's, on another account, and carol's, on the process's own, go all the same, each
    account paced by its own governor; ann's wait for their retry, not brought forward by
    the others' successes."""
    keys = {"testing": "testing", "AKIAGOOD": "good secret", "AKIABROKEN": "right secret"}
    with FakeSes(secret_keys=keys) as fake:
        aws_env.setenv("AWS_ENDPOINT_URL", fake.url)
        settings = make_settings(
            tmp_path, db.url, ses_send_path=ses_send_path, retry_base_delay=60, retry_max_delay=60
        )
        now = datetime.now(UTC)
        for name, key, secret in (
            ("broken", "AKIABROKEN", "wrong secret"),
            ("good", "AKIAGOOD", "good secret"),
        ):
            spec = AwsAccountSpec(name, "eu-west-1", key, secret)
            await awsaccounts.add_account(db, SEALER, spec, now)
        tenants: dict[str, int] = {}
        for tenant, account in (("ann", "broken"), ("bob", "good"), ("carol", None)):
            tenants[tenant] = (await accounts.create_tenant(db, tenant)).id
            if account is not None:
                await awsaccounts.set_tenant_account(db, tenant, account)
        async with account_worker(db, settings) as (worker, governors):
            ann = [await queued(db, tenants["ann"], (f"{i}@example.org",)) for i in range(3)]
            worker.wake()
            for queue_id in ann:  # each failed once: its account's failures are counted
                for _ in range(100):
                    status = await queue.message_status(db, SEALER, queue_id)
                    if status.recipients[0].last_error:
                        break
                    await asyncio.sleep(0.05)
            others = [
                await queued(db, tenants[tenant], (f"{i}@example.org",))
                for tenant in ("bob", "carol")
                for i in range(3)
            ]
            worker.wake()
            for queue_id in others:
                status = await settled(db, queue_id)
                assert status.recipients[0].state is RecipientState.SENT
            await asyncio.sleep(0.5)  # a catch-up after their successes would come now
            waiting = [await queue.message_status(db, SEALER, q) for q in ann]
        assert {g.account for g in governors} == {"default", "good", "broken"}
    assert sorted(m.tags["tenant"] for m in fake.messages()) == ["bob"] * 3 + ["carol"] * 3
    for status in waiting:
        [recipient] = status.recipients
        assert recipient.state is RecipientState.DEFERRED
        assert "SignatureDoesNotMatch" in (recipient.last_error or "")
        assert status.attempts == 1, "brought forward by the other accounts' successes"


async def test_a_slowly_paced_accounts_backlog_holds_no_worker_slots(
    db: Database, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """ann's account may send one message every two seconds and has 20 waiting; bob's, on an
    account of its own, are not paced behind them: ann's wait in the queue for their turn,
    not in the worker's four slots."""
    with FakeSes() as fake:
        aws_env.setenv("AWS_ENDPOINT_URL", fake.url)
        slow = copy.deepcopy(fake.account)
        slow["SendQuota"]["MaxSendRate"] = 0.5
        fake.accounts["AKIASLOW"] = slow
        fake.account["SendQuota"]["MaxSendRate"] = 50.0
        settings = make_settings(tmp_path, db.url, delivery_concurrency=4)
        now = datetime.now(UTC)
        tenants: dict[str, int] = {}
        for tenant, key in (("ann", "AKIASLOW"), ("bob", "AKIAFAST")):
            spec = AwsAccountSpec(tenant, "eu-west-1", key, "secret")
            await awsaccounts.add_account(db, SEALER, spec, now)
            tenants[tenant] = (await accounts.create_tenant(db, tenant)).id
            await awsaccounts.set_tenant_account(db, tenant, tenant)
        ann = [await queued(db, tenants["ann"], (f"{i}@example.org",)) for i in range(20)]
        bob = [await queued(db, tenants["bob"], (f"{i}@example.org",)) for i in range(10)]
        async with account_worker(db, settings) as _running:
            started = asyncio.get_running_loop().time()
            for queue_id in bob:
                assert (await settled(db, queue_id, timeout=10)).state == "done"
            took = asyncio.get_running_loop().time() - started
            waiting = [await queue.message_status(db, SEALER, q) for q in ann]
    assert took < 4, f"bob's mail was paced behind ann's account: {took:.1f} s"
    sent_for_ann = sum(1 for m in fake.messages() if m.tags["tenant"] == "ann")
    assert 1 <= sent_for_ann <= 3
    unsent = [s for s in waiting if s.state != "done"]
    assert len(unsent) >= 17
    assert all(s.recipients[0].attempts == 0 for s in unsent), "waiting for a turn is no attempt"


@asynccontextmanager
async def account_worker(
    db: Database, settings: Settings
) -> AsyncIterator[tuple[DeliveryWorker, Governors]]:
    """A delivery worker running with a governor per AWS account (each tenant's stored one),
    the governors' quota task beside it; both stopped on exit."""
    tenancy = TenantAccounts(db, lambda: SEALER)
    async with SesClientProvider(settings, tenancy) as provider:
        governors = Governors(provider, tenancy, settings)
        schedule = Schedule([governors.task()])
        schedule.start()
        send = SesSender(provider, settings).send
        worker = DeliveryWorker(db, SEALER, send, settings, "w", governors)
        task = asyncio.create_task(worker.run())
        try:
            yield worker, governors
        finally:
            await worker.stop()
            await task
            await schedule.stop()
