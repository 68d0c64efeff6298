"""The MIME message of a rendered template: `multipart/alternative` with the text part first and
the HTML part last (the one clients prefer), both UTF-8 in quoted-printable, with the header
fields the SMTP path would add (`Message-ID:`, `Date:`), CRLF line ends.

Written out directly rather than with `email.message.EmailMessage`, which takes milliseconds a
message: a campaign builds one per recipient. The boundary starts with `=_`, which
quoted-printable text can never hold (it writes `=` as `=3D`), so no body can end a part early.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import make_msgid

from gateway.compose.templates import Rendered
from gateway.intake.message import rfc5322_date

FOLD_AT = 900
"""A subject longer than this (or not ASCII) is written as RFC 2047 encoded words, folded."""


@dataclass(frozen=True, slots=True)
class Built:
    data: bytes
    message_id: str
    header_size: int
    """How many bytes of `data` are header fields (before the blank line)."""


def _subject(subject: str) -> str:
    if subject.isascii() and len(subject) <= FOLD_AT:
        return subject
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _quoted_printable(text: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(lines, istext=True).replace(b"\n", b"\r\n")


def _part(kind: str, text: str) -> bytes:
    return (
        f"Content-Type: text/{kind}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + _quoted_printable(text)


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
    """`sender`, `recipient` and `reply_to` are bare ASCII addresses (checked by the caller)."""
    message_id = make_msgid(idstring=queue_id, domain=hostname)
    boundary = f"=_{queue_id}"
    fields = [
        f"From: {sender}",
        f"To: {recipient}",
        *([f"Reply-To: {reply_to}"] if reply_to else []),
        f"Subject: {_subject(rendered.subject)}",
        f"Date: {rfc5322_date(now)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    head = ("\r\n".join(fields) + "\r\n").encode("utf-8")
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    body = (
        delimiter[2:]
        + _part("plain", rendered.text)
        + delimiter
        + _part("html", rendered.html)
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )
    return Built(head + b"\r\n" + body, message_id, len(head))
