"""Tenant webhooks: signed POSTs to a real HTTPS receiver on loopback, retries while it is down,
filters, attempts recorded, several dispatchers on one database, and SES events end to end."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from admin.app import Readiness, create_app
from admin.sns import SnsEndpoint
from config import Settings
from gateway import accounts, events, webhooks
from gateway.exceptions import InvalidInputError, NotFoundError
from gateway.ses import SesClientProvider, SesIdentities
from gateway.storage import tenants
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.types import EventFact
from tests.conftest import Gateway, client_tls, make_settings, settled
from tests.support.http import serving
from tests.support.sesevents import bounce as ses_bounce
from tests.support.snssigner import TOPIC_ARN, SnsSigner, body
from tests.support.webhookreceiver import Receiver, docs_verify

SECRET_KEY = b"webhook-test-secret-key"


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    found = Receiver(tmp_path / "receiver")
    yield found
    await found.stop()


def settings_for(tmp_path: Path, db: Database, receiver: Receiver, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "webhook_ca_file": receiver.ca_file,
        "webhook_retry_base_delay": 0.1,
        "webhook_retry_max_delay": 0.3,
        "webhook_timeout": 3,
        "webhook_allow_private": True,
    }
    return make_settings(tmp_path, db.url, **(values | overrides))


async def hook(
    db: Database, receiver: Receiver, tenant: str = "acme", events: tuple[str, ...] = ()
) -> store.WebhookInfo:
    """A webhook of `tenant` (made if needed) to the receiver, which learns its secret."""
    if tenant not in {t.name for t in await tenants.list_tenants(db)}:
        await accounts.create_tenant(db, tenant)
    webhook, secret = await webhooks.add(
        db, SECRET_KEY, tenant, receiver.url, events, allow_private=True
    )
    receiver.secret = secret
    return webhook


async def tenant_id(db: Database, name: str = "acme") -> int:
    return (await tenants.get_tenant(db, name)).id


def bounce(tenant: int, event_id: str | None = None) -> webhooks.WebhookEvent:
    now = datetime.now(UTC)
    fact = EventFact("gone@example.org", now, bounce_type="Permanent", status="5.1.1")
    return webhooks.WebhookEvent(
        event_id or webhooks.new_event_id(), "bounce", tenant, now, None, "ses-1", (fact,)
    )


@asynccontextmanager
async def dispatching(
    db: Database, settings: Settings, owner: str = "test"
) -> AsyncIterator[webhooks.Dispatcher]:
    dispatcher = webhooks.Dispatcher(db, settings, SECRET_KEY, owner)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 10)


async def settle(db: Database, webhook_id: int, state: str, timeout: float = 15) -> None:
    """Wait until the webhook's latest attempt leaves its delivery in `state`."""
    deadline = time.monotonic() + timeout
    while True:
        attempts = await store.list_attempts(db, webhook_id)
        if attempts and attempts[0].state == state:
            return
        assert time.monotonic() < deadline, attempts
        await asyncio.sleep(0.05)


# -- Signature and schema ----------------------------------------------------------------------


