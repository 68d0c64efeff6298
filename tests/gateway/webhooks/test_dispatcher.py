"""`gateway.webhooks.dispatcher`: signed POSTs to a real HTTPS receiver on loopback, retries
while it is down, filters, attempts recorded, several dispatchers on one database, and SES
events end to end."""

from __future__ import annotations

import asyncio
import json
import smtplib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from admin.app import create_app
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.core.exceptions import NotFoundError
from gateway.endpoints.health import Readiness
from gateway.endpoints.sns import SnsEndpoint
from gateway.feedback import events
from gateway.identity import accounts
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks import dispatcher
from gateway.webhooks.schema import WebhookEvent, new_event_id
from tests.conftest import Gateway, client_tls, settled
from tests.gateway.webhooks.conftest import (
    bounce,
    dispatching,
    hook,
    settings_for,
    settle,
    tenant_id,
)
from tests.support.http import serving
from tests.support.sesevents import bounce as ses_bounce
from tests.support.snssigner import TOPIC_ARN, SnsSigner, body
from tests.support.webhookreceiver import Receiver


async def test_an_event_arrives_signed_and_the_attempt_is_recorded(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    await receiver.start()
    event = bounce(await tenant_id(db))
    assert await dispatcher.enqueue(db, event) == 1
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
    await dispatcher.enqueue(db, bounce(await tenant_id(db)))
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
    await dispatcher.enqueue(db, bounce(await tenant_id(db)))
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
    await dispatcher.enqueue(db, bounce(tenant))
    async with dispatching(db, settings_for(tmp_path, db, receiver)):
        await settle(db, webhook.id, store.FAILED)
    disabled = await store.get_webhook(db, webhook.id)
    assert disabled.disabled_at is not None
    assert "410 Gone" in (disabled.disabled_reason or "")
    assert await dispatcher.enqueue(db, bounce(tenant)) == 0


async def test_an_untrusted_certificate_is_a_failure(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver)
    await receiver.start()
    await dispatcher.enqueue(db, bounce(await tenant_id(db)))
    async with dispatching(db, settings_for(tmp_path, db, receiver, webhook_ca_file=None)):
        while not await store.list_attempts(db, webhook.id):
            await asyncio.sleep(0.05)
    [attempt, *_] = await store.list_attempts(db, webhook.id)
    assert attempt.status_code is None
    assert "certificate" in (attempt.error or "").lower()
    assert receiver.requests == 0


async def test_the_filter_chooses_the_event_types(db: Database, receiver: Receiver) -> None:
    only_bounces = await hook(db, receiver, events=("bounce", "complaint"))
    everything = await hook(db, receiver)
    tenant = await tenant_id(db)
    delivery = WebhookEvent(new_event_id(), "delivery", tenant, datetime.now(UTC))
    assert await dispatcher.enqueue(db, delivery) == 1
    assert await dispatcher.enqueue(db, bounce(tenant)) == 2
    assert only_bounces.events == ("bounce", "complaint")
    assert everything.events == ()


async def test_each_tenant_gets_only_its_events(db: Database, receiver: Receiver) -> None:
    await hook(db, receiver, tenant="acme")
    other = await accounts.create_tenant(db, "globex")
    assert await dispatcher.enqueue(db, bounce(other.id)) == 0


async def test_an_event_is_queued_once_per_webhook(db: Database, receiver: Receiver) -> None:
    await hook(db, receiver)
    event = bounce(await tenant_id(db))
    assert await dispatcher.enqueue(db, event) == 1
    assert await dispatcher.enqueue(db, event) == 0


async def test_dispatchers_sharing_a_database_send_each_event_once(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    await hook(db, receiver)
    await receiver.start()
    tenant = await tenant_id(db)
    for _ in range(30):
        await dispatcher.enqueue(db, bounce(tenant))
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


async def test_removing_a_webhook_removes_its_deliveries(db: Database, receiver: Receiver) -> None:
    webhook = await hook(db, receiver)
    await dispatcher.enqueue(db, bounce(await tenant_id(db)))
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
    enqueue = dispatcher.enqueue

    async def failing(*_: Any) -> int:
        raise OSError("the database went away")

    monkeypatch.setattr(dispatcher, "enqueue", failing)
    with pytest.raises(OSError, match="went away"):
        await events.ingest(*args)
    monkeypatch.setattr(dispatcher, "enqueue", enqueue)
    assert (await events.ingest(*args)).duplicate is True
    assert (await events.ingest(*args)).duplicate is True
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT webhook_id, event_id FROM webhook_deliveries"))
        assert rows.all() == [(webhook.id, "sns-1")]


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
    assert event["message"] == {
        "queue_id": queue_id,
        "ses_message_id": ses_message_id,
        "campaign_id": None,
    }
    [recipient] = event["recipients"]
    assert recipient["address"] == "gone@example.org"
    assert recipient["bounce_type"] == "Permanent"
    [attempt] = await store.list_attempts(gateway.db, webhook.id)
    assert attempt.status_code == 200
