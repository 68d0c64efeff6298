"""The SES account governor: the quota read from SES (v2, v1, moto), sends paced under
`MaxSendRate` and deferred at `Max24HourSend`, the account's state logged, `ses-gateway status`."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from admin.cli import main
from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesAccount, SesSender, _v2_unavailable
from gateway.core import metrics
from gateway.core.exceptions import DailyQuotaReached
from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import RecipientState
from gateway.delivery.governor import Governor, Governors, Pacer
from gateway.delivery.worker import DeliveryWorker
from gateway.identity import accounts
from gateway.identity.tenancy import TenantAccounts
from gateway.runtime.tasks import Schedule
from gateway.storage import awsaccounts, queue
from gateway.storage.activity import record_activity
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade
from gateway.storage.tenants import list_tenants
from tests.conftest import make_settings, settled
from tests.support.fakeses import FakeSes, SentMessage
from tests.support.messages import SEALER, new_message
from tests.support.ports import closed_port_url

OpenAccount = Callable[..., Awaitable[tuple[SesAccount, Settings]]]
StartWorker = Callable[..., Awaitable[Governor]]


def received_at(message: SentMessage) -> float:
    """When the fake SES accepted a message, in seconds: its MessageId starts with `0100` and
    the epoch milliseconds in 12 hex digits (as SES's own ids carry a time)."""
    return int(message.message_id[4:16], 16) / 1000


@pytest.fixture
async def open_account(tmp_path: Path, aws_env: pytest.MonkeyPatch) -> AsyncIterator[OpenAccount]:
    """`await open_account(endpoint, **settings)`: an `SesAccount` on an open provider."""
    async with AsyncExitStack() as stack:

        async def open_(endpoint: str, **overrides: Any) -> tuple[SesAccount, Settings]:
            aws_env.setenv("AWS_ENDPOINT_URL", endpoint)
            settings = make_settings(tmp_path, "sqlite+aiosqlite://", **overrides)
            provider = await stack.enter_async_context(SesClientProvider(settings))
            return SesAccount(provider), settings

        yield open_


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """The governor does not touch the database: one backend is enough."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await upgrade(database)
    yield database
    await database.close()


async def spool(
    db: Database, count: int, recipients: tuple[str, ...] = ("a@example.org",)
) -> list[str]:
    """`count` messages queued for delivery now; their queue ids."""
    if not await list_tenants(db):
        await accounts.create_tenant(db, "acme")
    messages = [new_message(1, recipients) for _ in range(count)]
    await queue.insert_messages(db, SEALER, messages)
    return [m.id for m in messages]


@asynccontextmanager
async def refreshing(governors: Governors) -> AsyncIterator[Governor]:
    """The default account's governor, with the `ses-governor` task running, as a worker
    process schedules it."""
    schedule = Schedule([governors.task()])
    schedule.start()
    try:
        yield governors["default"]
    finally:
        await schedule.stop()


@pytest.fixture
async def start_worker(
    sqlite_db: Database,
    fake_ses: FakeSes,
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    ses_send_path: str,
) -> AsyncIterator[StartWorker]:
    """`await start_worker(**settings)`: a governed delivery worker on the fake SES, sending
    over each `SES_SEND_PATH` in turn."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Governor:
            settings = make_settings(
                tmp_path, sqlite_db.url, ses_send_path=ses_send_path, **overrides
            )
            provider = await stack.enter_async_context(SesClientProvider(settings))
            governors = Governors(provider, None, settings)
            governor = await stack.enter_async_context(refreshing(governors))
            send = SesSender(provider, settings).send
            worker = DeliveryWorker(sqlite_db, SEALER, send, settings, "w", governors)
            task = asyncio.create_task(worker.run())

            async def stop() -> None:
                await worker.stop()
                await task

            stack.push_async_callback(stop)
            return governor

        yield start


async def sent(fake_ses: FakeSes, count: int, timeout: float = 15) -> list[SentMessage]:
    deadline = time.monotonic() + timeout
    while len(messages := fake_ses.messages()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(messages)} of {count} messages after {timeout}s")
        await asyncio.sleep(0.05)
    return messages


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.governor" and r.getMessage() == name]


# -- reading the quota --------------------------------------------------------------------


async def test_quota_is_read_from_get_account(fake_ses: FakeSes, open_account: OpenAccount) -> None:
    fake_ses.account.update(ProductionAccessEnabled=False, EnforcementStatus="PROBATION")
    fake_ses.account["SendQuota"] = {
        "Max24HourSend": 200.0,
        "MaxSendRate": 1.0,
        "SentLast24Hours": 17.0,
    }
    account, _ = await open_account(fake_ses.url)
    quota = await account.quota()
    assert quota.source == "GetAccount"
    assert (quota.max_24_hour_send, quota.max_send_rate, quota.sent_last_24_hours) == (200, 1, 17)
    assert quota.production_access_enabled is False
    assert quota.sending_enabled is True
    assert quota.enforcement_status == "PROBATION"


async def test_quota_is_read_from_get_send_quota_with_the_v1_api(
    fake_ses: FakeSes, open_account: OpenAccount
) -> None:
    fake_ses.account["SendQuota"] = {"Max24HourSend": -1.0, "MaxSendRate": 40.0}
    account, _ = await open_account(fake_ses.url, ses_send_api="v1")
    quota = await account.quota()
    assert quota.source == "GetSendQuota"
    assert quota.max_24_hour_send is None  # -1: unlimited
    assert quota.max_send_rate == 40
    assert quota.sent_last_24_hours == 0
    assert quota.production_access_enabled is None
    assert quota.sending_enabled is None
    assert quota.enforcement_status is None


async def test_moto_without_get_account_falls_back_to_get_send_quota(
    moto_server: str, open_account: OpenAccount
) -> None:
    account, _ = await open_account(moto_server)
    quota = await account.quota()
    assert quota.source == "GetSendQuota"
    assert (quota.max_24_hour_send, quota.max_send_rate) == (200, 1)


def _client_error(code: str, status: int, message: str = "words") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetAccount",
    )


