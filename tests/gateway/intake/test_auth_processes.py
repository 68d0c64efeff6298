"""SMTP AUTH in two `serve --role smtp` processes on one PostgreSQL database: what one of them
remembers (a login, its view of an address's failed logins) gives way at once to a change made
elsewhere, told by the change bus, not when it runs out (`LOGIN_TTL`, `SHARED_VIEW_TTL`: 5 s).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.identity import accounts
from gateway.intake.auth import LOGIN_TTL
from gateway.intake.lockout import SHARED_VIEW_TTL
from gateway.storage import tenants
from gateway.storage.database import Database
from tests.support.postgres import PostgresServer
from tests.support.process import Gateway, Processes, provision, smtp_client
from tests.support.smtp import Conversation, expect


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


@pytest.fixture
def two(
    processes: Processes,
    tmp_path: Path,
    postgres_server: PostgresServer,
    postgres_template: str,
) -> tuple[Gateway, Gateway]:
    """Two SMTP processes on one database, each listening for changes."""
    url = postgres_server.create_database(f"auth_{secrets.token_hex(4)}", postgres_template)
    gateways = []
    for name in ("one", "two"):
        gateway = Gateway.create(processes, tmp_path / name, database_url=url, auth_max_failures=2)
        gateway.serve("--role", "smtp").wait_for_log(r"changes-listening")
        gateways.append(gateway)
    return gateways[0], gateways[1]


def log_in(port: int, username: str, password: str) -> None:
    smtp_client(port, username, password).quit()


async def test_a_credential_revoked_by_another_process_is_refused_at_once(
    two: tuple[Gateway, Gateway],
) -> None:
    """The revoke is made by this test's process, as the CLI makes it; the login it ends was
    remembered by the serving process a moment before."""
    _, serving = two
    credential_id, username, password = await asyncio.to_thread(provision, serving.database_url)
    await asyncio.to_thread(log_in, serving.smtp_port, username, password)  # remembered
    remembered = time.monotonic()
    db = Database(serving.database_url)
    try:
        await tenants.revoke_credential(db, credential_id, accounts.now())
    finally:
        await db.close()
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        await asyncio.to_thread(log_in, serving.smtp_port, username, password)
    assert refused.value.smtp_code == 535
    assert time.monotonic() - remembered < LOGIN_TTL, "too slow to tell: the login ran out"


async def test_failed_logins_on_one_process_lock_the_address_out_on_the_other_at_once(
    two: tuple[Gateway, Gateway],
) -> None:
    one, other = two
    _, username, password = await asyncio.to_thread(provision, one.database_url)
    await asyncio.to_thread(log_in, other.smtp_port, username, password)  # its view: read now
    viewed = time.monotonic()
    async with await Conversation.open(one.smtp_port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        await client.starttls()
        expect(await client.command("EHLO client.example"), "250 ")
        for guess in ("wrong", "also wrong"):  # AUTH_MAX_FAILURES
            token = base64.b64encode(f"\0{username}\0{guess}".encode()).decode()
            expect(await client.command(f"AUTH PLAIN {token}"), "535 5.7.8")
    async with await Conversation.open(other.smtp_port, implicit_tls=False) as client:
        reply = expect(await client.command("EHLO client.example"), "421 4.7.0")
    assert "Too many failed logins" in reply
    assert time.monotonic() - viewed < SHARED_VIEW_TTL, "too slow to tell: the view ran out"
