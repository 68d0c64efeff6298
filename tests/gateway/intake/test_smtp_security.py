"""Protocol attacks on the SMTP server, over loopback with a raw client (after aiosmtpd's
`test_smtpsmuggling.py`): SMTP smuggling, command injection around STARTTLS and pipelining, long
lines, and forged header lines through MAIL FROM or HELO."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from gateway.core.headers import split_header
from tests.conftest import Gateway, client_tls
from tests.support.fakeses import FakeSes, SentMessage
from tests.support.smtp import (
    MESSAGE,
    Conversation,
    expect,
    protocol_only,
    queue_id,
    ready,
    stored_messages,
)

pytestmark = protocol_only


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


async def only_message(fake_ses: FakeSes) -> SentMessage:
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    return sent


# -- SMTP smuggling: only <CR><LF>.<CR><LF> ends DATA ---------------------------------------------


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n"],
    ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF"],
)
@pytest.mark.parametrize("mode", ["reject", "normalize"])
async def test_smuggled_end_of_data_does_not_end_the_message(
    start_gateway: Any, fake_ses: FakeSes, fake_end: bytes, mode: str
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, bare_newline=mode)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await client.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await client.command("DATA"), "354 ")
        client.write(
            b"From: demo@example.com\r\nTo: a@example.org\r\nSubject: one\r\n\r\nFirst."
            + fake_end
            + b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            + b"From: ceo@example.com\r\nSubject: smuggled\r\n\r\nSmuggled."
            + fake_end
            + b"\r\n.\r\n"
        )
        # Had the fake end of data counted, the smuggled commands' replies would come first.
        if mode == "reject":
            expect(await client.reply(), "550 5.5.2 Message refused: it has a bare CR or LF")
        else:
            queue_id(await client.reply())
        expect(await client.command("NOOP"), "250 2.0.0")
    if mode == "reject":
        assert await stored_messages(gateway) == 0
        return
    assert await stored_messages(gateway) == 1
    sent = await only_message(fake_ses)
    assert sent.source == "demo@example.com"
    assert sent.destinations == ["a@example.org"]
    assert b"RCPT TO:<victim@example.net>\r\nDATA\r\n" in sent.raw
    assert b"Smuggled." in sent.raw
    assert sent.raw.count(b"\r") == sent.raw.count(b"\n") == sent.raw.count(b"\r\n")


async def test_commands_pipelined_after_the_end_of_data_start_the_next_transaction(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    async with await ready(gateway, await gateway.credential()) as client:
        client.write(b"MAIL FROM:<demo@example.com>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n")
        for expected in ("250 2.1.0", "250 2.1.5", "354 "):
            expect(await client.reply(), expected)
        client.write(
            b"Subject: one\r\n\r\nFirst.\r\n.\r\n"
            b"MAIL FROM:<demo@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
        )
        first = queue_id(await client.reply())
        for expected in ("250 2.1.0", "250 2.1.5", "354 "):
            expect(await client.reply(), expected)
        client.write(b"Subject: two\r\n\r\nSecond.\r\n.\r\nQUIT\r\n")
        second = queue_id(await client.reply())
        expect(await client.reply(), "221 2.0.0")
        assert await client.closed_by_server()
    sent = {m.tags["queue_id"]: m for m in await asyncio.to_thread(fake_ses.wait_for, 2)}
    assert sent[first].destinations == ["a@example.org"]
    assert sent[first].raw.endswith(b"\r\n\r\nFirst.\r\n")
    assert sent[second].destinations == ["b@example.org"]
    assert sent[second].raw.endswith(b"\r\n\r\nSecond.\r\n")


async def test_commands_pipelined_with_starttls_are_discarded(start_gateway: Any) -> None:
    """CVE-2011-0411: plaintext sent along with STARTTLS must not run inside the TLS session."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        expect(await client.command("EHLO client.example"), "250 ")
        client.write(b"STARTTLS\r\nXINJECTED\r\nRSET\r\n")
        expect(await client.reply(), "220 ")
        await client.writer.start_tls(client_tls())
        expect(await client.command("NOOP"), "250 2.0.0")  # not the injected commands' replies
        expect(await client.command("EHLO client.example"), "250 ")