@pytest.mark.parametrize(
    ("error", "fall_back"),
    [
        (_client_error("404", 404, "<!doctype html><title>404 Not Found</title>"), True),
        (_client_error("UnknownOperationException", 400), True),
        (_client_error("AccessDeniedException", 403), True),
        (_client_error("TooManyRequestsException", 429), False),
        (_client_error("InternalFailure", 500), False),
        (TimeoutError(), False),
    ],
)
def test_get_send_quota_replaces_a_missing_or_forbidden_get_account(
    error: Exception, fall_back: bool
) -> None:
    assert _v2_unavailable(error) is fall_back


# -- pacing ---------------------------------------------------------------------------------


def test_pacer_spaces_calls_by_their_recipients() -> None:
    now = [100.0]
    pacer = Pacer(5, lambda: now[0])
    assert pacer.reserve(1) == 0
    assert pacer.reserve(1) == pytest.approx(0.2)
    assert pacer.reserve(10) == pytest.approx(0.4)  # a call to 10 takes 10 tokens ...
    assert pacer.reserve(1) == pytest.approx(2.4)  # ... so the next waits 2 s more
    now[0] = 200.0
    assert pacer.reserve(1) == 0  # idle time is not saved up for a burst
    assert pacer.reserve(1) == pytest.approx(0.2)


async def test_sends_stay_under_max_send_rate(
    fake_ses: FakeSes, sqlite_db: Database, start_worker: StartWorker
) -> None:
    fake_ses.account["SendQuota"]["MaxSendRate"] = 5.0
    await start_worker()
    await spool(sqlite_db, 15)
    times = sorted(received_at(m) for m in await sent(fake_ses, 15))
    assert times[-1] - times[0] >= 2.5  # 15 at 5/s: 2.8 s from the first to the last
    busiest = max(sum(1 for u in times if t <= u < t + 1) for t in times)
    assert busiest <= 6


