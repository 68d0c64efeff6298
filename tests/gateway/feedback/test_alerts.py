"""Notifications the gateway raises on its own, once a day: a tenant's daily cap near its limit
(over SMTP), the SES account's Max24HourSend near its limit (the governor's quota read), and a
webhook that keeps failing or was disabled."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesAccount
from gateway.core.types.events import EventFact
from gateway.delivery.governor import Governor
from gateway.feedback import alerts
from gateway.identity import accounts
from gateway.storage import notifications, tenants
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks import manage
from gateway.webhooks.dispatcher import conclude, enqueue
from gateway.webhooks.schema import WebhookEvent, new_event_id
from tests.conftest import make_settings
from tests.gateway.policy.test_limits import limited, send
from tests.support.fakeses import FakeSes

NOON = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)


async def kinds(db: Database, tenant: str | None = None) -> list[str]:
    return [n.kind for n in await notifications.list_notifications(db, tenant)]


async def test_a_tenant_near_its_daily_cap_is_notified_once(start_gateway: Any) -> None:
    first, login = await limited(start_gateway, max_per_day=5)
    second = await start_gateway(None, deliver=False)  # another process, same database
    for _ in range(3):
        await asyncio.to_thread(send, first.port, login)
    assert await kinds(first.db) == []  # 3 of 5: not yet
    await asyncio.to_thread(send, first.port, login)
    await asyncio.to_thread(send, first.port, login)  # accepted at 4 of 5: 80%
    with pytest.raises(smtplib.SMTPSenderRefused):  # at the cap: refused, still near it
        await asyncio.to_thread(send, second.port, login)
    [raised] = await notifications.list_notifications(first.db, "acme")
    assert (raised.kind, raised.subject) == (alerts.TENANT_NEAR_LIMIT, "acme")
    assert "4 of 5 messages (80% of the daily cap)" in raised.detail


async def test_near_limit_is_raised_once_per_day_across_processes(db: Database) -> None:
    tenant = (await accounts.create_tenant(db, "acme")).id
    one, two = alerts.NearLimit(db), alerts.NearLimit(db)
    assert not await one.check(tenant, "acme", 79, 100, NOON)
    assert await one.check(tenant, "acme", 80, 100, NOON)
    assert not await one.check(tenant, "acme", 95, 100, NOON + timedelta(hours=1))
    assert not await two.check(tenant, "acme", 90, 100, NOON + timedelta(hours=2))
    assert await two.check(tenant, "acme", 90, 100, NOON + timedelta(days=1))
    assert not await one.check(None, "SES account", 10, None, NOON)  # no cap: never near
    assert await kinds(db, "acme") == [alerts.TENANT_NEAR_LIMIT] * 2


async def test_the_ses_account_near_max_24_hour_send_is_notified_once(
    fake_ses: FakeSes, db: Database, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    fake_ses.account["SendQuota"] = {
        "Max24HourSend": 1000.0,
        "MaxSendRate": 10.0,
        "SentLast24Hours": 500.0,
    }
    settings = make_settings(tmp_path, db.url)
    async with SesClientProvider(settings) as provider:
        governor = Governor(SesAccount(provider), settings, near_limit=alerts.NearLimit(db))
        await governor.refresh()
        assert await kinds(db) == []
        fake_ses.account["SendQuota"]["SentLast24Hours"] = 850.0
        await governor.refresh()
        await governor.refresh()
    [raised] = await notifications.list_notifications(db)
    assert (raised.kind, raised.tenant) == (alerts.ACCOUNT_NEAR_LIMIT, None)
    assert raised.subject == f"SES account in {provider.region}"
    assert "850 of 1000 messages (85% of the SES account's Max24HourSend)" in raised.detail


async def _claim(db: Database, tenant: str = "acme") -> store.Claim:
    """A delivery of a new webhook of `tenant`, claimed for an attempt."""
    if tenant not in {t.name for t in await tenants.list_tenants(db)}:
        await accounts.create_tenant(db, tenant)
    url = f"https://{tenant}.example.com/hook"
    await manage.add(db, b"k" * 32, tenant, url, (), allow_private=True)
    tenant_id = (await tenants.get_tenant(db, tenant)).id
    fact = EventFact("gone@example.org", NOON, bounce_type="Permanent", status="5.1.1")
    event = WebhookEvent(new_event_id(), "bounce", tenant_id, NOON, None, "ses-1", (fact,))
    await enqueue(db, event)
    now = datetime.now(UTC)
    [claim] = await store.claim(db, "test", 10, now, now + timedelta(minutes=1))
    return claim


def _failure(status: int) -> store.NewAttempt:
    return store.NewAttempt(datetime.now(UTC), status, "", f"HTTP {status}", 5)


async def test_a_webhook_failing_again_and_again_is_notified_once(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, db.url)
    claim = await _claim(db)
    await conclude(db, settings, claim, _failure(500), retry=True)
    assert await kinds(db) == []  # one failure is not yet failing
    for attempts in (3, 4):
        again = dataclasses.replace(claim, attempts=attempts)
        await conclude(db, settings, again, _failure(503), retry=True)
    [raised] = await notifications.list_notifications(db, "acme")
    assert (raised.kind, raised.subject) == (alerts.WEBHOOK_FAILING, f"webhook {claim.webhook_id}")
    assert raised.detail == "https://acme.example.com/hook: 3 failed attempts, the last: HTTP 503"


async def test_a_webhook_disabled_by_410_is_notified(db: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db.url)
    claim = await _claim(db, "beta")
    await conclude(db, settings, claim, _failure(410), retry=True)
    [raised] = await notifications.list_notifications(db, "beta")
    assert raised.kind == alerts.WEBHOOK_DISABLED
    assert raised.detail.startswith("https://beta.example.com/hook: disabled: HTTP 410")