def test_the_signature_is_an_hmac_of_timestamp_and_body() -> None:
    signed = webhooks.sign("whsec_s3cret", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signed == f"v1={expected}"


def test_the_documented_check_refuses_tampering_and_replays() -> None:
    verify = docs_verify()
    secret, payload = webhooks.new_secret(), b'{"version":1}'
    now = int(time.time())
    good = webhooks.sign(secret, now, payload)
    assert verify(secret, str(now), good, payload)
    assert not verify(secret, str(now), good, b'{"version":2}')
    assert not verify("whsec_other", str(now), good, payload)
    assert not verify(secret, str(now + 1), good, payload)
    stale = now - 301
    assert not verify(secret, str(stale), webhooks.sign(secret, stale, payload), payload)
    assert verify(secret, str(now - 299), webhooks.sign(secret, now - 299, payload), payload)


def test_the_payload_has_every_field_of_version_1() -> None:
    event = bounce(1, "event-1")
    document = json.loads(webhooks.payload(event, "acme", datetime.now(UTC)))
    assert set(document) == {
        "version",
        "id",
        "type",
        "tenant",
        "occurred_at",
        "created_at",
        "message",
        "recipients",
    }
    assert (document["version"], document["id"], document["type"]) == (1, "event-1", "bounce")
    assert document["message"] == {"queue_id": None, "ses_message_id": "ses-1"}
    [recipient] = document["recipients"]
    assert recipient["address"] == "gone@example.org"
    assert (recipient["bounce_type"], recipient["status"]) == ("Permanent", "5.1.1")
    assert recipient["occurred_at"].endswith("Z")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example/ses", "only https:// URLs"),
        ("ftp://hooks.example/ses", "only https:// URLs"),
        ("hooks.example/ses", "only https:// URLs"),
        ("https:///ses", "names no host"),
        ("https://hooks.example:99999/", "is not a URL"),
        ("https://hooks.example/a b", "no spaces"),
    ],
)
def test_only_https_urls_are_accepted(url: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        webhooks.check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t@hooks.example/ses",
        "https://s3cr3t@hooks.example/",
        "https://:s3cr3t@h/",
    ],
)
def test_urls_with_a_user_or_password_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="must not carry a user or password") as refused:
        webhooks.check_url(url, allow_private=True)
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LocalHost.",
        "api.localhost",
        "127.0.0.1",
        "10.0.0.5",
        "172.16.1.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "240.0.0.1",
        "224.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1%25eth0]",
        "[fc00::1]",
    ],
)
def test_private_hosts_are_refused_unless_allowed(host: str) -> None:
    url = f"https://{host}:8443/hook"
    with pytest.raises(InvalidInputError, match="WEBHOOK_ALLOW_PRIVATE=true"):
        webhooks.check_url(url, allow_private=False)
    assert webhooks.check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["https://hooks.example/ses", "https://93.184.215.14/", "https://[2606:4700::1]/"]
)
def test_public_hosts_are_accepted(url: str) -> None:
    assert webhooks.check_url(url, allow_private=False) == url


def test_event_types_are_checked() -> None:
    assert webhooks.parse_event_types("bounce, complaint,bounce") == ("bounce", "complaint")
    assert webhooks.parse_event_types(None) == ()
    with pytest.raises(InvalidInputError, match="unknown event type bounced"):
        webhooks.parse_event_types("bounced")


# -- Delivery ----------------------------------------------------------------------------------


