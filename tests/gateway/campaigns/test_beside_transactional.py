"""Transactional mail beside a campaign: the worker and SMTP roles built by the composition root
(`Parts`), the fake SES at a `MaxSendRate` of 20: a message submitted over SMTP while a campaign
of 300 sends reaches SES within about `CAMPAIGN_QUEUE_SECONDS` (2 s), not behind the campaign,
most of which is still waiting."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from admin.ops import campaigns, contacts, templates
from admin.ops.context import Actor, Context
from admin.runtime import Parts
from config import Settings
from gateway.identity import accounts
from tests.conftest import add_verified_domain, client_tls, make_settings
from tests.support.fakeses import FakeSes, SentMessage

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RATE = 20.0
RECIPIENTS = 300
BOUND = 4.0
"""Seconds the transactional message may take to reach SES: 2 s of campaign mail ahead of it,
and room for a busy machine. Behind the whole campaign it would take 300 / 20 = 15 s."""


def send(port: int, username: str, password: str) -> None:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = "buyer@example.net"
    message["Subject"] = "Your receipt"
    message.set_content("Thank you for your order.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(username, password)
        client.send_message(message)


def at_ses(fake: FakeSes, campaign: bool) -> list[SentMessage]:
    return [m for m in fake.messages() if (m.destinations != ["buyer@example.net"]) == campaign]


async def until(found: Callable[[], list[SentMessage]], timeout: float) -> list[SentMessage]:
    deadline = time.monotonic() + timeout
    while not (got := found()):
        assert time.monotonic() < deadline, f"nothing after {timeout}s"
        await asyncio.sleep(0.02)
    return got


@pytest.fixture
async def parts(
    tmp_path: Path,
    db: object,
    database_url: str,
    fake_ses: FakeSes,
    aws_env: pytest.MonkeyPatch,
    self_signed: Callable[[Settings], None],
) -> AsyncIterator[Parts]:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    fake_ses.account["SendQuota"]["MaxSendRate"] = RATE
    settings = make_settings(tmp_path, database_url, public_url="https://mail.example.test")
    self_signed(settings)
    async with Parts.open(settings) as opened:
        yield opened


async def _launch(parts: Parts) -> None:
    tenant = await accounts.create_tenant(parts.db, "acme")
    await add_verified_domain(parts.db, tenant.id, "example.com")
    ctx = Context(await parts.services(ses=False), Actor.of_cli("tester"), None)
    people = await contacts.create_list(ctx, "people", "acme")
    rows = "".join(f"p{i}@example.org,P{i}\n" for i in range(RECIPIENTS))

    async def chunks() -> AsyncIterator[bytes]:
        yield f"email,name\n{rows}".encode()

    assert (await contacts.import_csv(ctx, people.id, chunks(), "people.csv")).added == RECIPIENTS
    await templates.create_template(ctx, "news", "News", "<p>Hi {{name}}</p>", None, "acme")
    new = campaigns.NewCampaign("big", "news", ("people",), "news@example.com")
    campaign = await campaigns.create_campaign(ctx, new, "acme")
    await campaigns.launch(ctx, campaign.id)


async def test_transactional_mail_waits_behind_seconds_of_a_campaign_not_all_of_it(
    parts: Parts, fake_ses: FakeSes
) -> None:
    await _launch(parts)
    username, password = await _credential(parts)
    smtp = parts.smtp_role(facts_ttl=0, ports=(0, 0))
    await smtp.start()
    worker = await parts.worker_role()
    await worker.start()
    try:
        await until(lambda: at_ses(fake_ses, campaign=True)[20:], timeout=30)
        submitted = time.monotonic()
        await asyncio.to_thread(send, smtp.smtp.submission.port, username, password)
        [receipt] = await until(lambda: at_ses(fake_ses, campaign=False), timeout=30)
        waited = receipt.accepted_at - submitted
        campaign_sent = len(
            [m for m in at_ses(fake_ses, True) if m.accepted_at < receipt.accepted_at]
        )
        assert waited <= BOUND, f"the receipt waited {waited:.1f}s behind the campaign"
        assert campaign_sent < RECIPIENTS / 2, "most of the campaign still waits"
    finally:
        await worker.stop()
        await smtp.stop(grace=1)


async def _credential(parts: Parts) -> tuple[str, str]:
    made = await accounts.create_credential(parts.db, "acme")
    return made.credential.username, made.password
