"""No open relay: without AUTH only trusted networks may send, over IPv4 and IPv6 alike.
And password guessers are locked out."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from gateway.identity import accounts, passwords
from gateway.storage import activity as activity_store
from gateway.storage import domains as domain_store
from tests.conftest import Gateway, client_tls, make_settings
from tests.support.fakeses import FakeSes
from tests.support.smtp import protocol_only, ready

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


@pytest.mark.parametrize(("host", "network"), [("127.0.0.1", "127.0.0.0/16"), ("::1", "::1/128")])
async def test_trusted_network_sends_without_auth_as_its_tenant(
    start_gateway: Any, fake_ses: FakeSes, host: str, network: str
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, smtp_host=host)
    await gateway.credential()
    await accounts.trust_network(gateway.db, "acme", network, gateway.settings)
    await asyncio.to_thread(send_without_auth, host, gateway.port)
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.tags["tenant"] == "acme"
    assert b" with ESMTPS id " in sent.raw  # TLS, no AUTH


async def test_trusted_network_still_obeys_the_sender_rules(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    await gateway.credential()
    await accounts.trust_network(gateway.db, "acme", "127.0.0.1/32", gateway.settings)
    domain = await domain_store.get_domain(gateway.db, "example.com")
    await domain_store.update_domain(gateway.db, domain.id, verified_for_sending=False)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        await asyncio.to_thread(send_without_auth, "127.0.0.1", gateway.port)
    assert caught.value.smtp_code == 553


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        ("0.0.0.0/0", "is every address"),
        ("::/0", "is every address"),
        ("0.0.0.0/1", "too wide"),
        ("::/1", "too wide"),
        ("::ffff:0:0/96", "is every address"),
        ("::ffff:10.0.0.0/104", "too wide"),
        ("10.0.0.0/15", "too wide"),
        ("2001:db8::/47", "too wide"),
        ("10.0.0.1/8", "host bits set"),
        ("nonsense", "not a network"),
    ],
)
async def test_bad_or_too_wide_networks_are_refused(
    db: Any, tmp_path: Path, database_url: str, cidr: str, why: str
) -> None:
    await accounts.create_tenant(db, "acme")
    settings = make_settings(tmp_path, database_url)
    with pytest.raises(accounts.InvalidInputError, match=why):
        await accounts.trust_network(db, "acme", cidr, settings)


@pytest.mark.parametrize(
    ("cidr", "stored"),
    [
        ("10.1.0.0/16", "10.1.0.0/16"),
        ("192.0.2.7", "192.0.2.7/32"),
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        ("::ffff:10.1.0.0/112", "10.1.0.0/16"),  # judged, and stored, as the IPv4 network it is
    ],
)
def test_networks_up_to_the_widest_allowed_are_accepted(
    tmp_path: Path, database_url: str, cidr: str, stored: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    assert accounts.check_trusted_network(cidr, settings) == stored


def test_the_widest_trusted_networks_are_settings(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path, database_url, trusted_ipv4_min_prefix=8, trusted_ipv6_min_prefix=32
    )
    assert accounts.check_trusted_network("10.0.0.0/8", settings) == "10.0.0.0/8"
    with pytest.raises(accounts.InvalidInputError, match="at most a /32"):
        accounts.check_trusted_network("2001:db8::/31", settings)


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


async def test_a_password_checked_right_before_does_not_pass_a_lockout(
    start_gateway: Any,
) -> None:
    gateway: Gateway = await start_gateway(
        None, deliver=False, auth_max_failures=2, auth_cache_ttl=300
    )
    username, password = await gateway.credential()
    assert await asyncio.to_thread(guess, gateway.port, username, [password]) == [(235, b"")]
    replies = await asyncio.to_thread(guess, gateway.port, username, ["a", "b", password])
    assert [code for code, _ in replies] == [535, 535, 454]


async def test_unknown_users_count_as_failures_too(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, auth_max_failures=2)
    replies = await asyncio.to_thread(guess, gateway.port, "nobody", ["x", "y", "z"])
    assert [code for code, _ in replies] == [535, 535, 454]


class CountingHasher(PasswordHasher):
    """argon2id at its lowest cost that counts its checks, each made slow enough (`delay`) that
    concurrent logins overlap."""

    def __init__(self, delay: float) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.delay = delay
        self.checks = 0
        self.running = 0
        self.most = 0
        """The most checks that ran at the same time."""
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.checks += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def concurrent_logins(
    gateway: Gateway, username: str, count: int, password: str | None = None
) -> list[str]:
    """`count` connections from one address send AUTH at the same moment: `password`, or each a
    different wrong one."""
    passwords = [password or f"wrong{n}" for n in range(count)]
    tokens = [base64.b64encode(f"\0{username}\0{p}".encode()) for p in passwords]
    clients = [await ready(gateway) for _ in range(count)]
    try:
        for client, token in zip(clients, tokens, strict=True):
            client.write(b"AUTH PLAIN " + token + b"\r\n")
        return list(await asyncio.gather(*(client.reply() for client in clients)))
    finally:
        for client in clients:
            await client.close()


async def test_concurrent_guesses_are_counted_before_they_are_checked(
    start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher(delay=0.1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    gateway: Gateway = await start_gateway(
        None, deliver=False, auth_max_failures=5, auth_max_concurrent=100
    )
    username, _ = await gateway.credential()
    answers = await concurrent_logins(gateway, username, 30)
    assert hasher.checks <= 5
    assert {answer[:9] for answer in answers} <= {"535 5.7.8", "454 4.7.0"}
    locked = [a for a in answers if a.startswith("454 4.7.0 Too many failed logins")]
    assert len(locked) >= 25


async def test_concurrent_logins_from_one_address_take_turns(
    start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most `AUTH_MAX_CONCURRENT` checks at once per address; the others wait their turn
    rather than being refused (an application's pool connecting at once)."""
    hasher = CountingHasher(delay=0.2)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    gateway: Gateway = await start_gateway(
        None, deliver=False, auth_max_failures=50, auth_max_concurrent=2
    )
    username, _ = await gateway.credential()
    answers = await concurrent_logins(gateway, username, 10)
    assert all(a.startswith("535 5.7.8") for a in answers), answers
    assert hasher.checks == 10
    assert hasher.most == 2


async def test_logins_with_the_same_password_at_once_share_one_check(
    start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool (or a reconnect storm) logging in together pays for argon2 once, not per
    connection; each login is still counted until its outcome."""
    hasher = CountingHasher(delay=0.2)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    answers = await concurrent_logins(gateway, username, 10, password)
    assert all(a.startswith("235 2.7.0") for a in answers), answers
    assert hasher.checks == 1