async def test_a_call_takes_one_token_per_recipient(
    fake_ses: FakeSes, open_account: OpenAccount
) -> None:
    fake_ses.account["SendQuota"]["MaxSendRate"] = 20.0
    account, settings = await open_account(fake_ses.url)
    governor = Governor(account, settings)
    await governor.refresh()
    await governor.acquire(20)
    started = time.monotonic()
    await governor.acquire(1)
    assert 0.9 <= time.monotonic() - started <= 1.5
    assert governor.rate == 20


async def test_each_process_paces_at_its_share_of_the_rate(
    fake_ses: FakeSes, open_account: OpenAccount
) -> None:
    fake_ses.account["SendQuota"]["MaxSendRate"] = 14.0
    account, settings = await open_account(fake_ses.url, ses_rate_share=0.5)
    governor = Governor(account, settings)
    assert governor.rate == 7  # SES_DEFAULT_MAX_SEND_RATE (14) x 0.5 before the first read
    fake_ses.account["SendQuota"]["MaxSendRate"] = 50.0
    await governor.refresh()
    assert governor.rate == 25


# -- the daily quota ------------------------------------------------------------------------


async def test_at_the_daily_quota_sends_are_deferred_until_it_frees(
    fake_ses: FakeSes, sqlite_db: Database, start_worker: StartWorker
) -> None:
    # SentLast24Hours is the fake's count of accepted messages.
    fake_ses.account["SendQuota"] = {"Max24HourSend": 3.0, "MaxSendRate": 100.0}
    await start_worker(ses_quota_refresh=0.5)
    queue_ids = await spool(sqlite_db, 5)
    await sent(fake_ses, 3)
    error = "SES daily sending quota reached (Max24HourSend 3): deferred"
    deadline = time.monotonic() + 10
    while True:
        statuses = [await queue.message_status(sqlite_db, SEALER, q) for q in queue_ids]
        waiting = [s.recipients[0] for s in statuses if s.state == "queued"]
        if len(waiting) == 2 and all(r.last_error == error for r in waiting):
            break
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.05)
    assert all(r.state is RecipientState.DEFERRED for r in waiting)
    await asyncio.sleep(1)  # retries and refreshes meanwhile: SES is not asked
    assert len(fake_ses.messages()) == 3

    fake_ses.account["SendQuota"]["Max24HourSend"] = 10.0
    for queue_id in queue_ids:
        assert (await settled(sqlite_db, queue_id)).recipients[0].state is RecipientState.SENT
    assert len(fake_ses.messages()) == 5


async def test_what_the_process_sent_since_the_last_read_counts(
    fake_ses: FakeSes, open_account: OpenAccount
) -> None:
    fake_ses.account["SendQuota"] = {
        "Max24HourSend": 100.0,
        "MaxSendRate": 1000.0,
        "SentLast24Hours": 60.0,
    }
    account, settings = await open_account(fake_ses.url)
    governor = Governor(account, settings)
    await governor.refresh()
    await governor.acquire(30)
    await governor.acquire(10)
    with pytest.raises(DailyQuotaReached) as caught:
        await governor.acquire(1)
    assert str(caught.value) == "SES daily sending quota reached (Max24HourSend 100): deferred"
    fake_ses.account["SendQuota"]["SentLast24Hours"] = 90.0  # a read resets this process's count
    await governor.refresh()
    assert governor.headroom == 10
    await governor.acquire(10)


