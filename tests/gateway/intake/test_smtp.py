"""The SMTP server, driven by real clients (smtplib, aiosmtplib, swaks, raw sockets) over loopback.

Tests of pure protocol behaviour run on SQLite only (`protocol_only`); tests where the message is
stored or delivered run on every database backend.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import weakref
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import text

from gateway.core.headers import split_header
from gateway.core.types.messages import RecipientState
from gateway.storage import tenants
from tests.conftest import Gateway, client_tls, settled
from tests.support.fakeses import FakeSes, SentMessage
from tests.support.smtp import (
    MESSAGE,
    Conversation,
    expect,
    header_values,
    protocol_only,
    queue_id,
    ready,
    stored_messages,
    submit,
)


async def test_starttls_plain_submission_reaches_ses(start_gateway: Any, fake_ses: FakeSes) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    await asyncio.to_thread(submit, gateway.port, username, password)
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.source == "demo@example.com"
    assert sent.destinations == ["a@example.org"]
    assert sent.raw.endswith(b"\r\n\r\nHello there.\r\n")
    assert sent.tags["tenant"] == "acme"
    status = await settled(gateway.db, sent.tags["queue_id"])
    assert status.recipients[0].ses_message_id == sent.message_id


async def test_starttls_login_submission_reaches_ses(start_gateway: Any, fake_ses: FakeSes) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    await asyncio.to_thread(submit, gateway.port, username, password, mechanism="LOGIN")
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    assert sent.raw.endswith(b"\r\n\r\nHello there.\r\n")


async def test_implicit_tls_plain_submission_reaches_ses(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    await asyncio.to_thread(submit, gateway.smtps_port, username, password, implicit_tls=True)
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    assert sent.raw.endswith(b"\r\n\r\nHello there.\r\n")


async def test_implicit_tls_login_submission_reaches_ses(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    await asyncio.to_thread(
        submit, gateway.smtps_port, username, password, mechanism="LOGIN", implicit_tls=True
    )
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    assert sent.raw.endswith(b"\r\n\r\nHello there.\r\n")


async def test_aiosmtplib_starttls_submission_reaches_ses(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    message = EmailMessage()
    message["From"] = "demo@example.com"
    message["To"] = "a@example.org"
    message["Subject"] = "from aiosmtplib"
    message.set_content("Hello from aiosmtplib.\n")
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=gateway.port, start_tls=True, tls_context=client_tls()
    )
    async with client:
        await client.login(username, password)
        errors, reply = await client.send_message(message)
    assert errors == {}
    assert reply.startswith("2.0.0 Ok: queued as "), reply
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    assert sent.raw.endswith(b"\r\n\r\nHello from aiosmtplib.\r\n")


async def test_swaks_starttls_login_submission_reaches_ses(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed: run scripts/install --dev")
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    command = [
        swaks,
        "--server", "127.0.0.1",
        "--port", str(gateway.port),
        "--tls",
        "--auth", "LOGIN",
        f"--auth-user={username}",
        f"--auth-password={password}",  # one word: a password may begin with "-"
        "--from", "demo@example.com",
        "--to", "a@example.org",
        "--body", "Sent by swaks.",
        "--timeout", "10",
    ]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    body = sent.raw.split(b"\r\n\r\n", 1)[1]
    assert body.rstrip(b"\r\n") == b"Sent by swaks."  # swaks ends its body with blank lines


# -- EHLO: what each port offers, before and after TLS ---------------------------------------------


@protocol_only
async def test_ehlo_before_starttls_offers_starttls_but_not_auth(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, start_tls=False)
    async with client:
        await client.ehlo()
        assert client.supports_extension("starttls")
        assert not client.supports_extension("auth")


@protocol_only
async def test_ehlo_after_starttls_offers_auth_and_extensions(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=gateway.port, start_tls=True, tls_context=client_tls()
    )
    async with client:
        await client.ehlo()
        extensions = client.esmtp_extensions
    assert set(extensions["auth"].split()) == {"PLAIN", "LOGIN"}
    assert extensions["size"] == str(gateway.settings.message_size_limit)
    for name in ("8bitmime", "pipelining", "enhancedstatuscodes"):
        assert name in extensions
    assert "smtputf8" not in extensions
    assert "starttls" not in extensions


@protocol_only
async def test_ehlo_on_implicit_tls_port_offers_auth_at_once(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=gateway.smtps_port, use_tls=True, tls_context=client_tls()
    )
    async with client:
        await client.ehlo()
        assert set(client.esmtp_extensions["auth"].split()) == {"PLAIN", "LOGIN"}
        assert not client.supports_extension("starttls")


def _records_of_reply(port: int, command: bytes) -> int:
    """How many TLS records the reply to `command` came in, on the implicit TLS port (a raw
    socket under an `SSLObject`, so that the records can be counted)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_tls().wrap_bio(incoming, outgoing)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        records: list[int] = []
        pending = b""

        def receive() -> None:
            nonlocal pending
            pending += sock.recv(65536)
            while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5]):
                size = 5 + int.from_bytes(pending[3:5])
                records.append(pending[0])
                incoming.write(pending[:size])
                pending = pending[size:]

        def read_reply() -> bytes:
            text = b""
            while not re.search(rb"(^|\n)\d{3} [^\n]*\r\n$", text):
                try:
                    text += tls.read()
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    receive()
            return text

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                receive()
        sock.sendall(outgoing.read())
        assert read_reply().startswith(b"220 ")  # session tickets came with it, or before
        records.clear()
        tls.write(command)
        sock.sendall(outgoing.read())
        assert read_reply().count(b"\r\n") > 1
        return len(records)


