"""The MIME message of a rendered template: `multipart/alternative` with the text part first and
the HTML part last (the one clients prefer), with the header fields the SMTP path would add
(`Message-ID:`, `Date:`). Built with the standard library's `email` package, CRLF line ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from gateway.compose.templates import Rendered
from gateway.intake.message import rfc5322_date


@dataclass(frozen=True, slots=True)
class Built:
    data: bytes
    message_id: str
    header_size: int
    """How many bytes of `data` are header fields (before the blank line)."""


def build(
    sender: str,
    recipient: str,
    rendered: Rendered,
    *,
    queue_id: str,
    hostname: str,
    now: datetime,
    reply_to: str | None = None,
) -> Built:
    message = EmailMessage(policy=SMTP)
    message_id = make_msgid(idstring=queue_id, domain=hostname)
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = rfc5322_date(now)
    message["Message-ID"] = message_id
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    data = message.as_bytes()
    return Built(data, message_id, data.index(b"\r\n\r\n") + 2)
