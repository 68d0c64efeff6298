"""`POST /sns/ses` through the HTTP app, and a bounce end to end: SMTP, SES (moto), SNS, RCPT."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from admin.app import create_app
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.core.types.aws import AwsAccountSpec
from gateway.endpoints.health import Readiness
from gateway.endpoints.sns import SnsEndpoint
from gateway.feedback import events
from gateway.feedback.sns import Fetch, SnsVerifier
from gateway.storage import activity as activity_store
from gateway.storage import awsaccounts, notifications, snssetups, suppressions, tenants
from gateway.storage import events as event_store
from gateway.storage.database import Database
from tests.conftest import Gateway, client_tls, make_settings, settled
from tests.support.http import serving
from tests.support.messages import SEALER
from tests.support.sesevents import bounce
from tests.support.smtp import protocol_only
from tests.support.snssigner import TOPIC_ARN, SnsSigner, body, fake_sns

pytestmark = protocol_only


@asynccontextmanager
async def endpoint(
    db: Database, tmp_path: Path, signer: SnsSigner, fetch: Fetch | None = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP app with `/sns/ses`, served by uvicorn on loopback; `fetch`: how it reaches SNS
    (default: the internet)."""
    settings = make_settings(tmp_path, db.url, **{"sns_topic_arns": [TOPIC_ARN], **overrides})
    certs = settings.data_dir / "sns-certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / signer.cert_name).write_bytes(signer.cert_pem)
    sns = SnsEndpoint.from_settings(db, settings)
    if fetch is not None:
        topics = frozenset(settings.sns_topic_arns)
        verifier = SnsVerifier(certs, topics, settings.sns_max_age, fetch=fetch)
        sns = dataclasses.replace(sns, verifier=verifier)
    app = create_app(Readiness(db), sns)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_genuine_notification_is_recorded_once(db: Database, tmp_path: Path) -> None:
    signer = SnsSigner()
    envelope = signer.notification(bounce("unknown-id", "x@example.org"))
    async with endpoint(db, tmp_path, signer) as http:
        first = await http.post("/sns/ses", content=body(envelope))
        again = await http.post("/sns/ses", content=body(envelope))
    assert first.status_code == 200
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"Message": '{"eventType":"Bounce"}'}, 403, "does not verify"),
        ({"TopicArn": "arn:aws:sns:us-east-1:999999999999:theirs"}, 403, "is not allowed"),
        ({"SigningCertURL": "https://s3.amazonaws.com/x.pem"}, 403, "SigningCertURL"),
        ({"Type": None}, 400, ""),
    ],
)
async def test_forged_or_malformed_deliveries_are_refused(
    db: Database, tmp_path: Path, change: dict[str, Any], status: int, says: str
) -> None:
    signer = SnsSigner()
    envelope: dict[str, Any] = {**signer.notification(), **change}
    envelope = {k: v for k, v in envelope.items() if v is not None}
    async with endpoint(db, tmp_path, signer) as http:
        response = await http.post("/sns/ses", content=body(envelope))
    assert response.status_code == status
    assert says in response.json()["error"]["message"]


async def test_raw_message_delivery_and_oversize_are_refused(db: Database, tmp_path: Path) -> None:
    signer = SnsSigner()
    async with endpoint(db, tmp_path, signer) as http:
        raw = await http.post(
            "/sns/ses", content=b'{"eventType":"Bounce"}', headers={"x-amz-sns-rawdelivery": "true"}
        )
        huge = await http.post("/sns/ses", content=b"x" * 300_000)
    assert raw.status_code == 400
    assert "raw message delivery" in raw.json()["error"]["message"].lower()
    assert huge.status_code == 413


async def test_an_unsubscription_is_raised_as_a_notification(db: Database, tmp_path: Path) -> None:
    signer = SnsSigner()
    async with endpoint(db, tmp_path, signer) as http:
        response = await http.post(
            "/sns/ses", content=body(signer.confirmation("UnsubscribeConfirmation"))
        )
    assert response.json() == {"status": "unsubscribed", "duplicate": False}
    [raised] = await notifications.list_notifications(db, unread=True)
    assert (raised.tenant, raised.kind, raised.subject) == (None, "sns.unsubscribed", TOPIC_ARN)


async def test_repeated_confirmations_are_handled_once(db: Database, tmp_path: Path) -> None:
    """SNS retries confirmations too: each MessageId is confirmed, recorded and raised once."""
    signer = SnsSigner()
    subscribe = body(signer.confirmation())
    unsubscribe = body(signer.confirmation("UnsubscribeConfirmation"))
    async with fake_sns() as sns, endpoint(db, tmp_path, signer, sns.fetch()) as http:
        answers = [(await http.post("/sns/ses", content=b)).json() for b in [subscribe] * 2]
        answers += [(await http.post("/sns/ses", content=b)).json() for b in [unsubscribe] * 2]
        again = await http.post("/sns/ses", content=subscribe)

    assert [(a["status"], a["duplicate"]) for a in answers] == [
        ("confirmed", False),
        ("confirmed", True),
        ("unsubscribed", False),
        ("unsubscribed", True),
    ]
    assert again.json()["duplicate"] is True
    assert len(sns.confirmed) == 1
    activity = await activity_store.list_activity(db, kinds=["sns.subscribed", "sns.unsubscribed"])
    assert sorted(a.kind for a in activity) == ["sns.subscribed", "sns.unsubscribed"]
    assert len(await notifications.list_notifications(db, unread=True)) == 1