@protocol_only
async def test_ehlo_reply_is_one_write(start_gateway: Any) -> None:
    """The lines of EHLO's reply go out together: one TLS record (and one send), not one per
    line, the most of a new connection's writes."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    records = await asyncio.to_thread(_records_of_reply, gateway.smtps_port, b"EHLO c.example\r\n")
    assert records == 1


# -- what must come first: TLS, then AUTH ----------------------------------------------------------


@protocol_only
async def test_auth_before_starttls_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        reply = expect(await client.command(f"AUTH PLAIN {token}"), "5")
        assert reply.startswith(("530 5.7.0", "538 5.7.11")), reply


@protocol_only
async def test_mail_before_starttls_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        expect(await client.command("MAIL FROM:<demo@example.com>"), "530 5.7.0")


@protocol_only
async def test_mail_after_starttls_before_auth_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        await client.starttls()
        expect(await client.command("EHLO client.example"), "250 ")
        expect(await client.command("MAIL FROM:<demo@example.com>"), "530 5.7.0")


# -- credentials -----------------------------------------------------------------------------------


def login_error(port: int, username: str, password: str) -> smtplib.SMTPAuthenticationError:
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=client_tls()) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(username, password)
        return refused.value


@protocol_only
async def test_wrong_password_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, _ = await gateway.credential()
    error = await asyncio.to_thread(login_error, gateway.smtps_port, username, "wrong-password")
    expect((error.smtp_code, error.smtp_error), "535 5.7.8")


@protocol_only
async def test_unknown_user_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    _, password = await gateway.credential()
    error = await asyncio.to_thread(login_error, gateway.smtps_port, "gwnosuchuser", password)
    expect((error.smtp_code, error.smtp_error), "535 5.7.8")


async def test_revoked_credential_is_refused_right_after_a_successful_login(
    start_gateway: Any,
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    async with await ready(gateway, (username, password)):
        pass  # logged in: the authenticator now caches this password
    login = await tenants.find_login(gateway.db, username)
    assert login is not None
    await tenants.revoke_credential(gateway.db, login[0].credential_id, datetime.now(UTC))
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    async with await ready(gateway) as client:
        expect(await client.command(f"AUTH PLAIN {token}"), "535 5.7.8")


@protocol_only
async def test_auth_plain_with_broken_base64_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway) as client:
        expect(await client.command("AUTH PLAIN not*base64!"), "501 5.5.2")
        expect(await client.command("NOOP"), "250 ")


# -- size limit ------------------------------------------------------------------------------------


@protocol_only
async def test_declared_size_over_the_limit_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, max_message_size=20000)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com> SIZE=999999"), "552 5.3.4")


async def test_oversize_data_is_refused_not_stored_and_the_session_goes_on(
    start_gateway: Any,
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, max_message_size=20000)
    big = MESSAGE + b"".join(b"%05d " % n + b"x" * 70 + b"\r\n" for n in range(400))
    assert len(big) > 30000
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.send(big), "552 5.3.4")
        assert await stored_messages(gateway) == 0
        expect(await client.command("RSET"), "250 ")
        expect(await client.command("NOOP"), "250 ")
        queue_id(await client.send(MESSAGE))
    assert await stored_messages(gateway) == 1


async def test_a_store_that_fails_gets_451_for_every_waiting_client_never_250(
    start_gateway: Any,
) -> None:
    """The spool's group commit fails (a table is gone): each client whose message was in the
    failed batch hears 451 and may retry; nothing is half stored."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    async with gateway.db.begin() as conn:
        await conn.execute(text("DROP TABLE message_body_chunks"))  # it refers to the bodies
        await conn.execute(text("DROP TABLE message_bodies"))

    def refused() -> smtplib.SMTPDataError:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            submit(gateway.port, username, password)
        return caught.value

    errors = await asyncio.gather(*(asyncio.to_thread(refused) for _ in range(3)))
    assert {(e.smtp_code, e.smtp_error) for e in errors} == {
        (451, b"4.3.0 Temporary failure storing the message: try again later")
    }
    assert await stored_messages(gateway) == 0


