"""The relayed copy of a submitted message: pure functions over the raw bytes.

The body is never parsed or re-encoded; only the header block is touched: a `Received:` field is
prepended, `Message-ID:` and `Date:` are added when missing, and `Bcc:` is removed (the envelope
alone says who receives the message).

`split_header` is the one reader of header fields: the sender check, the stored subject and
`message show` all see the fields it sees. It ends lines at LF only; a bare CR or LF would let
the next hop split differently, so the SMTP handler refuses such messages (or, with
`BARE_NEWLINE=normalize`, makes every line end in CRLF first: `normalize_newlines`).
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import format_datetime, getaddresses, make_msgid
from functools import lru_cache

from gateway.core.headers import Header, unfold

_UNSAFE = re.compile(r"[^!-~ ]|[()\\]")
SUBJECT_LENGTH = 998
SENDER_FIELDS = (b"from", b"sender", b"resent-from", b"resent-sender")
"""The fields that name who sends (RFC 5322 3.6.2 and 3.6.6): all must be the account's."""


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the Received field says about the submission."""

    queue_id: str
    hostname: str
    client_helo: str
    client_address: str
    tls: str | None
    authenticated: bool
    esmtp: bool
    received_at: datetime
    protocol: str = ""
    """The Received field's `with`; empty: the SMTP one the facts above make (`HTTPS` for the
    send API)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    data: bytes
    message_id: str
    header_size: int = 0
    """How many bytes of `data` are header fields (before the blank line)."""


def _clean(text: str) -> str:
    return _UNSAFE.sub("_", text)[:255] or "unknown"


@lru_cache(maxsize=4)
def _date(second: datetime) -> str:
    return format_datetime(second)


def rfc5322_date(moment: datetime) -> str:
    """`Sun, 22 Nov 2026 20:05:02 +0000`: formatted once per second, not once per message."""
    return _date(moment.replace(microsecond=0))


def _smtp_protocol(facts: SessionFacts) -> str:
    protocol = "ESMTP" if facts.esmtp else "SMTP"
    if facts.tls:
        protocol += "S"
    if facts.authenticated:
        protocol += "A"  # RFC 3848: ESMTPSA = ESMTP over TLS with AUTH
    return protocol


def received_field(facts: SessionFacts) -> bytes:
    protocol = facts.protocol or _smtp_protocol(facts)
    lines = [
        f"Received: from {_clean(facts.client_helo)} ([{_clean(facts.client_address)}])",
        f"\tby {_clean(facts.hostname)} (SES Gateway) with {protocol} id {facts.queue_id}",
    ]
    if facts.tls:
        lines.append(f"\t({_clean(facts.tls)})")
    lines[-1] += ";"
    lines.append(f"\t{rfc5322_date(facts.received_at)}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def header_senders(header: Header) -> list[str]:
    """The addresses in the `SENDER_FIELDS`, which must be the account's to use."""
    values = tuple(
        field.split(b":", 1)[1].decode("utf-8", "replace")
        for field, name in zip(header.fields, header.names, strict=True)
        if name in SENDER_FIELDS
    )
    return list(_addresses(values))


@lru_cache(maxsize=1024)
def _addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    """Parsed once per sender field: a campaign's thousands of messages share one."""
    return tuple(address for _, address in getaddresses(values) if address)


def header_subject(header: Header) -> str:
    """The first `Subject:` field for display: unfolded, its RFC 2047 encoded words decoded (left
    as they are when they do not decode), cut to `SUBJECT_LENGTH` characters; "" without one."""
    raw = next(
        (
            f.split(b":", 1)[1]
            for f, name in zip(header.fields, header.names, strict=True)
            if name == b"subject"
        ),
        b"",
    )
    text = unfold(raw.decode("utf-8", "replace"))
    if "=?" in text:
        with suppress(HeaderParseError, LookupError, UnicodeError):
            text = str(make_header(decode_header(text)))
    return text[:SUBJECT_LENGTH]


def prepare(header: Header, facts: SessionFacts) -> Prepared:
    kept = [f for f, name in zip(header.fields, header.names, strict=True) if name != b"bcc"]
    names = set(header.names) - {b"bcc"}
    rest = header.rest
    added: list[bytes] = []
    message_id = next(
        (
            f.split(b":", 1)[1].strip().decode("ascii", "replace")
            for f, name in zip(header.fields, header.names, strict=True)
            if name == b"message-id"
        ),
        "",
    )
    if not message_id:
        message_id = make_msgid(idstring=facts.queue_id, domain=_clean(facts.hostname))
        added.append(f"Message-ID: {message_id}\r\n".encode("ascii"))
    if b"date" not in names:
        added.append(f"Date: {rfc5322_date(facts.received_at)}\r\n".encode("ascii"))
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += b"\r\n"
    if not rest.startswith((b"\r\n", b"\n")):
        rest = b"\r\n" + rest
    relayed = received_field(facts) + b"".join(kept) + b"".join(added) + rest
    return Prepared(relayed, message_id, len(relayed) - len(rest))
