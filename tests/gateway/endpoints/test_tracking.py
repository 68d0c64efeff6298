"""Tracking end to end: a tenant turns it on with the CLI, sends HTML over SMTP, SES gets one
copy per recipient with its own links (each sent once, whatever happens part way), and the
gateway's HTTP app records and redirects, on the links' own host only."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import smtplib
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from admin.app import create_app
from gateway.core.types.messages import RecipientState
from gateway.endpoints.health import Readiness
from gateway.endpoints.tracking import TrackingEndpoints
from gateway.storage import domains as domain_store
from gateway.storage import events as event_store
from gateway.storage import suppressions as suppression_store
from gateway.storage import tracking as tracking_store
from gateway.storage.tenants import get_tenant
from gateway.tracking.copies import Copier
from tests.conftest import Cli, Gateway, client_tls, settled
from tests.support.fakeses import FakeSes, SentMessage
from tests.support.http import serving
from tests.support.mime import entities

CORPUS = Path(__file__).parents[2] / "data" / "tracking"
PUBLIC_URL = "https://track.test/"
HTML = (
    "<html><body><p>Hello</p>"
    '<a href="https://shop.example/offer?a=1&amp;b=2">Offer</a>'
    '<a href="mailto:help@example.com">Help</a></body></html>'
)


def send(port: int, username: str, password: str, recipients: list[str]) -> None:
    message = EmailMessage()
    message["From"] = "news@example.com"
    message["To"] = ", ".join(recipients)
    message["Subject"] = "News"
    message.set_content("Hello, see https://shop.example/offer")
    message.add_alternative(HTML, subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(username, password)
        client.send_message(message, "news@example.com", recipients)


def html_of(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    part = parsed.get_body(("html",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


def links(html: str, kind: str) -> list[str]:
    return re.findall(rf'"https://track\.test(/{kind}/[^"]+)"', html)


def sent_to(sent: list[SentMessage], recipient: str) -> list[SentMessage]:
    return [m for m in sent if m.destinations == [recipient]]


def tracking_links(raw: bytes) -> tuple[list[str], list[str], str]:
    """The pixel, the tracked links and the unsubscribe URL of a copy."""
    html = html_of(raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return links(html, "t/o"), links(html, "t/c"), str(parsed["List-Unsubscribe"])


StartTracked = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def start_tracked(
    start_gateway: Any, fake_ses: FakeSes, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> StartTracked:
    """`await start_tracked(**settings)`: a gateway whose tenant's domain tracks everything,
    with links on https://track.test."""
    monkeypatch.setenv("SES_GATEWAY_PUBLIC_URL", PUBLIC_URL)

    async def start(**overrides: Any) -> Gateway:
        gateway: Gateway = await start_gateway(
            fake_ses.url, public_url=PUBLIC_URL, tracking_scanner_window=0, **overrides
        )
        await gateway.credential()
        flags = ("--open-tracking", "on", "--click-tracking", "on", "--unsubscribe", "on")
        status, out, err = await asyncio.to_thread(cli, "domain", "set", "example.com", *flags)
        assert status == 0, err
        assert "tracking: opens, clicks, unsubscribe header" in out
        return gateway

    return start


@pytest.fixture
async def tracked(start_tracked: StartTracked) -> Gateway:
    return await start_tracked()


@asynccontextmanager
async def app(gateway: Gateway, host: str = "track.test") -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's HTTP app, served by uvicorn on loopback, asked for as `host`."""
    tracking = TrackingEndpoints.from_settings(gateway.db, gateway.settings)
    asgi = create_app(Readiness(gateway.db), tracking=tracking)
    async with (
        serving(asgi) as url,
        httpx.AsyncClient(base_url=url, headers={"Host": host}) as client,
    ):
        yield client


async def test_each_recipient_gets_its_own_tracked_copy(
    tracked: Gateway, fake_ses: FakeSes
) -> None:
    username, password = await tracked.credential()
    recipients = ["alice@example.org", "bob@example.org"]
    await asyncio.to_thread(send, tracked.port, username, password, recipients)
    sent = await asyncio.to_thread(fake_ses.wait_for, 2)
    assert sorted(d for m in sent for d in m.destinations) == recipients
    assert all(len(m.destinations) == 1 for m in sent)
    pixels = [links(html_of(m.raw), "t/o") for m in sent]
    clicks = [links(html_of(m.raw), "t/c") for m in sent]
    assert all(len(p) == 1 and p[0].endswith(".gif") for p in pixels)
    assert all(len(c) == 1 for c in clicks)  # the mailto: link stays
    assert pixels[0] != pixels[1]
    assert clicks[0] != clicks[1]
    for message in sent:
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        assert re.fullmatch(r"<https://track\.test/u/[^>]+>", parsed["List-Unsubscribe"])
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = parsed.get_body(("plain",))  # type: ignore[attr-defined]
        assert text.get_content().strip() == "Hello, see https://shop.example/offer"


