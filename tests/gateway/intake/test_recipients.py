"""Recipient sanity: RFC 5321 syntax, and the optional recipient-domain check against real DNS."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.intake.handler import valid_recipient
from tests.conftest import Gateway, client_tls
from tests.support.dnsserver import DnsServer
from tests.support.smtp import protocol_only

MESSAGE = b"From: news@example.com\r\nSubject: s\r\n\r\nhello\r\n"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("a@example.org", True),
        ("first.last+tag@mail.example.co.uk", True),
        ('"john doe"@example.org', True),
        ("a@xn--bcher-kva.example", True),
        ("a@[192.0.2.1]", True),
        ("a@[IPv6:2001:db8::1]", True),
        ("a..b@example.org", False),
        (".a@example.org", False),
        ("a@-bad.example.org", False),
        ("a@example", False),
        ("a b@example.org", False),
        ("@example.org", False),
    ],
)
def test_recipient_syntax(address: str, valid: bool) -> None:
    assert valid_recipient(address) is valid


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add("mx.example", "MX", "10 mail.mx.example.")
        server.add("a-only.example", "A", "192.0.2.10")
        server.add("nullmx.example", "MX", "0 .")
        server.blackhole("slow.example")
        yield server


def rcpt(port: int, login: tuple[str, str], recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(*login)
        client.mail("news@example.com")
        return client.rcpt(recipient)


@protocol_only
@pytest.mark.parametrize(
    ("recipient", "reply"),
    [
        ("a@mx.example", (250, b"2.1.5 Recipient ok")),
        ("a@a-only.example", (250, b"2.1.5 Recipient ok")),
        ("a@slow.example", (250, b"2.1.5 Recipient ok")),
        (
            "a@nullmx.example",
            (556, b"5.1.10 Recipient domain nullmx.example accepts no mail (null MX, RFC 7505)"),
        ),
        (
            "a@nowhere.example",
            (550, b"5.1.2 Recipient domain nowhere.example does not exist or has no mail server"),
        ),
    ],
)
async def test_recipient_domain_check(
    start_gateway: Any, dns: DnsServer, recipient: str, reply: tuple[int, bytes]
) -> None:
    gateway: Gateway = await start_gateway(
        None,
        deliver=False,
        recipient_domain_check=True,
        recipient_domain_timeout=0.5,
        dns_nameservers=[dns.address],
    )
    login = await gateway.credential()
    assert await asyncio.to_thread(rcpt, gateway.port, login, recipient) == reply


@protocol_only
async def test_recipient_domains_are_not_checked_by_default(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    reply = await asyncio.to_thread(rcpt, gateway.port, login, "a@nowhere.invalid")
    assert reply[0] == 250


def utf8_rcpt(port: int, login: tuple[str, str], recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(*login)
        client.mail("news@example.com")
        client.command_encoding = "utf-8"  # a client that sends UTF-8 without SMTPUTF8
        return client.rcpt(recipient)


@protocol_only
async def test_non_ascii_local_part_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    code, text = await asyncio.to_thread(utf8_rcpt, gateway.port, login, "jörg@example.org")
    assert code == 553
    assert text.decode() == (
        "5.6.7 Non-ASCII local part in jörg@example.org: SES cannot deliver it (no SMTPUTF8)"
    )


@protocol_only
async def test_idn_recipient_domain_goes_to_ses_in_punycode(
    start_gateway: Any, fake_ses: Any
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    login = await gateway.credential()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
            client.starttls(context=client_tls())
            client.login(*login)
            client.command_encoding = "utf-8"
            client.sendmail("news@example.com", ["info@bücher.example"], MESSAGE)

    await asyncio.to_thread(send)
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["info@xn--bcher-kva.example"]


@protocol_only
async def test_smtputf8_is_neither_offered_nor_accepted(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()

    def mail() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
            client.starttls(context=client_tls())
            client.login(*login)
            assert not client.has_extn("smtputf8")
            return client.docmd("MAIL", "FROM:<news@example.com> SMTPUTF8")

    assert await asyncio.to_thread(mail) == (
        555,
        b"5.6.7 SMTPUTF8 is not supported: SES cannot deliver it",
    )
