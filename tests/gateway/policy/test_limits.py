"""Per-tenant limits: rate, daily cap, recipients, size and connections, over SMTP."""

from __future__ import annotations

import asyncio
import smtplib
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from gateway.core.types.tenants import Account, Limits
from gateway.policy.limits import ConnectionCounter, RateLimiter, effective
from gateway.storage import refusals, tenants
from tests.conftest import Gateway, client_tls
from tests.support.smtp import Conversation, expect, protocol_only, ready, stored_messages

MESSAGE = b"From: news@example.com\r\nSubject: s\r\n\r\nhello\r\n"


def session(port: int, login: tuple[str, str]) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.starttls(context=client_tls())
    client.login(*login)
    return client


def send(port: int, login: tuple[str, str], recipients: int = 1, size: bytes = b"") -> Any:
    with session(port, login) as client:
        rcpts = [f"r{i}@example.org" for i in range(recipients)]
        return client.sendmail("news@example.com", rcpts, MESSAGE + size)


async def limited(start_gateway: Any, **limits: float | int) -> tuple[Gateway, tuple[str, str]]:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    await tenants.set_limits(gateway.db, "acme", limits)
    return gateway, login


@protocol_only
async def test_over_the_rate_is_refused_temporarily_and_passes_after_waiting(
    start_gateway: Any,
) -> None:
    gateway, login = await limited(start_gateway, max_per_second=1)
    await asyncio.to_thread(send, gateway.port, login)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        await asyncio.to_thread(send, gateway.port, login)
    assert caught.value.smtp_code == 451
    assert caught.value.smtp_error.startswith(b"4.7.1 Sending rate limit of 1 messages")
    await asyncio.sleep(1.1)
    await asyncio.to_thread(send, gateway.port, login)
    assert await refusals.count_refusals(gateway.db, "acme") == {"rate": 1}


async def test_daily_cap_holds_across_instances(start_gateway: Any) -> None:
    first, login = await limited(start_gateway, max_per_day=2)
    second: Gateway = await start_gateway(None, deliver=False)  # same database
    await asyncio.to_thread(send, first.port, login)
    await asyncio.to_thread(send, second.port, login)
    for port in (first.port, second.port):
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            await asyncio.to_thread(send, port, login)
        assert caught.value.smtp_code == 451
        assert b"Daily limit of 2 messages reached" in caught.value.smtp_error


@protocol_only
async def test_recipients_over_the_tenant_limit(start_gateway: Any) -> None:
    gateway, login = await limited(start_gateway, max_recipients=2)
    refused = await asyncio.to_thread(send, gateway.port, login, recipients=3)
    assert refused == {"r2@example.org": (452, b"4.5.3 Too many recipients: at most 2 per message")}


@protocol_only
async def test_size_over_the_tenant_limit(start_gateway: Any) -> None:
    gateway, login = await limited(start_gateway, max_size=2000)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        await asyncio.to_thread(send, gateway.port, login, size=b"x" * 3000)
    assert caught.value.smtp_code == 552
    assert caught.value.smtp_error == b"5.3.4 Message too big: the limit is 2000 bytes"


async def send_oversized(client: Conversation, megabytes: int) -> tuple[str, int]:
    """A message of `megabytes` MB without SIZE=: the reply to its end, and the most memory
    the process (server and client) held on top while it was sent."""
    expect(await client.command("MAIL FROM:<news@example.com>"), "250 ")
    expect(await client.command("RCPT TO:<a@example.org>"), "250 ")
    expect(await client.command("DATA"), "354 ")
    client.write(MESSAGE)
    tracemalloc.start()
    try:
        for _ in range(megabytes * 50):
            client.write((b"x" * 998 + b"\r\n") * 20)
            await client.writer.drain()
        client.write(b".\r\n")
        reply = await client.reply()
        return reply, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@protocol_only
async def test_data_over_the_tenant_limit_is_dropped_as_it_comes(start_gateway: Any) -> None:
    """Without SIZE=, a message over the tenant's limit is dropped as it arrives (up to the end
    of the data), not read whole up to the global limit and refused then (issue 16)."""
    gateway, login = await limited(start_gateway, max_size=100_000)
    async with await ready(gateway, login) as client:
        reply, _ = await send_oversized(client, 1)  # the first refusal fills caches
        expect(reply, "552 5.3.4 Message too big: the limit is 100000 bytes")
        reply, peak = await send_oversized(client, 4)  # 40 times the limit, a tenth of the global
        expect(reply, "552 5.3.4 Message too big: the limit is 100000 bytes")
        expect(await client.command("NOOP"), "250 ")
    assert peak < 2_000_000  # the streams' buffers (TLS reads of 256 KB) hold 1.3 MB of it
    assert await stored_messages(gateway) == 0
    assert await refusals.count_refusals(gateway.db, "acme") == {"size": 2}


@protocol_only
async def test_connections_over_the_tenant_limit(start_gateway: Any) -> None:
    gateway, login = await limited(start_gateway, max_connections=1)
    first = await asyncio.to_thread(session, gateway.port, login)
    try:
        await asyncio.to_thread(first.mail, "news@example.com")
        second = await asyncio.to_thread(session, gateway.port, login)
        code, text = await asyncio.to_thread(second.mail, "news@example.com")
        assert code == 421
        assert b"Too many connections for this account (at most 1)" in text
        second.close()
    finally:
        await asyncio.to_thread(first.quit)
    await asyncio.sleep(0.1)
    await asyncio.to_thread(send, gateway.port, login)


def test_effective_limits_fall_back_to_the_defaults(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, default_max_per_second=10, max_recipients=50, max_message_size=9000
    )
    limits = effective(Account(1, limits=Limits(max_per_day=5, max_recipients=80)), settings)
    assert limits == Limits(10, 5, 50, None, 9000)


def test_token_bucket() -> None:
    limiter = RateLimiter()
    assert [limiter.take(1, 2) == 0 for _ in range(3)] == [True, True, False]
    assert limiter.take(2, 2) == 0  # per tenant
    assert 0 < limiter.take(1, 2) <= 0.5


def test_token_bucket_refills_at_the_rate() -> None:
    """At rate 4 a token comes back every quarter second (at rate 1, `*` and `/` would agree)."""
    limiter = RateLimiter()
    assert [limiter.take(1, 4) for _ in range(4)] == [0.0] * 4  # a second's worth at once
    assert 0 < limiter.take(1, 4) <= 0.25  # the next token: within a quarter second
    time.sleep(0.3)
    assert limiter.take(1, 4) == 0.0


def test_connection_counter() -> None:
    counter = ConnectionCounter()
    assert counter.open(1, 1)
    assert not counter.open(1, 1)
    assert counter.open(1, None)
    counter.close(1)
    counter.close(1)
    assert counter.open(1, 1)


def test_a_closed_connection_is_counted_out_once() -> None:
    counter = ConnectionCounter()
    for _ in range(3):
        assert counter.open(1, None)
    counter.close(1)  # two left open
    assert counter.open(1, 3)
    assert not counter.open(1, 3)
    counter.close(1)
    counter.close(1)  # one left open
    assert not counter.open(1, 1)
    counter.close(1)
    assert counter.open(1, 1)
