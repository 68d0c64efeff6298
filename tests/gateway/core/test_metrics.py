"""Metrics: real SMTP sessions and SES calls (moto, the fake SES) move the counters that a real
HTTP scrape of `/metrics` shows; SES events and webhook attempts are counted by kind.

The registry is per process and the tests share one: they compare before and after."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from admin.app import create_metrics_app
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.core import metrics
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.feedback import events
from gateway.identity import accounts
from gateway.storage.database import Database
from gateway.webhooks import manage
from tests.conftest import Gateway, client_tls, make_settings, settled
from tests.support.fakeses import FakeSes
from tests.support.http import serving
from tests.support.metrics import Scrape, scrape
from tests.support.process import free_ports, submit
from tests.support.sesevents import bounce


@asynccontextmanager
async def metrics_url(db: Database) -> AsyncIterator[str]:
    """`/metrics` of this process, served on loopback as the metrics listener serves it."""
    async with serving(create_metrics_app(MetricsEndpoint(db))) as url:
        yield f"{url}/metrics"


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def one_session(port: int, username: str, password: str) -> None:
    """A wrong password, then the right one; a sender domain the tenant does not own (refused),
    then one message to two recipients."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.ehlo()
        client.user, client.password = username, password + "x"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth("PLAIN", client.auth_plain)
        client.password = password
        assert client.auth("PLAIN", client.auth_plain)[0] == 235
        assert client.mail("demo@not-ours.example")[0] == 553
        message = b"From: demo@example.com\r\nSubject: s\r\n\r\nhi\r\n"
        refused = client.sendmail("demo@example.com", ["a@example.org", "b@example.org"], message)
        assert refused == {}


async def test_smtp_sessions_move_the_counters_and_the_queue_gauges(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    async with metrics_url(gateway.db) as url:
        before = await scrape(url)
        await asyncio.to_thread(one_session, gateway.port, username, password)
        after = await scrape(url)

    assert delta(before, after, "smtp_connections_total", listener="submission") == 1
    assert delta(before, after, "smtp_auth_failures_total") == 1
    assert delta(before, after, "messages_refused_total", reason="sender-unknown") == 1
    assert delta(before, after, "messages_accepted_total") == 1
    assert delta(before, after, "recipients_accepted_total") == 2
    # Gauges are read from this test's database: the one message waits (no worker).
    assert before.value("queue_messages") == 0
    assert before.value("queue_oldest_age_seconds") == 0
    assert after.value("queue_messages") == 1
    assert 0 < after.value("queue_oldest_age_seconds") < 60


async def test_ses_calls_to_moto_are_counted_and_timed(
    start_gateway: Any, moto_server: str
) -> None:
    gateway: Gateway = await start_gateway(moto_server)
    username, password = await gateway.credential()
    async with metrics_url(gateway.db) as url:
        before = await scrape(url)
        async with SesClientProvider(gateway.settings) as provider:  # moto must know the domain
            await SesIdentities(provider).create("acme", "example.com")
        queue_id = await asyncio.to_thread(submit, gateway.port, username, password, "moto")
        status = await settled(gateway.db, queue_id)
        after = await scrape(url)

    assert [r.state for r in status.recipients] == ["sent"]
    assert delta(before, after, "ses_calls_total", operation="send_email", outcome="ok") == 1
    assert delta(before, after, "ses_call_seconds_count", operation="send_email") == 1
    assert delta(before, after, "ses_call_seconds_sum", operation="send_email") > 0
    assert delta(before, after, "ses_calls_total", operation="get_email_identity", outcome="ok")
    assert delta(before, after, "recipients_delivered_total", outcome="sent") == 1
    assert after.value("queue_messages") == 0


@pytest.mark.parametrize(
    ("code", "requests", "outcome", "delivered"),
    [
        ("MessageRejected", 1, "permanent", {"failed": 1}),
        # botocore tries a throttled call twice: both refused make one failed call.
        ("Throttling", 2, "transient", {"deferred": 1, "sent": 1}),
    ],
)
async def test_ses_errors_are_counted_by_code(
    start_gateway: Any,
    fake_ses: FakeSes,
    code: str,
    requests: int,
    outcome: str,
    delivered: dict[str, int],
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    fake_ses.fail_next(requests, code)
    async with metrics_url(gateway.db) as url:
        before = await scrape(url)
        queue_id = await asyncio.to_thread(submit, gateway.port, username, password, code)
        await settled(gateway.db, queue_id)
        after = await scrape(url)

    assert delta(before, after, "ses_calls_total", operation="send_email", outcome=outcome) == 1
    assert delta(before, after, "ses_errors_total", code=code) == 1
    for state in ("sent", "deferred", "failed"):
        moved = delta(before, after, "recipients_delivered_total", outcome=state)
        assert moved == delivered.get(state, 0), state


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"ses_gateway_{name}", labels) or 0.0


async def test_an_ses_event_is_counted_once_whatever_sns_repeats(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, db.url)
    payload = bounce("ses-metrics-1", "gone@example.org")
    before = sample("ses_events_total", type="bounce")
    for _ in range(2):  # SNS delivers at least once: the same MessageId again
        await events.ingest(db, settings, "sns-metrics-1", "topic", payload, datetime.now(UTC))
    assert sample("ses_events_total", type="bounce") - before == 1


async def test_webhook_attempts_are_counted_by_outcome(db: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db.url, webhook_allow_private=True, webhook_timeout=2)
    await accounts.create_tenant(db, "acme")
    [closed] = free_ports()  # nothing listens there: the POST fails
    key = b"metrics-test-secret-key"
    url = f"https://127.0.0.1:{closed}/hook"
    webhook, _ = await manage.add(db, key, "acme", url, (), allow_private=True)
    before = sample("webhook_attempts_total", outcome="failed")
    result = await manage.send_test(db, settings, key, webhook.id)
    assert result.state == "failed"
    assert sample("webhook_attempts_total", outcome="failed") - before == 1
