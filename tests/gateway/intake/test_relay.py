"""No open relay: without AUTH only trusted networks may send, over IPv4 and IPv6 alike.
And password guessers are locked out."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from typing import Any

import pytest

from gateway.identity import accounts
from gateway.storage import activity as activity_store
from gateway.storage import domains as domain_store
from tests.conftest import Gateway, client_tls
from tests.support.fakeses import FakeSes
from tests.support.smtp import protocol_only

pytestmark = protocol_only

MESSAGE = b"From: app@example.com\r\nSubject: s\r\n\r\nhello\r\n"


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def send_without_auth(host: str, port: int) -> Any:
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.starttls(context=client_tls())
        return client.sendmail("app@example.com", ["a@example.org"], MESSAGE)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_unauthenticated_clients_cannot_relay(start_gateway: Any, host: str) -> None:
    if host == "::1" and not has_ipv6_loopback():
        pytest.fail("this machine has no IPv6 loopback (::1): the IPv6 relay test needs one")
    gateway: Gateway = await start_gateway(None, deliver=False, smtp_host=host)
    await gateway.credential()
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        await asyncio.to_thread(send_without_auth, host, gateway.port)
    assert caught.value.smtp_code == 530
    assert caught.value.smtp_error.startswith(b"5.7.0 Authentication required")


@pytest.mark.parametrize(("host", "network"), [("127.0.0.1", "127.0.0.0/8"), ("::1", "::1/128")])
async def test_trusted_network_sends_without_auth_as_its_tenant(
    start_gateway: Any, fake_ses: FakeSes, host: str, network: str
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, smtp_host=host)
    await gateway.credential()
    await accounts.trust_network(gateway.db, "acme", network)
    await asyncio.to_thread(send_without_auth, host, gateway.port)
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.tags["tenant"] == "acme"
    assert b" with ESMTPS id " in sent.raw  # TLS, no AUTH


async def test_trusted_network_still_obeys_the_sender_rules(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    await gateway.credential()
    await accounts.trust_network(gateway.db, "acme", "127.0.0.1/32")
    domain = await domain_store.get_domain(gateway.db, "example.com")
    await domain_store.update_domain(gateway.db, domain.id, verified_for_sending=False)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        await asyncio.to_thread(send_without_auth, "127.0.0.1", gateway.port)
    assert caught.value.smtp_code == 553


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.1/8", "nonsense"])
async def test_bad_or_open_networks_are_refused(db: Any, cidr: str) -> None:
    await accounts.create_tenant(db, "acme")
    with pytest.raises(accounts.InvalidInputError):
        await accounts.trust_network(db, "acme", cidr)


def guess(port: int, username: str, passwords: list[str]) -> list[tuple[int, bytes]]:
    """AUTH PLAIN once per password on one connection: the replies."""
    replies = []
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.ehlo()
        for password in passwords:
            client.user, client.password = username, password
            try:
                client.auth("PLAIN", client.auth_plain)
            except smtplib.SMTPAuthenticationError as error:
                replies.append((error.smtp_code, error.smtp_error))
            else:
                replies.append((235, b""))
    return replies


async def test_password_guessing_locks_the_address_out(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(
        None, deliver=False, auth_max_failures=3, auth_lockout=120
    )
    username, password = await gateway.credential()
    replies = await asyncio.to_thread(guess, gateway.port, username, ["a", "b", "c", password])
    assert [code for code, _ in replies] == [535, 535, 535, 454]  # even the right one now
    assert (
        replies[-1][1] == b"4.7.0 Too many failed logins from your address: try again in 2 minutes"
    )
    with pytest.raises(smtplib.SMTPServerDisconnected):
        await asyncio.to_thread(guess, gateway.port, username, [password])
    activity = await activity_store.list_activity(gateway.db, kinds=["auth.failed"])
    assert len(activity) == 3
    assert all(password not in event.detail for event in activity)


async def test_unknown_users_count_as_failures_too(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, auth_max_failures=2)
    replies = await asyncio.to_thread(guess, gateway.port, "nobody", ["x", "y", "z"])
    assert [code for code, _ in replies] == [535, 535, 454]