async def test_commands_pipelined_after_a_closing_421_are_not_run(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        client.write(
            b"HELP\r\n" * 101  # one more than the limit for such commands
            + b"MAIL FROM:<demo@example.com>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
            + MESSAGE
            + b".\r\n"
        )
        for _ in range(100):
            expect(await client.reply(), "2")
        expect(await client.reply(), "421 4.7.0")
        assert await client.closed_by_server()
    assert await stored_messages(gateway) == 0  # the client was told 421: no message behind it


# -- long command lines ----------------------------------------------------------------------------


async def test_command_line_over_512_bytes_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        long_sender = "a" * 600 + "@example.com"
        expect(await client.command(f"MAIL FROM:<{long_sender}>"), "500 5.5.2")
        expect(await client.command("NOOP " + "x" * 5000), "500 5.5.2")  # over the read buffer
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")


# -- a STARTTLS handshake that fails ---------------------------------------------------------------


@pytest.mark.parametrize(
    "handshake",
    [b"NOOP\r\n", b"\x16\x03\x01\x00\x05hello", b"\x00" * 16],
    ids=["plain-text", "broken-hello", "zeros"],
)
async def test_a_failed_starttls_handshake_closes_without_a_traceback(
    start_gateway: Any, caplog: pytest.LogCaptureFixture, handshake: bytes
) -> None:
    """A client (or a scanner) that sends anything but a TLS handshake after `220` to STARTTLS:
    the connection is closed, the log says so in one line, and then takes the next client."""
    caplog.set_level(logging.INFO, "gateway.smtp")
    gateway: Gateway = await start_gateway(None, deliver=False)
    client = await Conversation.open(gateway.port, implicit_tls=False)
    async with client:
        expect(await client.command("EHLO client.example"), "250 ")
        expect(await client.command("STARTTLS"), "220 ")
        client.write(handshake)
        assert await client.closed_by_server()
    async with await ready(gateway, await gateway.credential()) as client:
        queue_id(await client.send(MESSAGE))
    assert not [record for record in caplog.records if record.exc_info]
    assert "Traceback" not in caplog.text
    [failed] = [r for r in caplog.records if r.getMessage() == "smtp-tls-failed"]
    assert failed.fields["peer"] == "127.0.0.1"  # type: ignore[attr-defined]


# -- addresses that break the standard library's RFC 5322 parser ----------------------------------


@pytest.mark.parametrize(
    "path",
    ["<", "<  \t", '"', "a@", "<a@[", "<a@[ "],
    ids=["open-angle", "angle-blanks", "quote", "no-domain", "open-literal", "literal-blank"],
)
async def test_an_address_the_email_parser_chokes_on_is_a_syntax_error(
    start_gateway: Any, path: str
) -> None:
    """The stdlib's `get_angle_addr`/`get_addr_spec` (which aiosmtpd calls) raise IndexError,
    AttributeError or UnboundLocalError on these: a client's mistake, not a 451 internal error."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command(f"MAIL FROM:{path}"), "553 5.1.3")
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await client.command(f"RCPT TO:{path}"), "553 5.1.3")
        expect(await client.command("RCPT TO:<a@example.org>"), "250 ")


# -- slow clients (slowloris) and many connections from one address -------------------------------


async def drip_until_answered(client: Conversation, interval: float, within: float) -> str:
    """Send one byte every `interval` seconds (never a whole line) until the server answers;
    its answer, which must come within `within` seconds."""

    async def drip() -> None:
        while not client.writer.is_closing():
            client.write(b"x")
            await asyncio.sleep(interval)

    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(within):
            return await client.reply()
    finally:
        dripping.cancel()


async def test_a_command_line_sent_a_byte_at_a_time_is_cut_off(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, smtp_timeout=0.5)
    async with await Conversation.open(gateway.port, implicit_tls=False) as client:
        reply = await drip_until_answered(client, interval=0.05, within=2)
        expect(reply, "421 4.4.2 gw.test Timeout")
        assert await client.closed_by_server()


async def test_data_sent_a_byte_at_a_time_is_cut_off(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(
        None, deliver=False, smtp_timeout=0.5, smtp_min_data_rate=100
    )
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await client.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await client.command("DATA"), "354 ")
        client.write(MESSAGE)
        reply = await drip_until_answered(client, interval=0.05, within=2)  # 20 bytes a second
        expect(reply, "421 4.4.2 gw.test Timeout: the message came slower than 100 bytes a second")
        assert await client.closed_by_server()
    assert await stored_messages(gateway) == 0


async def test_a_session_that_does_not_log_in_is_cut_off(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, smtp_login_timeout=2)
    async with await ready(gateway) as client:
        async with asyncio.timeout(5):
            while (reply := await client.command("NOOP")).startswith("250 "):
                await asyncio.sleep(0.1)  # every command in time: only the login is late
        expect(reply, "421 4.4.2 gw.test Timeout: not logged in within 2 seconds")
        assert await client.closed_by_server()
    async with await ready(gateway, await gateway.credential()) as client:
        await asyncio.sleep(2.3)  # logged in (in time, even on a busy machine): no timer
        expect(await client.command("NOOP"), "250 ")


async def test_connections_over_the_per_client_limit_are_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, max_connections_per_client=3)
    clients = [  # the limit counts both listeners together
        await Conversation.open(gateway.port, implicit_tls=False),
        await Conversation.open(gateway.port, implicit_tls=False),
        await Conversation.open(gateway.smtps_port, implicit_tls=True),
    ]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gateway.smtps_port, ssl=client_tls()
        )
        async with Conversation(reader, writer) as refused:
            expect(
                await refused.reply(),
                "421 4.7.0 gw.test Too many connections from your address (at most 3)",
            )
            assert await refused.closed_by_server()
        expect(await clients[0].command("QUIT"), "221 ")
        assert await clients[0].closed_by_server()  # after the server let go of it
        async with await Conversation.open(gateway.port, implicit_tls=False) as again:
            expect(await again.command("EHLO client.example"), "250 ")
    finally:
        for client in clients:
            await client.close()


# -- forged header lines ---------------------------------------------------------------------------


async def test_nul_or_cr_in_mail_from_is_refused(start_gateway: Any, fake_ses: FakeSes) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    async with await ready(gateway, await gateway.credential()) as client:
        for attempt in (
            b"MAIL FROM:<demo\x00@example.com>",
            b"MAIL FROM:<demo@example.com\x00>",
            b'MAIL FROM:<"demo\rX-Injected:yes"@example.com>',
            b"MAIL FROM:<demo@example.com>\rX-Injected: yes",
        ):
            reply = expect(await client.command(attempt), "5")
            assert reply.startswith(("553 5.1.7", "501 5.5.4")), (attempt, reply)
        queue_id(await client.send(MESSAGE))
    sent = await only_message(fake_ses)
    assert sent.source == "demo@example.com"
    assert not [line for line in header_lines(sent.raw) if line.lower().startswith(b"x-injected")]
    assert b"\x00" not in sent.raw


async def test_nul_or_cr_in_rcpt_to_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    async with await ready(gateway, await gateway.credential()) as client:
        expect(await client.command("MAIL FROM:<demo@example.com>"), "250 ")
        for attempt in (
            b"RCPT TO:<a\x00@example.org>",
            b'RCPT TO:<"a\rX-Injected:yes"@example.org>',
        ):
            expect(await client.command(attempt), "553 5.1.3")


async def test_helo_with_crlf_cannot_add_header_lines(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    credential = await gateway.credential()
    async with await Conversation.open(gateway.smtps_port, implicit_tls=True) as client:
        client.write(b"EHLO evil.example\r\nX-Injected: yes\r\n")
        expect(await client.reply(), "250 ")
        expect(await client.reply(), "500 5.5.2")  # the second line is a (bad) command
        expect(await client.command(b"EHLO evil.example\rX-Injected: yes"), "250 ")
        await client.login(*credential)
        queue_id(await client.send(MESSAGE))
    sent = await only_message(fake_ses)
    header = header_lines(sent.raw)
    assert not [line for line in header if line.lower().startswith(b"x-injected")]
    assert not [line for line in header if b"\r" in line or b"\n" in line]
    assert header[0].startswith(b"Received: from evil.example")
    assert header[0].endswith(b" ([127.0.0.1])")


async def test_helo_with_parentheses_or_semicolon_cannot_spoof_the_received_field(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    credential = await gateway.credential()
    forged = (
        "trusted.example ([192.0.2.1]) by mx.bank.example (Postfix) with ESMTPS id 1;"
        " Mon, 01 Jan 2024 00:00:00 +0000"
    )
    async with await Conversation.open(gateway.smtps_port, implicit_tls=True) as client:
        expect(await client.command(f"EHLO {forged}"), "250 ")
        await client.login(*credential)
        queue_id(await client.send(MESSAGE))
    sent = await only_message(fake_ses)
    fields, _ = split_header(sent.raw)
    received = fields[0]
    assert re.match(rb"Received: from [\w.:[\]-]+ \(\[127\.0\.0\.1\]\)\r\n\tby gw\.test ", received)
    assert received.count(b";") == 1  # the one before the date
    assert len(re.findall(rb"\sby\s", received)) == 1
    assert b"(Postfix)" not in received


# -- bare CR or LF in the message: refused, or normalized before the header is read --------------

HEAD = b"From: demo@example.com\r\nSubject: a"
BARE = {
    "CR in the header": HEAD + b"\rFrom: ceo@other.example\r\n\r\nHi.\r\n",
    "LF in the header": HEAD + b"\nFrom: ceo@other.example\r\n\r\nHi.\r\n",
    "CR in the body": HEAD + b"\r\n\r\nHi.\rThere.\r\n",
    "LF in the body": HEAD + b"\r\n\r\nHi.\nThere.\r\n",
}


@pytest.mark.parametrize("data", BARE.values(), ids=BARE.keys())
async def test_bare_cr_or_lf_is_refused(start_gateway: Any, data: bytes) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    await gateway.credential("other", domain="other.example")
    async with await ready(gateway, await gateway.credential()) as client:
        expect(
            await client.send(data),
            "550 5.5.2 Message refused: it has a bare CR or LF (a line not ended by CRLF)",
        )
        queue_id(await client.send(MESSAGE))  # the session goes on
    assert await stored_messages(gateway) == 1


async def test_normalized_bare_newlines_end_header_fields_for_the_sender_check(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, bare_newline="normalize")
    await gateway.credential("other", domain="other.example")
    async with await ready(gateway, await gateway.credential()) as client:
        for data in (BARE["CR in the header"], BARE["LF in the header"]):
            expect(
                await client.send(data),
                "550 5.7.1 Sender domain other.example is not a sending domain of this account: "
                "add it first",
            )
        queue_id(await client.send(b"From: demo@example.com\rSubject: a\n\nHi.\rThere.\r\n"))
    sent = await only_message(fake_ses)
    assert b"\r\nFrom: demo@example.com\r\nSubject: a\r\n" in sent.raw
    assert sent.raw.endswith(b"\r\n\r\nHi.\r\nThere.\r\n")
    assert sent.raw.count(b"\r") == sent.raw.count(b"\n") == sent.raw.count(b"\r\n")


# -- client bytes in commands: not UTF-8 is refused; nothing is echoed raw; never a traceback ----


@pytest.mark.parametrize(
    ("login", "before", "command", "reply"),
    [
        (True, None, b"MAIL FROM:<d\xffmo@example.com>", "553 5.6.7"),
        (True, None, b"MAIL FROM:<demo@ex\xe9mple.com>", "553 5.6.7"),
        (False, None, b"MAIL FROM:<d\xffmo@example.com>", "553 5.6.7"),
        (True, "MAIL FROM:<demo@example.com>", b"RCPT TO:<\xc3(@example.org>", "553 5.6.7"),
        (True, "MAIL FROM:<demo@example.com>", b"RCPT TO:<a@ex\xffample.org>", "553 5.6.7"),
        (True, None, b"VRFY <\xff@example.org>", "501 5.5.2"),
        (True, None, b"EHLO \xff.example", "501 5.5.2"),
        (True, None, b"HELO \xff.example", "501 5.5.2"),
        (True, None, b"HELP \xff", "501 5.5.2"),
        (False, None, b"AUTH PLAIN \xff", "501 5.5.2"),
        (False, None, b"AUTH \xff", "501 5.5.2"),
        (True, None, "VRFY @jörg".encode(), "502 5.5.1 Could not VRFY @j?rg"),
        (True, None, b"XF\x01OO", '500 5.5.2 command "XF?OO" not recognized'),
    ],
)
async def test_command_bytes_are_refused_or_replaced_never_echoed_raw(
    start_gateway: Any,
    caplog: pytest.LogCaptureFixture,
    login: bool,
    before: str | None,
    command: bytes,
    reply: str,
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    credential = await gateway.credential()
    async with await ready(gateway, credential if login else None) as client:
        if before is not None:
            expect(await client.command(before), "250 ")
        answer = await client.command(command)  # read as ASCII: echoed raw bytes would not decode
        expect(answer, reply)
        assert all(" " <= c <= "~" for c in answer), answer
        expect(await client.command("RSET"), "250 2.0.0")
        if not login:
            await client.login(*credential)
        queue_id(await client.send(MESSAGE))  # nothing of the refused command was kept
    assert not [record for record in caplog.records if record.exc_info]
    assert "Traceback" not in caplog.text
