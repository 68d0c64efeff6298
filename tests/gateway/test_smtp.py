"""The SMTP server, driven by real clients (smtplib, aiosmtplib, swaks) over loopback."""

from __future__ import annotations

import asyncio
import smtplib
from typing import Any

from tests.conftest import Gateway, client_tls, settled
from tests.support.fakeses import FakeSes

MESSAGE = (
    b"From: Demo <demo@example.com>\r\nTo: a@example.org\r\nSubject: hello\r\n\r\nHello there.\r\n"
)


def submit(
    port: int,
    username: str,
    password: str,
    *,
    sender: str = "demo@example.com",
    recipients: tuple[str, ...] = ("a@example.org",),
    data: bytes = MESSAGE,
) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(username, password)
        return client.sendmail(sender, list(recipients), data)


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