async def test_an_event_arrives_signed_and_the_attempt_is_recorded(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    await receiver.start()
    event = bounce(await tenant_id(db))
    assert await webhooks.enqueue(db, event) == 1
    async with dispatching(db, settings_for(tmp_path, db, receiver)):
        [received] = await receiver.wait_for(1)
        await settle(db, webhook.id, store.DELIVERED)
    assert received["id"] == event.id
    assert received["tenant"] == "acme"
    assert receiver.headers[0]["X-SES-Gateway-Event-Id"] == event.id
    assert receiver.headers[0]["X-SES-Gateway-Event-Type"] == "bounce"
    assert receiver.refused == []
    [attempt] = await store.list_attempts(db, webhook.id)
    assert (attempt.status_code, attempt.error, attempt.event_id) == (200, None, event.id)
    assert json.loads(attempt.response) == {"status": 200}


async def test_an_endpoint_that_is_down_gets_the_event_when_it_is_back(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    await webhooks.enqueue(db, bounce(await tenant_id(db)))
    async with dispatching(db, settings_for(tmp_path, db, receiver)):
        while len(await store.list_attempts(db, webhook.id)) < 2:  # refused, refused...
            await asyncio.sleep(0.05)
        receiver.answers = [500, 503]
        await receiver.start()
        await receiver.wait_for(1)
        await settle(db, webhook.id, store.DELIVERED)
    attempts = list(reversed(await store.list_attempts(db, webhook.id)))
    assert attempts[0].status_code is None
    assert attempts[0].error
    codes = [a.status_code for a in attempts if a.status_code is not None]
    assert codes == [500, 503, 200]
    assert attempts[-2].error == "HTTP 503 Service Unavailable"
    assert len(receiver.events) == 1


async def test_a_delivery_is_given_up_after_the_max_age(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    receiver.answers = [500] * 1000
    await receiver.start()
    await webhooks.enqueue(db, bounce(await tenant_id(db)))
    settings = settings_for(tmp_path, db, receiver, webhook_max_age=1)
    async with dispatching(db, settings):
        await settle(db, webhook.id, store.FAILED)
        attempts = await store.list_attempts(db, webhook.id)
        await asyncio.sleep(0.5)
        assert len(await store.list_attempts(db, webhook.id)) == len(attempts)  # no more
    assert len(attempts) >= 3
    assert {a.status_code for a in attempts} == {500}
    assert receiver.events == []


async def test_410_gone_disables_the_webhook(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    receiver.answers = [410]
    await receiver.start()
    tenant = await tenant_id(db)
    await webhooks.enqueue(db, bounce(tenant))
    async with dispatching(db, settings_for(tmp_path, db, receiver)):
        await settle(db, webhook.id, store.FAILED)
    disabled = await store.get_webhook(db, webhook.id)
    assert disabled.disabled_at is not None
    assert "410 Gone" in (disabled.disabled_reason or "")
    assert await webhooks.enqueue(db, bounce(tenant)) == 0


async def test_an_untrusted_certificate_is_a_failure(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    await receiver.start()
    await webhooks.enqueue(db, bounce(await tenant_id(db)))
    async with dispatching(db, settings_for(tmp_path, db, receiver, webhook_ca_file=None)):
        while not await store.list_attempts(db, webhook.id):
            await asyncio.sleep(0.05)
    [attempt, *_] = await store.list_attempts(db, webhook.id)
    assert attempt.status_code is None
    assert "certificate" in (attempt.error or "").lower()
    assert receiver.requests == 0


async def test_a_name_that_resolves_to_a_private_address_is_not_posted_to(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    """Registered while private hosts were allowed, or its DNS changed since: every connection
    checks what the name resolves to."""
    await accounts.create_tenant(db, "acme")
    url = f"https://localhost:{receiver.port}/hook"
    webhook, _ = await webhooks.add(db, SECRET_KEY, "acme", url, (), allow_private=True)
    await receiver.start()
    closed = settings_for(tmp_path, db, receiver, webhook_allow_private=False)

    refused = await webhooks.send_test(db, closed, SECRET_KEY, webhook.id)
    allowed = await webhooks.send_test(
        db, settings_for(tmp_path, db, receiver), SECRET_KEY, webhook.id
    )

    assert refused.attempt.status_code is None
    assert "localhost has no public address" in (refused.attempt.error or "")
    # Allowed, it reaches the receiver, whose certificate names 127.0.0.1 only.
    assert "hostname mismatch" in (allowed.attempt.error or "").lower()


async def test_the_filter_chooses_the_event_types(db: Database, receiver: Receiver) -> None:
    only_bounces = await hook(db, receiver, events=("bounce", "complaint"))
    everything = await hook(db, receiver)
    tenant = await tenant_id(db)
    delivery = webhooks.WebhookEvent(webhooks.new_event_id(), "delivery", tenant, datetime.now(UTC))
    assert await webhooks.enqueue(db, delivery) == 1
    assert await webhooks.enqueue(db, bounce(tenant)) == 2
    assert only_bounces.events == ("bounce", "complaint")
    assert everything.events == ()


async def test_each_tenant_gets_only_its_events(db: Database, receiver: Receiver) -> None:
    await hook(db, receiver, tenant="acme")
    other = await accounts.create_tenant(db, "globex")
    assert await webhooks.enqueue(db, bounce(other.id)) == 0


async def test_an_event_is_queued_once_per_webhook(db: Database, receiver: Receiver) -> None:
    await hook(db, receiver)
    event = bounce(await tenant_id(db))
    assert await webhooks.enqueue(db, event) == 1
    assert await webhooks.enqueue(db, event) == 0


async def test_dispatchers_sharing_a_database_send_each_event_once(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    await hook(db, receiver)
    await receiver.start()
    tenant = await tenant_id(db)
    for _ in range(30):
        await webhooks.enqueue(db, bounce(tenant))
    # A POST that times out is sent again, a duplicate by design; on a busy machine (a parallel
    # run) the receiver, in this process's event loop, can take longer than the usual 3 s.
    settings = settings_for(tmp_path, db, receiver, webhook_timeout=20)
    second = Database(db.url)
    try:
        async with dispatching(db, settings, "one"), dispatching(second, settings, "two"):
            events = await receiver.wait_for(30)
            await asyncio.sleep(0.3)
    finally:
        await second.close()
    assert len(events) == len(receiver.events) == 30
    assert len({e["id"] for e in events}) == 30


async def test_a_test_event_is_sent_once_whatever_the_filter(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver, events=("complaint",))
    settings = settings_for(tmp_path, db, receiver)
    down = await webhooks.send_test(db, settings, SECRET_KEY, webhook.id)
    assert down.state == store.FAILED
    assert down.attempt.status_code is None
    await receiver.start()
    up = await webhooks.send_test(db, settings, SECRET_KEY, webhook.id)
    assert (up.state, up.attempt.status_code) == (store.DELIVERED, 200)
    [received] = receiver.events
    assert (received["type"], received["id"], received["recipients"]) == ("test", up.event_id, [])
    with pytest.raises(NotFoundError):
        await webhooks.send_test(db, settings, SECRET_KEY, webhook.id + 100)


async def test_removing_a_webhook_removes_its_deliveries(db: Database, receiver: Receiver) -> None:
    webhook = await hook(db, receiver)
    await webhooks.enqueue(db, bounce(await tenant_id(db)))
    await store.delete_webhook(db, webhook.id)
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM webhook_deliveries"))).scalar() == 0
    with pytest.raises(NotFoundError):
        await store.delete_webhook(db, webhook.id)


async def test_an_ses_event_interrupted_before_its_webhooks_is_queued_on_the_retry(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = await hook(db, receiver)
    document = json.loads(ses_bounce("unknown-ses-id", "gone@example.org"))
    document["mail"]["tags"]["tenant"] = ["acme"]
    settings = settings_for(tmp_path, db, receiver)
    args = (db, settings, "sns-1", TOPIC_ARN, json.dumps(document), datetime.now(UTC))
    enqueue = webhooks.enqueue

    async def failing(*_: Any) -> int:
        raise OSError("the database went away")

    monkeypatch.setattr(webhooks, "enqueue", failing)
    with pytest.raises(OSError, match="went away"):
        await events.ingest(*args)
    monkeypatch.setattr(webhooks, "enqueue", enqueue)
    assert (await events.ingest(*args)).duplicate is True
    assert (await events.ingest(*args)).duplicate is True
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT webhook_id, event_id FROM webhook_deliveries"))
        assert rows.all() == [(webhook.id, "sns-1")]


# -- End to end: SMTP, SES (moto), SNS, webhook ------------------------------------------------


async def test_a_bounce_of_a_sent_message_reaches_the_tenants_webhook(
    start_gateway: Any, moto_server: str, tmp_path: Path, receiver: Receiver
) -> None:
    gateway: Gateway = await start_gateway(moto_server, webhook_ca_file=receiver.ca_file)
    login = await gateway.credential()
    async with SesClientProvider(gateway.settings) as provider:
        await SesIdentities(provider).create("acme", "example.com")
    webhook = await hook(gateway.db, receiver, events=("bounce",))
    await receiver.start()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
            client.starttls(context=client_tls())
            client.login(*login)
            message = "From: news@example.com\r\nTo: gone@example.org\r\nSubject: s\r\n\r\nhi\r\n"
            client.sendmail("news@example.com", ["gone@example.org"], message.encode())

    await asyncio.to_thread(send)
    async with gateway.db.read() as conn:
        queue_id = (await conn.execute(text("SELECT id FROM messages"))).scalar_one()
    ses_message_id = (await settled(gateway.db, queue_id)).recipients[0].ses_message_id
    assert ses_message_id

    signer = SnsSigner()
    certs = gateway.settings.data_dir / "sns-certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / signer.cert_name).write_bytes(signer.cert_pem)
    settings = gateway.settings.model_copy(update={"sns_topic_arns": [TOPIC_ARN]})
    app = create_app(Readiness(gateway.db), SnsEndpoint.from_settings(gateway.db, settings))
    envelope = signer.notification(ses_bounce(ses_message_id, "gone@example.org"))
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url) as http,
        dispatching(gateway.db, gateway.settings),
    ):
        response = await http.post("/sns/ses", content=body(envelope))
        assert response.status_code == 200
        [event] = await receiver.wait_for(1)
        again = await http.post("/sns/ses", content=body(envelope))  # SNS retries: no new event
        assert again.json()["duplicate"] is True
        await asyncio.sleep(0.5)
    assert len(receiver.events) == 1
    assert event["id"] == envelope["MessageId"]
    assert (event["type"], event["tenant"]) == ("bounce", "acme")
    assert event["message"] == {"queue_id": queue_id, "ses_message_id": ses_message_id}
    [recipient] = event["recipients"]
    assert recipient["address"] == "gone@example.org"
    assert recipient["bounce_type"] == "Permanent"
    [attempt] = await store.list_attempts(gateway.db, webhook.id)
    assert attempt.status_code == 200