async def test_clicks_opens_and_unsubscribe_are_recorded(
    tracked: Gateway, fake_ses: FakeSes, cli: Cli
) -> None:
    username, password = await tracked.credential()
    await asyncio.to_thread(
        send, tracked.port, username, password, ["alice@example.org", "bob@example.org"]
    )
    sent = await asyncio.to_thread(fake_ses.wait_for, 2)
    [alice] = [m for m in sent if m.destinations == ["alice@example.org"]]
    queue_id = alice.tags["queue_id"]
    await settled(tracked.db, queue_id)
    [click] = links(html_of(alice.raw), "t/c")
    [pixel] = links(html_of(alice.raw), "t/o")
    parsed = email.message_from_bytes(alice.raw, policy=email.policy.default)
    unsubscribe = parsed["List-Unsubscribe"].strip("<>").removeprefix("https://track.test")
    tenant = await get_tenant(tracked.db, "acme")
    for name in ("people", "more"):  # the tenant's lists: the message is no campaign's
        assert (await asyncio.to_thread(cli, "list", "create", name, "--tenant", "acme"))[0] == 0
        for address in ("alice@example.org", "bob@example.org"):
            added = ("contact", "add", name, address, "--tenant", "acme")
            assert (await asyncio.to_thread(cli, *added))[0] == 0

    async with app(tracked) as client:
        redirect = await client.get(click, headers={"User-Agent": "Thunderbird/128"})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "https://shop.example/offer?a=1&b=2"

        tampered = click[:-3] + ("AAA" if not click.endswith("AAA") else "BBB")
        refused = await client.get(tampered)
        assert refused.status_code == 404
        assert refused.json()["error"]["status"] == 404

        image = await client.get(pixel, headers={"User-Agent": "Thunderbird/128"})
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/gif"
        assert image.content.startswith(b"GIF89a")
        assert "no-store" in image.headers["cache-control"]

        page = await client.get(unsubscribe)
        assert page.status_code == 200
        assert '<form method="post">' in page.text
        assert "alice@example.org" in page.text
        assert await suppression_store.get(tracked.db, "alice@example.org", tenant.id) is None

        done = await client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200

    entry = await suppression_store.get(tracked.db, "alice@example.org", tenant.id)
    assert entry is not None
    assert entry.reason == "unsubscribe"
    for name, address, status in (
        ("people", "alice@example.org", "unsubscribed"),
        ("more", "alice@example.org", "unsubscribed"),
        ("people", "bob@example.org", "subscribed"),
    ):
        show = ("contact", "show", name, address, "--tenant", "acme", "--json")
        code, out, err = await asyncio.to_thread(cli, *show)
        assert code == 0, err
        contact = json.loads(out)
        assert contact["status"] == status
        assert contact["unsubscribed_how"] == ("link" if status == "unsubscribed" else None)
    report = await event_store.events_for_message(tracked.db, queue_id)
    [mine] = [r for r in report.recipients if r.address == "alice@example.org"]
    assert (mine.clicks, mine.opens) == (1, 1)
    assert mine.unsubscribed_at is not None
    [row] = await tracking_store.message_tracking(tracked.db, queue_id)
    assert (row.address, row.clicks, row.opens, row.machine_opens) == ("alice@example.org", 1, 1, 0)
    status, out, err = await asyncio.to_thread(cli, "message", "show", queue_id, "--json")
    assert status == 0, err
    [shown] = json.loads(out)["tracking"]
    assert (shown["address"], shown["clicks"], shown["opens"]) == ("alice@example.org", 1, 1)
    status, out, _ = await asyncio.to_thread(cli, "message", "show", queue_id)
    assert "Tracking (people, and machines apart)" in out

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(send, tracked.port, username, password, ["alice@example.org"])


