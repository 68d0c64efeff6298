"""SMTP test helpers shared by the SMTP test modules: a line-level conversation and checks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import smtplib
import ssl
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Gateway, client_tls

MESSAGE = (
    b"From: Demo <demo@example.com>\r\nTo: a@example.org\r\nSubject: hello\r\n\r\nHello there.\r\n"
)

protocol_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For tests that do not depend on storage: one backend is enough."""


# -- helpers shared with test_smtp_security.py ----------------------------------------------------

ENHANCED_REPLY = re.compile(r"^\d{3} [245]\.\d{1,3}\.\d{1,3} \S")


def check_reply(line: str) -> str:
    """Every 4xx/5xx reply has a code, an enhanced status code (RFC 2034) and a sentence."""
    if line[:1] in ("4", "5"):
        assert ENHANCED_REPLY.match(line), f"no enhanced status code or no text: {line!r}"
    return line


def expect(reply: str | tuple[int, bytes | str], prefix: str) -> str:
    """The reply (a line, or smtplib/aiosmtplib's (code, text)), checked, starting with `prefix`."""
    if isinstance(reply, str):
        line = reply.splitlines()[-1]
    else:
        code, message = reply
        message = message.decode() if isinstance(message, bytes) else message
        line = f"{code} {message.splitlines()[-1] if message else ''}"
    check_reply(line)
    assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
    return line


class Conversation:
    """A raw SMTP client on asyncio streams: it sends exactly the bytes a test gives it, and reads
    whole replies, checking each with `check_reply`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, *, implicit_tls: bool) -> Conversation:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_tls() if implicit_tls else None
        )
        conversation = cls(reader, writer)
        expect(await conversation.reply(), "220 ")
        return conversation

    async def __aenter__(self) -> Conversation:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def reply(self) -> str:
        """One reply; its lines joined with LF."""
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), 10)
            if not raw:
                raise ConnectionError(f"connection closed; reply so far: {lines!r}")
            line = raw.decode("ascii").removesuffix("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                break
        check_reply(lines[-1])
        return "\n".join(lines)

    async def replies(self, count: int) -> list[str]:
        return [await self.reply() for _ in range(count)]

    async def command(self, line: str | bytes) -> str:
        self.write((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def starttls(self) -> None:
        expect(await self.command("STARTTLS"), "220 ")
        await self.writer.start_tls(client_tls())

    async def login(self, username: str, password: str) -> None:
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        expect(await self.command(f"AUTH PLAIN {token}"), "235 2.7.0")

    async def send(self, data: bytes, recipients: tuple[str, ...] = ("a@example.org",)) -> str:
        """A whole transaction (dot-stuffing `data`); the reply to the final dot."""
        expect(await self.command("MAIL FROM:<demo@example.com>"), "250 ")
        for recipient in recipients:
            expect(await self.command(f"RCPT TO:<{recipient}>"), "250 ")
        expect(await self.command("DATA"), "354 ")
        self.write(re.sub(rb"(?m)^\.", b"..", data) + b".\r\n")
        return await self.reply()

    async def closed_by_server(self, timeout: float = 5) -> bool:
        """Whether the server closes the connection within `timeout` (whatever it still sends)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError):
            pass
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def ready(gateway: Gateway, credential: tuple[str, str] | None = None) -> Conversation:
    """A conversation on the implicit-TLS port, after EHLO and (with a credential) AUTH."""
    conversation = await Conversation.open(gateway.smtps_port, implicit_tls=True)
    try:
        expect(await conversation.command("EHLO client.example"), "250 ")
        if credential is not None:
            await conversation.login(*credential)
    except BaseException:
        await conversation.close()
        raise
    return conversation


async def stored_messages(gateway: Gateway) -> int:
    async with gateway.db.begin() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one())


def queue_id(reply: str) -> str:
    match = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\w+)", reply)
    assert match is not None, reply
    return match.group(1)


def header_block(raw: bytes) -> list[bytes]:
    """The header lines of a relayed message (continuation lines kept separate)."""
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def header_values(raw: bytes, name: bytes) -> list[bytes]:
    prefix = name.lower() + b":"
    return [
        line.split(b":", 1)[1].strip()
        for line in header_block(raw)
        if line.lower().startswith(prefix)
    ]


def submit(
    port: int,
    username: str,
    password: str,
    *,
    mechanism: str = "PLAIN",
    implicit_tls: bool = False,
    sender: str = "demo@example.com",
    recipients: tuple[str, ...] = ("a@example.org",),
    data: bytes = MESSAGE,
    mail_options: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Send with smtplib (blocking: run it in a thread)."""
    client = (
        smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=client_tls())
        if implicit_tls
        else smtplib.SMTP("127.0.0.1", port, timeout=10)
    )
    with client:
        if not implicit_tls:
            client.starttls(context=client_tls())
        client.ehlo()
        client.user, client.password = username, password
        authenticate = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        expect(client.auth(mechanism, authenticate), "235 2.7.0")
        return client.sendmail(sender, list(recipients), data, list(mail_options))


# -- submission with each client, port and mechanism ----------------------------------------------