# -- malformed and abusive input -------------------------------------------------------------------


@protocol_only
async def test_mail_from_without_a_mailbox_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:bogus"), "553 5.1.7")
        expect(await client.command("MAIL FROM:<bogus>"), "553 5.1.7")
        expect(await client.command("MAIL FROM <demo@example.com>"), "501 5.5.4")


@protocol_only
async def test_null_sender_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<>"), "553 5.1.7")


@protocol_only
async def test_rcpt_without_mail_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("RCPT TO:<a@example.org>"), "503 5.5.1")


@protocol_only
async def test_unknown_command_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway) as client:
        expect(await client.command("XYZZY plugh"), "500 5.5.")
        expect(await client.command("NOOP"), "250 ")


@protocol_only
async def test_recipient_over_the_limit_is_refused_temporarily(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    assert gateway.settings.max_recipients == 100
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        client.write(b"".join(b"RCPT TO:<r%d@example.org>\r\n" % n for n in range(101)))
        *accepted, refused = await client.replies(101)
        assert all(reply.startswith("250 2.1.5") for reply in accepted)
        expect(refused, "452 4.5.3")
        expect(await client.command("DATA"), "354 ")
        client.write(MESSAGE + b".\r\n")
        queue_id(await client.reply())


async def test_duplicate_recipient_is_accepted_once(start_gateway: Any, fake_ses: FakeSes) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    async with await ready(gateway, await gateway.credential()) as client:
        reply = await client.send(MESSAGE, ("a@example.org", "b@example.org", "a@example.org"))
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sorted(sent.destinations) == ["a@example.org", "b@example.org"]
    status = await settled(gateway.db, queue_id(reply))
    assert [r.address for r in status.recipients] == ["a@example.org", "b@example.org"]


async def test_8bit_utf8_body_arrives_byte_identical(start_gateway: Any, fake_ses: FakeSes) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    body = "Grüße aus Köln — 你好, мир. ☃\r\nZweite Zeile: é à ü ß\r\n".encode()
    data = (
        b"From: demo@example.com\r\nTo: a@example.org\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    )
    refused = await asyncio.to_thread(
        submit, gateway.port, username, password, data=data, mail_options=("BODY=8BITMIME",)
    )
    assert refused == {}
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    header, relayed_body = sent.raw.split(b"\r\n\r\n", 1)
    assert relayed_body == body
    assert set(data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= set(header.split(b"\r\n"))


async def test_line_over_1000_bytes_is_refused_and_not_stored(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        reply = expect(await client.send(MESSAGE + b"y" * 1500 + b"\r\n"), "500 5.5.2")
        assert "Line too long" in reply
        assert reply.endswith("base64")  # a whole sentence, saying what to do
        expect(await client.command("NOOP"), "250 ")
    assert await stored_messages(gateway) == 0


async def test_client_gone_mid_data_leaves_nothing_stored_and_others_are_served(
    start_gateway: Any,
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    credential = await gateway.credential()
    async with await ready(gateway, credential) as quitter:
        expect(await quitter.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await quitter.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await quitter.command("DATA"), "354 ")
        quitter.write(MESSAGE + b"and then the client goes away\r\n")
        await quitter.writer.drain()
    async with await ready(gateway, credential) as other:
        queue_id(await other.send(MESSAGE))
    assert await stored_messages(gateway) == 1


@protocol_only
async def test_one_connection_can_send_more_than_100_messages(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    count = 105
    transaction = (
        b"RSET\r\nNOOP\r\nMAIL FROM:<demo@example.com>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
    )
    async with await ready(gateway, await gateway.credential()) as client:
        for _ in range(count):
            client.write(transaction)
            for expected in ("250 ", "250 ", "250 ", "250 ", "354 "):
                expect(await client.reply(), expected)
            client.write(MESSAGE + b".\r\n")
            queue_id(await client.reply())
    assert await stored_messages(gateway) == count


# -- timeouts --------------------------------------------------------------------------------------


@protocol_only
async def test_idle_client_is_told_421_and_disconnected(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, smtp_timeout=0.5)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        expect(await client.reply(), "421 4.4.2")
        assert await client.closed_by_server()


@protocol_only
@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "implicit-tls"])
async def test_a_closed_connection_is_freed_at_once_not_left_to_the_collector(
    start_gateway: Any, implicit_tls: bool
) -> None:
    """Nothing of a session stays in a reference cycle once it has ended: its objects (the
    protocol, its TLS layer, streams, session and envelope: some eighty) are freed when the
    last reference goes, not left for the cyclic collector's full collections, which a new
    connection for every message made run every second or so (docs/performance.md)."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    listener = gateway.smtp.smtps if implicit_tls else gateway.smtp.submission
    seen: list[weakref.ref[Any]] = []

    async def watch() -> None:  # while the session runs, a weak reference to its protocol
        while not seen:
            seen.extend(weakref.ref(connection) for connection in listener.connections)
            await asyncio.sleep(0.001)

    gc.disable()
    try:
        watcher = asyncio.create_task(watch())
        await asyncio.to_thread(
            submit, listener.port, username, password, implicit_tls=implicit_tls
        )
        await watcher
        [protocol] = seen
        for _ in range(100):  # the connection is lost, then the session's task ends
            if protocol() is None:
                break
            await asyncio.sleep(0.01)
        assert protocol() is None
    finally:
        gc.enable()


@protocol_only
async def test_each_command_gives_the_client_the_whole_timeout_again(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, smtp_timeout=1)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        for _ in range(6):  # 2.4 s in all, each command 0.4 s after the last reply
            expect(await client.command("NOOP"), "250 ")
            await asyncio.sleep(0.4)
        expect(await client.command("NOOP"), "250 ")
        async with asyncio.timeout(3):
            expect(await client.reply(), "421 4.4.2 gw.test Timeout")
        assert await client.closed_by_server()


@protocol_only
async def test_slow_but_steady_upload_is_not_cut_by_the_timeout(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(
        None, deliver=False, smtp_timeout=0.5, smtp_min_data_rate=10
    )
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await client.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await client.command("DATA"), "354 ")
        client.write(MESSAGE)
        for n in range(6):  # 1.2 s in all, at 40 bytes a second: above the minimum rate
            await asyncio.sleep(0.2)
            client.write(b"line %d\r\n" % n)
        client.write(b".\r\n")
        queue_id(await client.reply())


# -- delivery in batches of 50 ---------------------------------------------------------------------


async def test_120_recipients_make_one_message_and_three_ses_calls(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, max_recipients=200)
    recipients = [f"r{n:03d}@example.org" for n in range(120)]
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        client.write(b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in recipients))
        for reply in await client.replies(len(recipients)):
            expect(reply, "250 2.1.5")
        expect(await client.command("DATA"), "354 ")
        client.write(MESSAGE + b".\r\n")
        message_id = queue_id(await client.reply())
    assert await stored_messages(gateway) == 1
    status = await settled(gateway.db, message_id)
    assert len(status.recipients) == 120
    assert {r.state for r in status.recipients} == {RecipientState.SENT}
    calls = fake_ses.messages()
    assert sorted(len(call.destinations) for call in calls) == [20, 50, 50]
    assert sorted(d for call in calls for d in call.destinations) == recipients
    assert {call.tags["queue_id"] for call in calls} == {message_id}


# -- the relayed copy ------------------------------------------------------------------------------


async def relay(gateway: Gateway, fake_ses: FakeSes, data: bytes, *rcpt: str) -> SentMessage:
    """Submit `data` over STARTTLS (smtplib) and return what SES received."""
    username, password = await gateway.credential()
    recipients = rcpt or ("a@example.org",)
    await asyncio.to_thread(
        submit, gateway.port, username, password, recipients=recipients, data=data
    )
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    return sent


@protocol_only
async def test_relayed_copy_has_one_received_field_on_top(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    sent = await relay(gateway, fake_ses, MESSAGE)
    fields, _ = split_header(sent.raw)
    received = fields[0]
    assert received.startswith(b"Received: from ")
    assert [f for f in fields if f.lower().startswith(b"received:")] == [received]
    assert b" with ESMTPSA id " + sent.tags["queue_id"].encode() in received
    assert re.search(rb"\(TLSv1\.[23] ", received), received
    assert sent.raw.endswith(b"\r\n\r\nHello there.\r\n")


@protocol_only
async def test_message_id_and_date_are_added_when_missing(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    sent = await relay(gateway, fake_ses, MESSAGE)
    [message_id] = header_values(sent.raw, b"Message-ID")
    assert re.fullmatch(rb"<[^<>@\s]+@gw\.test>", message_id), message_id
    [date] = header_values(sent.raw, b"Date")
    assert re.fullmatch(rb"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", date), date


@protocol_only
async def test_message_id_and_date_are_kept_when_present(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    data = (
        b"Message-ID: <kept.1@client.example>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0100\r\n"
        + MESSAGE
    )
    sent = await relay(gateway, fake_ses, data)
    assert header_values(sent.raw, b"Message-ID") == [b"<kept.1@client.example>"]
    assert header_values(sent.raw, b"Date") == [b"Mon, 01 Jan 2024 10:00:00 +0100"]
    assert sent.raw.endswith(data)  # nothing added after the Received field


@protocol_only
async def test_bcc_header_is_removed_but_the_bcc_recipient_still_gets_the_message(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    data = (
        b"From: demo@example.com\r\nTo: a@example.org\r\nBcc: hidden@example.net,\r\n"
        b"  also-hidden@example.net\r\nSubject: hello\r\n\r\nHello there.\r\n"
    )
    sent = await relay(
        gateway, fake_ses, data, "a@example.org", "hidden@example.net", "also-hidden@example.net"
    )
    assert header_values(sent.raw, b"Bcc") == []
    assert b"hidden@example.net" not in sent.raw
    assert sorted(sent.destinations) == [
        "a@example.org",
        "also-hidden@example.net",
        "hidden@example.net",
    ]