async def test_a_row_the_database_refuses_gets_503_and_is_stored_on_the_retry(
    db: Database, tmp_path: Path
) -> None:
    """Not a repeat but an integrity violation (here a unique index the test adds; in life a
    tenant or recipient deleted meanwhile): SNS is told to retry, with a JSON body."""
    signer = SnsSigner()
    async with db.begin() as conn:
        await conn.execute(
            text("CREATE UNIQUE INDEX one_per_address ON recipient_events (address)")
        )
    first = signer.notification(bounce("unknown-id", "x@example.org"))
    second = signer.notification(bounce("unknown-id", "x@example.org"))
    async with endpoint(db, tmp_path, signer) as http:
        assert (await http.post("/sns/ses", content=body(first))).status_code == 200
        refused = await http.post("/sns/ses", content=body(second))
        async with db.begin() as conn:
            await conn.execute(text("DROP INDEX one_per_address"))
        retried = await http.post("/sns/ses", content=body(second))
    assert refused.status_code == 503
    assert "SNS will retry" in refused.json()["error"]["message"]
    assert retried.json()["duplicate"] is False


async def test_any_other_failure_gets_503_with_a_json_body(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(events, "ingest", failing)
    signer = SnsSigner()
    async with endpoint(db, tmp_path, signer) as http:
        response = await http.post("/sns/ses", content=body(signer.notification()))
    assert response.status_code == 503
    assert "SNS will retry" in response.json()["error"]["message"]


async def test_no_topic_is_trusted_until_one_is_configured(db: Database, tmp_path: Path) -> None:
    signer = SnsSigner()
    async with endpoint(db, tmp_path, signer, sns_topic_arns=[]) as http:
        response = await http.post("/sns/ses", content=body(signer.notification()))
    assert response.status_code == 403
    assert "is not allowed" in response.json()["error"]["message"]


async def test_a_bounce_suppresses_the_recipient_for_the_next_message(
    start_gateway: Any, moto_server: str, tmp_path: Path
) -> None:
    gateway: Gateway = await start_gateway(moto_server)
    login = await gateway.credential()
    async with SesClientProvider(gateway.settings) as provider:  # SES must know the domain too
        await SesIdentities(provider).create("acme", "example.com")

    def send(recipient: str) -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
            client.starttls(context=client_tls())
            client.login(*login)
            message = f"From: news@example.com\r\nTo: {recipient}\r\nSubject: s\r\n\r\nhi\r\n"
            return client.sendmail("news@example.com", [recipient], message.encode())

    reply = await asyncio.to_thread(send, "gone@example.org")
    assert reply == {}
    async with gateway.db.read() as conn:
        queue_id = (await conn.execute(text("SELECT id FROM messages"))).scalar_one()
    status = await settled(gateway.db, queue_id)
    ses_message_id = status.recipients[0].ses_message_id
    assert ses_message_id

    signer = SnsSigner()
    envelope = signer.notification(bounce(ses_message_id, "gone@example.org"))
    async with endpoint(gateway.db, tmp_path, signer) as http:
        response = await http.post("/sns/ses", content=body(envelope))
    assert response.status_code == 200
    tenant = await tenants.get_tenant(gateway.db, "acme")
    now = datetime.now(UTC)
    assert await suppressions.suppressed(gateway.db, tenant.id, "gone@example.org", now)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(send, "gone@example.org")
    [(code, reason)] = refused.value.recipients.values()
    assert code == 550
    assert reason.startswith(b"5.1.1 Recipient gone@example.org is suppressed (bounce on ")


async def test_a_topic_set_up_in_an_aws_account_is_accepted_until_the_account_goes(
    db: Database, tmp_path: Path
) -> None:
    """Its events are about that account's tenants only (`gateway.feedback.events`)."""
    topic = "arn:aws:sns:eu-west-1:111111111111:ses-gateway"
    now = datetime.now(UTC)
    spec = AwsAccountSpec("alpha", "eu-west-1", "AKIAALPHA", "secret")
    await awsaccounts.add_account(db, SEALER, spec, now)
    await snssetups.save_topic(db, "alpha", "ses-gateway", topic, "https://gw/sns/ses", now)
    signer = SnsSigner()
    settings = make_settings(tmp_path, db.url, sns_topic_arns=[])
    (settings.data_dir / "sns-certs").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "sns-certs" / signer.cert_name).write_bytes(signer.cert_pem)
    sns = SnsEndpoint.from_settings(db, settings)
    envelope = signer.notification(bounce("unknown-id", "x@example.org"), topic_arn=topic)
    later = signer.notification(bounce("unknown-id", "x@example.org"), topic_arn=topic)
    async with serving(create_app(Readiness(db), sns)) as url, httpx.AsyncClient() as http:
        accepted = await http.post(f"{url}/sns/ses", content=body(envelope))
        await awsaccounts.remove_account(db, "alpha")
        sns.stored.forget()  # as the change bus says (`Topic.AWS_ACCOUNT`)
        refused = await http.post(f"{url}/sns/ses", content=body(later))

    assert accepted.status_code == 200, accepted.text
    stored = await event_store.find_event(db, envelope["MessageId"])
    assert stored is not None
    assert "came by a topic of AWS account alpha and is about none of its tenants" in stored.note
    assert refused.status_code == 403
    assert "set up in an AWS account that was removed" in refused.json()["error"]["message"]