# -- the account's state in the log ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "level", "problem"),
    [
        ({"ProductionAccessEnabled": False}, logging.WARNING, "sandbox"),
        ({"SendingEnabled": False}, logging.ERROR, "sending is disabled"),
        ({"EnforcementStatus": "PROBATION"}, logging.WARNING, "enforcement status PROBATION"),
        ({"EnforcementStatus": "SHUTDOWN"}, logging.ERROR, "enforcement status SHUTDOWN"),
    ],
)
async def test_account_problems_are_logged_once_per_change(
    fake_ses: FakeSes,
    open_account: OpenAccount,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    level: int,
    problem: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.governor")
    account, settings = await open_account(fake_ses.url)
    governor = Governor(account, settings)
    await governor.refresh()
    [healthy] = events(caplog, "ses-account")
    assert healthy.levelno == logging.INFO
    assert "problem" not in healthy.fields  # type: ignore[attr-defined]
    fake_ses.account.update(change)
    await governor.refresh()
    await governor.refresh()
    [_, logged] = events(caplog, "ses-account")
    assert logged.levelno == level
    assert problem in logged.fields["problem"]  # type: ignore[attr-defined]
    assert logged.fields["region"] == "us-east-1"  # type: ignore[attr-defined]


async def test_without_a_quota_the_default_rate_applies_and_the_failure_is_logged_once(
    open_account: OpenAccount, caplog: pytest.LogCaptureFixture
) -> None:
    account, settings = await open_account(closed_port_url(), ses_default_max_send_rate=3)
    governor = Governor(account, settings)
    assert await governor.refresh() is None
    assert await governor.refresh() is None
    [failure] = events(caplog, "ses-quota-unavailable")
    assert failure.levelno == logging.ERROR
    assert "EndpointConnectionError" in failure.fields["error"]  # type: ignore[attr-defined]
    assert governor.rate == 3
    assert governor.headroom is None  # no daily cap known: SES enforces its own
    await governor.acquire(50)


# -- ses-gateway status ---------------------------------------------------------------------


@pytest.fixture
def status_env(
    tmp_path: Path, aws_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """`status_env(endpoint, *args)`: `ses-gateway status ARGS` in process, with one queued
    message and one unread notification in a fresh database: (exit status, stdout)."""
    for name in list(os.environ):
        if name.startswith("SES_GATEWAY_"):
            aws_env.delenv(name)
    aws_env.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    aws_env.setenv("SES_GATEWAY_DATABASE_URL", url)
    aws_env.setenv("SES_GATEWAY_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()

    async def setup() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            await spool(db, 1)
            now = datetime.now(UTC)
            await record_activity(db, None, "sns.unsubscribed", "arn", "gone", now, notify=True)
        finally:
            await db.close()

    asyncio.run(setup())

    def run(endpoint: str, *args: str) -> tuple[int, str]:
        aws_env.setenv("AWS_ENDPOINT_URL", endpoint)
        status = main(["status", *args])
        return status, capsys.readouterr().out

    return run


def test_status_shows_the_account_and_the_queue(
    fake_ses: FakeSes, status_env: Callable[..., tuple[int, str]]
) -> None:
    fake_ses.account["ProductionAccessEnabled"] = False
    fake_ses.account["SendQuota"] = {"Max24HourSend": 200.0, "MaxSendRate": 1.0}
    status, out = status_env(fake_ses.url, "--json")
    assert status == 0
    document = json.loads(out)
    assert document == {
        "region": "us-east-1",
        "endpoint": fake_ses.url,
        "account": {
            "max_24_hour_send": 200,
            "max_send_rate": 1.0,
            "sent_last_24_hours": 0,
            "production_access_enabled": False,
            "sending_enabled": True,
            "enforcement_status": "HEALTHY",
            "source": "GetAccount",
            "review_status": None,
            "review_case_id": None,
            "suppressed_reasons": None,
            "sandbox": True,
        },
        "account_error": None,
        "pace_per_second": 1.0,
        "aws_accounts": {},
        "pending_messages": 1,
        "unread_notifications": 1,
    }
    status, out = status_env(fake_ses.url)
    assert status == 0
    assert "account: SANDBOX, sending enabled: yes, enforcement: HEALTHY" in out
    assert "Max24HourSend 200" in out
    assert "messages pending: 1" in out
    assert "unread notifications: 1" in out


def test_status_says_why_the_account_could_not_be_read(
    status_env: Callable[..., tuple[int, str]],
) -> None:
    status, out = status_env(closed_port_url(), "--json")
    assert status == 0
    document = json.loads(out)
    assert document["account"] is None
    assert "EndpointConnectionError" in document["account_error"]
    assert document["pace_per_second"] == 14.0
    assert document["pending_messages"] == 1


async def test_each_aws_account_is_paced_by_its_own_governor(
    fake_ses: FakeSes, sqlite_db: Database, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """ann's account has used its second: bob's, on another account, has not; the governor of
    an account no tenant uses any more goes, and so do its gauges."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    fake_ses.account["SendQuota"]["MaxSendRate"] = 1.0
    settings = make_settings(tmp_path, sqlite_db.url)
    now = datetime.now(UTC)
    for tenant, account in (("ann", "first"), ("bob", "second")):
        spec = AwsAccountSpec(account, "eu-west-1", f"AKIA{account.upper()}", "secret")
        await awsaccounts.add_account(sqlite_db, SEALER, spec, now)
        await accounts.create_tenant(sqlite_db, tenant)
        await awsaccounts.set_tenant_account(sqlite_db, tenant, account)
    tenancy = TenantAccounts(sqlite_db, lambda: SEALER)
    async with SesClientProvider(settings, tenancy) as provider:
        governors = Governors(provider, tenancy, settings)
        schedule = Schedule([governors.task()])
        schedule.start()
        try:
            ann, bob = await governors.for_tenant("ann"), await governors.for_tenant("bob")
            assert (ann.account, bob.account) == ("first", "second")
            await ann.acquire(5)  # the first account's next call in 5 s
            # bob's first quota read done (a new SES client: slow on a loaded machine), then
            # its turn is at once.
            await asyncio.wait_for(bob.acquire(0), 10)
            await asyncio.wait_for(bob.acquire(1), 0.5)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ann.acquire(1), 0.5)
            assert 'ses_gateway_governor_pace{aws_account="second"} 1.0' in metrics_text()

            await awsaccounts.set_tenant_account(sqlite_db, "ann", "second")
            tenancy.forget(Change(Topic.TENANT))
            await governors._refresh_round()
            assert {g.account for g in governors} == {"default", "second"}
            assert 'aws_account="first"' not in metrics_text()
        finally:
            await schedule.stop()


def metrics_text() -> str:
    return metrics.text().decode()


def test_status_shows_each_aws_account_in_use(
    fake_ses: FakeSes,
    status_env: Callable[..., tuple[int, str]],
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
) -> None:
    aws_env.setenv("SES_GATEWAY_SECRET_KEY", "test secret key")  # SEALER's
    alpha = copy.deepcopy(fake_ses.account)
    alpha["SendQuota"]["MaxSendRate"] = 40.0
    fake_ses.accounts["AKIAALPHA"] = alpha

    async def bind() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
        try:
            spec = AwsAccountSpec("alpha", "eu-west-1", "AKIAALPHA", "secret")
            await awsaccounts.add_account(db, SEALER, spec, datetime.now(UTC))
            await accounts.create_tenant(db, "north")
            await awsaccounts.set_tenant_account(db, "north", "alpha")
        finally:
            await db.close()

    status, _ = status_env(fake_ses.url)  # the database made
    asyncio.run(bind())
    status, out = status_env(fake_ses.url, "--json")
    assert status == 0
    document = json.loads(out)
    assert document["account"]["max_send_rate"] == 14.0  # the process's own account
    [(name, shown)] = document["aws_accounts"].items()
    assert (name, shown["region"], shown["pace_per_second"]) == ("alpha", "eu-west-1", 40.0)
    assert shown["account"]["max_send_rate"] == 40.0
    _, out = status_env(fake_ses.url)
    assert "AWS account alpha:\n  SES region eu-west-1" in out
    assert "  MaxSendRate 40/s" in out
