"""The relayed copy of a submitted message: pure functions over the raw bytes.

The body is never parsed or re-encoded; only the header block is touched: a `Received:` field is
prepended, `Message-ID:` and `Date:` are added when missing, and `Bcc:` is removed (the envelope
alone says who receives the message).
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

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_UNSAFE = re.compile(r"[^!-~ ]|[()\\]")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
SUBJECT_LENGTH = 998


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


@dataclass(frozen=True, slots=True)
class Header:
    """A message read once: its header fields (with their folded lines), their lower-case
    names, and the rest (the blank line and the body), untouched."""

    fields: list[bytes]
    names: list[bytes]
    rest: bytes


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


def received_field(facts: SessionFacts) -> bytes:
    protocol = "ESMTP" if facts.esmtp else "SMTP"
    if facts.tls:
        protocol += "S"
    if facts.authenticated:
        protocol += "A"  # RFC 3848: ESMTPSA = ESMTP over TLS with AUTH
    lines = [
        f"Received: from {_clean(facts.client_helo)} ([{_clean(facts.client_address)}])",
        f"\tby {_clean(facts.hostname)} (SES Gateway) with {protocol} id {facts.queue_id}",
    ]
    if facts.tls:
        lines.append(f"\t({_clean(facts.tls)})")
    lines[-1] += ";"
    lines.append(f"\t{rfc5322_date(facts.received_at)}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def split_header(data: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folded continuation lines) and the rest of the message."""
    fields: list[bytes] = []
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end + 1
        line = data[position:end]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _FIELD_NAME.match(line):
            fields.append(line)
        else:
            break
        position = end
    return fields, data[position:]


def read_header(data: bytes) -> Header:
    fields, rest = split_header(data)
    return Header(fields, [_name(field) for field in fields], rest)


def _name(field: bytes) -> bytes:
    match = _FIELD_NAME.match(field)
    assert match is not None
    return match.group(1).lower()


def header_senders(header: Header) -> list[str]:
    """The addresses in the `From:` and `Sender:` fields, which must be the account's to use."""
    values = [
        field.split(b":", 1)[1].decode("utf-8", "replace")
        for field, name in zip(header.fields, header.names, strict=True)
        if name in (b"from", b"sender")
    ]
    return [address for _, address in getaddresses(values) if address]


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
    text = _FOLDING.sub("", raw.decode("utf-8", "replace")).strip()
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
