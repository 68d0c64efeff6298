"""The offline mailbox simulator: which addresses, the SES events it makes (against the real
samples), the signed SNS envelopes, and its posts to a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.aws.ses import Outgoing
from gateway.core.exceptions import FetchError, SnsError
from gateway.core.types.events import EventKind
from gateway.dev.simulator import (
    CERT_NAME,
    HEADERS_LIMIT,
    DevSns,
    Simulator,
    endpoint_url,
    scenario,
    ses_events,
)
from gateway.feedback import events
from gateway.feedback.sns import SnsVerifier
from tests.support.ports import free_ports
from tests.support.sesevents import sample

SENT_AT = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
RAW = (
    b"From: Demo <demo@example.com>\r\n"
    b"To: bounce@simulator.amazonses.com,\r\n"
    b"  Other <success@simulator.amazonses.com>\r\n"
    b"Subject: Hello\r\n"
    b"Date: Sun, 01 Mar 2026 12:00:00 +0000\r\n"
    b"\r\n"
    b"Body.\r\n"
)


def outgoing(*recipients: str, raw: bytes = RAW) -> Outgoing:
    return Outgoing("demo@example.com", list(recipients), raw, {"tenant": "acme", "queue_id": "Q1"})


def only(address: str) -> list[dict[str, Any]]:
    return ses_events(outgoing(address), "ses-1", SENT_AT, "us-east-1", "dev-set")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("success@simulator.amazonses.com", "success"),
        ("bounce@simulator.amazonses.com", "bounce"),
        ("ooto@simulator.amazonses.com", "ooto"),
        ("complaint@simulator.amazonses.com", "complaint"),
        ("suppressionlist@simulator.amazonses.com", "suppressionlist"),
        ("Bounce+run-42@Simulator.AmazonSES.com", "bounce"),
        ("bounce@example.com", None),
        ("bounce@sub.simulator.amazonses.com", None),
        ("unknown@simulator.amazonses.com", None),
        ("x+bounce@simulator.amazonses.com", None),
        ("no-at-sign", None),
    ],
)
def test_simulator_addresses(address: str, expected: str | None) -> None:
    assert scenario(address) == expected


@pytest.mark.parametrize(
    ("address", "types"),
    [
        ("success@simulator.amazonses.com", ["Send", "Delivery"]),
        ("bounce@simulator.amazonses.com", ["Send", "Bounce"]),
        ("ooto@simulator.amazonses.com", ["Send", "Delivery", "Bounce"]),
        ("complaint@simulator.amazonses.com", ["Send", "Delivery", "Complaint"]),
        ("suppressionlist@simulator.amazonses.com", ["Send", "Bounce"]),
    ],
)
def test_each_address_gets_the_events_ses_publishes_in_order(
    address: str, types: list[str]
) -> None:
    assert [document["eventType"] for document in only(address)] == types


def facts(address: str, kind: EventKind) -> list[Any]:
    """What `gateway.events` reads from the simulated events of `kind`."""
    parsed = [events.parse(json.dumps(document)) for document in only(address)]
    return [fact for event in parsed if event.kind is kind for fact in event.recipients]


def test_bounce_is_a_permanent_user_unknown() -> None:
    [fact] = facts("bounce@simulator.amazonses.com", EventKind.BOUNCE)
    assert (fact.address, fact.bounce_type, fact.subtype) == (
        "bounce@simulator.amazonses.com",
        "Permanent",
        "General",
    )
    assert (fact.status, fact.diagnostic) == ("5.1.1", "smtp; 550 5.1.1 user unknown")
    assert events.suppression_for(EventKind.BOUNCE, fact) == "permanent"


def test_suppressionlist_is_a_bounce_because_of_the_account_suppression_list() -> None:
    [fact] = facts("suppressionlist@simulator.amazonses.com", EventKind.BOUNCE)
    assert (fact.bounce_type, fact.subtype) == ("Permanent", "OnAccountSuppressionList")
    assert fact.diagnostic is not None
    assert "suppression list" in fact.diagnostic


def test_complaint_is_abuse_after_a_delivery() -> None:
    [delivered] = facts("complaint@simulator.amazonses.com", EventKind.DELIVERY)
    [complained] = facts("complaint@simulator.amazonses.com", EventKind.COMPLAINT)
    assert complained.feedback_type == "abuse"
    assert delivered.occurred_at is not None
    assert complained.occurred_at is not None
    assert delivered.occurred_at < complained.occurred_at


def test_out_of_office_is_delivered_then_a_transient_bounce() -> None:
    [delivered] = facts("ooto@simulator.amazonses.com", EventKind.DELIVERY)
    [bounced] = facts("ooto@simulator.amazonses.com", EventKind.BOUNCE)
    assert delivered.smtp_response == "250 2.6.0 Message received"
    assert (bounced.bounce_type, bounced.subtype, bounced.diagnostic) == (
        "Transient",
        "General",
        None,
    )
    assert events.suppression_for(EventKind.BOUNCE, bounced) == "transient"


@pytest.mark.parametrize(
    ("address", "event_type", "section", "real"),
    [
        (
            "bounce@simulator.amazonses.com",
            "Bounce",
            "bounce",
            "bounce_notification_from_simulator",
        ),
        (
            "ooto@simulator.amazonses.com",
            "Bounce",
            "bounce",
            "ooto_bounce_notification_from_simulator",
        ),
        (
            "complaint@simulator.amazonses.com",
            "Complaint",
            "complaint",
            "complaint_notification_from_simulator",
        ),
        (
            "success@simulator.amazonses.com",
            "Delivery",
            "delivery",
            "delivery_notification_success_from_simulator",
        ),
        ("success@simulator.amazonses.com", "Send", "send", "send_event_example"),
    ],
)
def test_events_have_the_fields_of_the_real_ones(
    address: str, event_type: str, section: str, real: str
) -> None:
    [made] = [d for d in only(address) if d["eventType"] == event_type]
    genuine = sample(f"{real}_ses_body.json")
    assert set(made) == {"eventType", "mail", section}
    assert set(made[section]) == set(genuine[section])
    for recipient, genuine_recipient in zip(
        made[section].get("bouncedRecipients", []),
        genuine[section].get("bouncedRecipients", []),
        strict=True,
    ):
        assert set(recipient) == set(genuine_recipient)
    # Event publishing's `mail` has what the identity notifications of the simulator have.
    assert set(sample("bounce_event_example_ses_body.json")["mail"]) <= set(made["mail"])
    assert set(genuine["mail"]) <= set(made["mail"])
    assert events.parse(json.dumps(made)).note == ""


def test_mail_names_the_send_call_with_our_tags_and_headers() -> None:
    batch = outgoing("bounce@simulator.amazonses.com", "success@simulator.amazonses.com")
    documents = ses_events(batch, "ses-9", SENT_AT, "eu-west-1", "dev-set")
    mail = documents[0]["mail"]
    assert all(document["mail"] is mail for document in documents)
    assert mail["messageId"] == "ses-9"
    assert mail["source"] == "demo@example.com"
    assert mail["destination"] == batch.recipients
    assert mail["timestamp"] == "2026-03-01T12:00:00.250Z"
    assert mail["sourceArn"] == "arn:aws:ses:eu-west-1:123456789012:identity/example.com"
    assert mail["tags"]["tenant"] == ["acme"]
    assert mail["tags"]["queue_id"] == ["Q1"]
    assert mail["tags"]["ses:configuration-set"] == ["dev-set"]
    assert mail["tags"]["ses:from-domain"] == ["example.com"]
    assert mail["headersTruncated"] is False
    assert {"name": "Subject", "value": "Hello"} in mail["headers"]
    to = "bounce@simulator.amazonses.com, Other <success@simulator.amazonses.com>"
    assert {"name": "To", "value": to} in mail["headers"]  # unfolded
    assert mail["commonHeaders"]["from"] == ["Demo <demo@example.com>"]
    assert mail["commonHeaders"]["to"] == [
        "bounce@simulator.amazonses.com",
        "Other <success@simulator.amazonses.com>",
    ]
    assert mail["commonHeaders"]["subject"] == "Hello"
    parsed = events.parse(json.dumps(documents[0]))
    assert parsed.tags["queue_id"] == ("Q1",)


def test_without_a_configuration_set_there_is_no_such_tag() -> None:
    [send, _] = ses_events(outgoing("success@simulator.amazonses.com"), "s", SENT_AT, "us-east-1")
    assert "ses:configuration-set" not in send["mail"]["tags"]


def test_large_headers_are_truncated_as_ses_does() -> None:
    raw = b"".join(f"X-Filler-{i}: {'y' * 200}\r\n".encode() for i in range(100)) + b"\r\nBody\r\n"
    [send, _] = ses_events(
        outgoing("success@simulator.amazonses.com", raw=raw), "s", SENT_AT, "us-east-1"
    )
    assert send["mail"]["headersTruncated"] is True
    kept = sum(len(h["name"]) + len(h["value"]) for h in send["mail"]["headers"])
    assert HEADERS_LIMIT - 300 < kept <= HEADERS_LIMIT


def test_only_simulator_recipients_get_outcomes() -> None:
    assert ses_events(outgoing("someone@example.org"), "s", SENT_AT, "us-east-1") == []
    mixed = ses_events(
        outgoing("someone@example.org", "bounce@simulator.amazonses.com"), "s", SENT_AT, "us-east-1"
    )
    assert [d["eventType"] for d in mixed] == ["Send", "Bounce"]
    assert mixed[0]["mail"]["destination"] == [
        "someone@example.org",
        "bounce@simulator.amazonses.com",
    ]


def test_each_recipient_gets_its_own_events_and_keeps_its_spelling() -> None:
    batch = outgoing("Complaint+a@simulator.amazonses.com", "bounce+b@simulator.amazonses.com")
    documents = ses_events(batch, "s", SENT_AT, "us-east-1")
    assert [d["eventType"] for d in documents] == ["Send", "Delivery", "Complaint", "Bounce"]
    assert documents[2]["complaint"]["complainedRecipients"] == [
        {"emailAddress": "Complaint+a@simulator.amazonses.com"}
    ]


# -- The signing key and the envelopes ----------------------------------------------------------


@pytest.fixture(scope="module")
def dev_sns(tmp_path_factory: pytest.TempPathFactory) -> DevSns:
    return DevSns(tmp_path_factory.mktemp("data") / "dev-sns", "us-east-1")


def test_the_key_and_certificate_are_made_once(tmp_path: Path) -> None:
    directory = tmp_path / "dev-sns"
    first = DevSns(directory, "us-east-1")
    assert sorted(p.name for p in directory.iterdir()) == [CERT_NAME, "signing-key.pem"]
    assert oct((directory / "signing-key.pem").stat().st_mode & 0o777) == "0o600"
    again = DevSns(directory, "eu-west-1")
    assert again.cert_pem == first.cert_pem
    assert again.cert_url == f"https://sns.eu-west-1.amazonaws.com/{CERT_NAME}"
    assert again.topic_arn == "arn:aws:sns:eu-west-1:123456789012:ses-gateway-dev-simulator"


def verifier(
    dev_sns: DevSns, tmp_path: Path, trusted: bool, fetched: list[str] | None = None
) -> SnsVerifier:
    async def refuse(url: str) -> bytes:
        (fetched if fetched is not None else []).append(url)
        raise FetchError(f"GET {url}: HTTP 404", 404)

    return SnsVerifier(
        tmp_path / "sns-certs",
        frozenset({dev_sns.topic_arn}),
        3600,
        fetch=refuse,
        trusted_certificates=dev_sns.trusted_certificates if trusted else None,
    )


async def test_envelopes_verify_with_the_trusted_certificate(
    dev_sns: DevSns, tmp_path: Path
) -> None:
    bounce = only("bounce@simulator.amazonses.com")[1]
    envelope = dev_sns.notification(json.dumps(bounce), datetime.now(UTC))
    assert envelope["SignatureVersion"] == "2"
    message = await verifier(dev_sns, tmp_path, trusted=True).verify(json.dumps(envelope).encode())
    assert message.topic_arn == dev_sns.topic_arn
    assert json.loads(message.message) == bounce
    assert not (tmp_path / "sns-certs").exists()  # a trusted certificate is never written


async def test_without_trusting_it_the_certificate_is_fetched_from_sns_and_refused(
    dev_sns: DevSns, tmp_path: Path
) -> None:
    envelope = dev_sns.notification("{}", datetime.now(UTC))
    fetched: list[str] = []
    with pytest.raises(SnsError) as refused:
        await verifier(dev_sns, tmp_path, False, fetched).verify(json.dumps(envelope).encode())
    assert refused.value.status == 403
    assert fetched == [dev_sns.cert_url]


async def test_an_altered_envelope_is_refused(dev_sns: DevSns, tmp_path: Path) -> None:
    envelope = dev_sns.notification('{"eventType":"Send"}', datetime.now(UTC))
    envelope["Message"] = '{"eventType":"Bounce"}'
    with pytest.raises(SnsError, match="does not verify"):
        await verifier(dev_sns, tmp_path, trusted=True).verify(json.dumps(envelope).encode())


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8025/sns/ses"),
        ("0.0.0.0", "http://127.0.0.1:8025/sns/ses"),
        ("::", "http://[::1]:8025/sns/ses"),
        ("::1", "http://[::1]:8025/sns/ses"),
        ("gw.internal", "http://gw.internal:8025/sns/ses"),
    ],
)
def test_the_endpoint_is_the_gateway_own(host: str, url: str) -> None:
    assert endpoint_url(host, 8025) == url


# -- Posting -------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """`POST /sns/ses` on loopback: records each request, answers with `answers` in turn
    (then 200)."""

    port: int
    answers: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sns/ses"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"status": status}, status=status)

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def serve_receiver() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(receiver: Receiver) -> Receiver:
        app = web.Application()
        app.router.add_post("/sns/ses", receiver.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
        runners.append(runner)
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_events_are_posted_in_order_signed_with_sns_headers(
    dev_sns: DevSns, tmp_path: Path, serve_receiver: Callable[..., Any]
) -> None:
    receiver = await serve_receiver(Receiver(free_ports()[0]))
    async with Simulator(dev_sns, receiver.url, delay=0.01) as simulator:
        simulator.on_sent("acme", outgoing("complaint@simulator.amazonses.com"), "ses-7")
        await receiver.wait_for(3)
    check = verifier(dev_sns, tmp_path, trusted=True)
    types = []
    for headers, data in receiver.requests:
        message = await check.verify(data)
        assert headers["Content-Type"] == "text/plain; charset=UTF-8"
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-message-id"] == message.message_id
        assert headers["x-amz-sns-topic-arn"] == dev_sns.topic_arn
        document = json.loads(message.message)
        assert document["mail"]["messageId"] == "ses-7"
        types.append(document["eventType"])
    assert types == ["Send", "Delivery", "Complaint"]


async def test_sends_to_other_addresses_post_nothing(
    dev_sns: DevSns, serve_receiver: Callable[..., Any]
) -> None:
    receiver = await serve_receiver(Receiver(free_ports()[0]))
    async with Simulator(dev_sns, receiver.url, delay=0) as simulator:
        simulator.on_sent("acme", outgoing("someone@example.org"), "ses-1")
        await asyncio.sleep(0.2)
    assert receiver.requests == []


async def test_a_5xx_answer_or_no_listener_is_retried_and_a_4xx_is_not(
    dev_sns: DevSns, serve_receiver: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_ports()[0]
    receiver = Receiver(port, answers=[503, 403])
    async with Simulator(dev_sns, receiver.url, delay=0, attempts=3) as simulator:
        simulator.on_sent("acme", outgoing("bounce@simulator.amazonses.com"), "ses-2")
        await asyncio.sleep(0.3)  # the first try finds nothing listening
        await serve_receiver(receiver)
        # Send: 503, then 403 (final); Bounce: 200.
        await receiver.wait_for(3)
        await asyncio.sleep(0.2)
    assert len(receiver.requests) == 3
    first, second = receiver.requests[0][1], receiver.requests[1][1]
    assert first == second  # the same notification, tried again
    warned = [r for r in caplog.records if r.name == "gateway.simulator" and r.levelno >= 30]
    assert [r.getMessage() for r in warned] == ["simulated-event"]
    assert warned[0].fields["status"] == 403  # type: ignore[attr-defined]


async def test_leaving_drops_events_not_yet_posted(
    dev_sns: DevSns, serve_receiver: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.simulator")
    receiver = await serve_receiver(Receiver(free_ports()[0]))
    async with Simulator(dev_sns, receiver.url, delay=30) as simulator:
        simulator.on_sent("acme", outgoing("bounce@simulator.amazonses.com"), "ses-3")
    assert receiver.requests == []
    assert any(r.getMessage() == "simulated-events-dropped" for r in caplog.records)