async def test_untracked_domains_are_batched_untouched(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    await asyncio.to_thread(
        send, gateway.port, username, password, ["alice@example.org", "bob@example.org"]
    )
    [message] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert message.destinations == ["alice@example.org", "bob@example.org"]
    assert b"/t/o/" not in message.raw
    assert b"List-Unsubscribe" not in message.raw


def moto_copies(url: str, recipient: str) -> list[bytes]:
    with urllib.request.urlopen(f"{url}/moto-api/data.json") as response:  # noqa: S310 - loopback
        sent = json.load(response)["ses"]["RawMessage"]
    # moto lists the envelope recipients and those of the To: field
    return [m["raw_data"].encode() for m in sent if recipient in m["destinations"]]


Relay = Callable[[bytes], Awaitable[bytes]]


@pytest.fixture
async def relay_to_moto(
    start_gateway: Any, moto_server: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> tuple[Gateway, Relay]:
    """A gateway relaying to moto with opens, clicks and unsubscribe on for example.com, and a
    function that submits a message over SMTP and returns the copy moto received."""
    gateway: Gateway = await start_gateway(
        moto_server, public_url=PUBLIC_URL, tracking_scanner_window=0
    )
    username, password = await gateway.credential()
    monkeypatch.setenv("SES_GATEWAY_PUBLIC_URL", PUBLIC_URL)
    ses = boto3.client("sesv2", endpoint_url=moto_server, region_name="us-east-1")
    await asyncio.to_thread(ses.create_email_identity, EmailIdentity="example.com")
    flags = ("--open-tracking", "on", "--click-tracking", "on", "--unsubscribe", "on")
    status, _, err = await asyncio.to_thread(cli, "domain", "set", "example.com", *flags)
    assert status == 0, err

    async def relay(original: bytes) -> bytes:
        recipient = f"reader-{uuid.uuid4().hex}@example.org"  # moto keeps other tests' mail

        def submit() -> None:
            with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
                client.starttls(context=client_tls())
                client.login(username, password)
                client.sendmail("news@example.com", [recipient], original)

        await asyncio.to_thread(submit)
        for _ in range(200):
            copies = await asyncio.to_thread(moto_copies, moto_server, recipient)
            if copies:
                break
            await asyncio.sleep(0.05)
        [copy] = copies
        return copy

    return gateway, relay


async def test_ses_gets_the_message_changed_only_by_tracking(
    relay_to_moto: tuple[Gateway, Relay],
) -> None:
    """The issue's end: a real-world HTML message over SMTP, the copy SES (moto) receives, and
    what differs: the pixel, the tracked link (which redirects to the original), the unsubscribe
    fields, our Received field; every other part byte for byte."""
    gateway, relay = relay_to_moto
    original = (CORPUS / "related_inline_images.eml").read_bytes()
    copy = await relay(original)

    head, original_head = copy.partition(b"\r\n\r\n")[0], original.partition(b"\r\n\r\n")[0]
    received, _, rest = head.partition(b"\r\nReceived: from app.example.com")
    assert received.startswith(b"Received: from ")
    assert b"(SES Gateway)" in received
    fields = rest.removeprefix(original_head.removeprefix(b"Received: from app.example.com"))
    assert re.fullmatch(
        rb"\r\nList-Unsubscribe: <https://track\.test/u/[^>\s]+>\r\n"
        rb"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        fields,
    )
    parts, original_parts = entities(copy), entities(original)
    assert parts.keys() == original_parts.keys()
    assert {key for key in parts if parts[key] != original_parts[key]} == {"2.1"}

    html = parts["2.1"][1].decode("ascii")
    [pixel] = re.findall(r'<img src="https://track\.test/t/o/[^"]+"[^>]*>', html)
    [click] = re.findall(r'href="https://track\.test(/t/c/[^"]+)"', html)
    async with app(gateway) as client:
        redirect = await client.get(click)
    target = "https://example.com/offer?code=NOV&ref=mail"
    assert redirect.status_code == 302, redirect.text
    assert redirect.headers["location"] == target
    untracked = html.replace(pixel, "").replace(
        f"https://track.test{click}", target.replace("&", "&amp;")
    )
    assert untracked.encode() == original_parts["2.1"][1]


async def test_a_link_works_on_its_own_host_only(tracked: Gateway, fake_ses: FakeSes) -> None:
    """Another tenant's tracking host (the same gateway) is no redirector for our links."""
    username, password = await tracked.credential()
    await asyncio.to_thread(send, tracked.port, username, password, ["alice@example.org"])
    [alice] = await asyncio.to_thread(fake_ses.wait_for, 1)
    await settled(tracked.db, alice.tags["queue_id"])
    [pixel], [click], _ = tracking_links(alice.raw)
    async with app(tracked, host="track.other-tenant.com") as elsewhere:
        refused = await elsewhere.get(click)
        image = await elsewhere.get(pixel)
    assert refused.status_code == 404
    assert refused.json()["error"]["status"] == 404
    assert "location" not in refused.headers
    assert image.content.startswith(b"GIF89a")
    assert await tracking_store.message_tracking(tracked.db, alice.tags["queue_id"]) == []
    async with app(tracked, host="TRACK.test:443") as own:
        assert (await own.get(click)).status_code == 302


async def test_head_requests_record_nothing(tracked: Gateway, fake_ses: FakeSes) -> None:
    username, password = await tracked.credential()
    await asyncio.to_thread(send, tracked.port, username, password, ["alice@example.org"])
    [alice] = await asyncio.to_thread(fake_ses.wait_for, 1)
    queue_id = alice.tags["queue_id"]
    await settled(tracked.db, queue_id)
    [pixel], [click], _ = tracking_links(alice.raw)
    async with app(tracked) as client:
        redirect = await client.head(click, headers={"User-Agent": "Thunderbird/128"})
        image = await client.head(pixel, headers={"User-Agent": "Thunderbird/128"})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "https://shop.example/offer?a=1&b=2"
        assert image.headers["content-type"] == "image/gif"
        assert await tracking_store.message_tracking(tracked.db, queue_id) == []
        await client.get(click, headers={"User-Agent": "Thunderbird/128"})
    [row] = await tracking_store.message_tracking(tracked.db, queue_id)
    assert (row.clicks, row.opens) == (1, 0)


async def test_unsubscribe_needs_an_https_public_url(start_gateway: Any, cli: Cli) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    await gateway.credential()
    status, _, err = await asyncio.to_thread(
        cli, "domain", "set", "example.com", "--unsubscribe", "on"
    )
    assert status != 0
    assert "https" in err
    assert "PUBLIC_URL" in err
    assert not (await domain_store.get_domain(gateway.db, "example.com")).unsubscribe
    status, _, err = await asyncio.to_thread(
        cli, "domain", "set", "example.com", "--open-tracking", "on", "--unsubscribe", "off"
    )
    assert status == 0, err


async def test_a_stop_part_way_sends_no_copy_twice(
    start_tracked: StartTracked, start_gateway: Any, fake_ses: FakeSes
) -> None:
    """The worker stops while SES takes Bob's copy: Alice's, sent before, is not sent again by
    the next worker, and Bob's copy sent again carries the same links."""
    first = await start_tracked(shutdown_timeout=0.3)
    assert first.worker is not None
    username, password = await first.credential()
    fake_ses.delay_next(1, 0)  # Alice's copy: at once
    fake_ses.delay_next(1, 2)  # Bob's: SES takes it after the worker gave up waiting
    recipients = ["alice@example.org", "bob@example.org"]
    await asyncio.to_thread(send, first.port, username, password, recipients)
    [alice] = await asyncio.to_thread(fake_ses.wait_for, 1)
    await asyncio.sleep(0.2)
    await first.worker.stop()
    second: Gateway = await start_gateway(
        fake_ses.url, public_url=PUBLIC_URL, tracking_scanner_window=0
    )
    await settled(second.db, alice.tags["queue_id"])
    sent = await asyncio.to_thread(fake_ses.wait_for, 3)
    assert len(sent_to(sent, "alice@example.org")) == 1
    bob = sent_to(sent, "bob@example.org")
    assert len(bob) == 2
    assert tracking_links(bob[0].raw) == tracking_links(bob[1].raw)


async def test_a_copy_that_cannot_be_made_is_tried_again(
    tracked: Gateway, fake_ses: FakeSes, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Copier.rewrite
    calls = 0

    def fails_once_for_bob(self: Copier, recipient_id: int) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first attempt's second copy: Bob's
            raise MemoryError
        return made(self, recipient_id)

    monkeypatch.setattr(Copier, "rewrite", fails_once_for_bob)
    username, password = await tracked.credential()
    recipients = ["alice@example.org", "bob@example.org"]
    await asyncio.to_thread(send, tracked.port, username, password, recipients)
    [alice] = await asyncio.to_thread(fake_ses.wait_for, 1)
    status = await settled(tracked.db, alice.tags["queue_id"])
    assert [r.state for r in status.recipients] == [RecipientState.SENT] * 2
    assert [r.attempts for r in status.recipients] == [1, 2]
    sent = fake_ses.messages()
    assert [len(sent_to(sent, r)) for r in recipients] == [1, 1]


@pytest.mark.parametrize("name", ["smime_signed", "pgp_encrypted", "inline_pgp", "dkim_signed"])
async def test_signed_and_encrypted_mail_reaches_ses_untouched(
    relay_to_moto: tuple[Gateway, Relay], name: str
) -> None:
    _, relay = relay_to_moto
    original = (CORPUS / f"{name}.eml").read_bytes()
    copy = await relay(original)
    assert copy.endswith(original)
    received = copy[: len(copy) - len(original)].decode("ascii").split("\r\n")
    assert received[0].startswith("Received: from ")
    assert "(SES Gateway)" in received[1]
    assert all(line[:1] in " \t" for line in received[1:-1])  # one field: ours
