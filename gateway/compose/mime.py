"""A message built from its parts: pure functions from a `Draft` to the raw bytes.

The standard library's `email` package builds it (`EmailMessage` under policy SMTP, 7-bit: CRLF
line ends, long fields folded, non-ASCII header text as RFC 2047 encoded words, non-ASCII bodies
as quoted-printable or base64, attachment names as RFC 2231 parameters): its encoding rules are
many and subtle, and hand-made MIME gets them wrong. The bytes are then what an SMTP client would
submit, and the rest of the pipeline (`Received:`, the size check, tracking) treats them alike.

Addresses are `local@domain` or `Display Name <local@domain>`, checked as SMTP checks them
(`gateway.compose.submit`): a recipient's Unicode domain is written in punycode.

A message of text and HTML parts and no attachments (every campaign message, most API sends) is
written without the `email` package's object model, whose header objects cost milliseconds per
message (a campaign makes thousands a second): each field is written as the standard library
folds it (a field of plain ASCII words that fits on a line as it is; any other by the library
itself, the same field for many messages once), each part encoded by the library's own choice
of transfer encoding. The result is the library's byte for byte but for the random boundary
(`tests/gateway/compose/test_mime.py` compares them over tricky drafts).
"""

from __future__ import annotations

import binascii
import itertools
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from email import quoprimime
from email.errors import MessageError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime
from functools import lru_cache
from typing import cast

from gateway.core.exceptions import InvalidInputError
from gateway.core.headers import Header, read_header

UNFOLDED = frozenset({"list-unsubscribe"})
"""Fields of URLs in angle brackets (RFC 2369), written on one line as given: the library
writes a field too long to fold as encoded words, which hide the URLs from the receiver (a
`List-Unsubscribe` with encoded words gets no unsubscribe button)."""


class _UnfoldedHeader(UnstructuredHeader):
    def fold(self, *, policy: Policy) -> str:
        field = cast(BaseHeader, self)  # the registry mixes `BaseHeader` in
        return f"{field.name}: {field}{policy.linesep}"


def _header_factory() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in UNFOLDED:
        registry.map_to_type(name, cast(type[BaseHeader], _UnfoldedHeader))
    return registry


POLICY = SMTP.clone(cte_type="7bit", header_factory=_header_factory())
"""CRLF, folded at 78 (but `UNFOLDED`), and nothing but 7-bit data: no part relies on
8BITMIME."""

_ANGLE = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<address>[^<>\s]+)>\s*$")
_BARE = re.compile(r"^\s*(?P<address>[^<>\s]+)\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
"""A field name (RFC 5322 `ftext`), short enough to stay on one line with its colon."""
TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""A message tag's name or value as SES takes them (`X-SES-MESSAGE-TAGS`)."""
RESERVED_TAGS = frozenset({"tenant", "queue_id"})
"""The tags the gateway sets on every send itself, by which SES events find their message."""
COMPOSED_FIELDS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "received",
        "return-path",
        "x-ses-message-tags",
    }
)
"""Fields the draft's own members make (or that only servers add): not settable as `headers`."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str
    """`local@domain`; a recipient's domain in ASCII (punycode) once the policy took it."""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    """`type/subtype`."""
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """A message as its parts: what the send API (and later a template) gives."""

    sender: Mailbox
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    """Envelope recipients only: never in the header."""
    reply_to: tuple[Mailbox, ...] = ()
    subject: str = ""
    html: str | None = None
    text: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()

    @property
    def recipients(self) -> tuple[Mailbox, ...]:
        return self.to + self.cc + self.bcc


def mailbox(text: str, where: str) -> Mailbox:
    """`local@domain` or `Name <local@domain>` (the name may be quoted); `where` names the
    input in the error. The address itself is checked by the policy, with the SMTP replies'
    words (`gateway.compose.submit`)."""
    found = _ANGLE.match(text) or _BARE.match(text)
    if found is None or _CONTROL.search(text):
        raise InvalidInputError(
            f"{where}: expected local@domain or Name <local@domain>, got {text[:100]!r}", where
        )
    name = found.groupdict().get("name") or ""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return Mailbox(found.group("address"), name.strip())


def check_headers(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Extra header fields: a valid name, not one of `COMPOSED_FIELDS`, a value on one line."""
    for name, value in headers.items():
        where = f"headers.{name}"
        if not HEADER_NAME.match(name):
            raise InvalidInputError(f"{where}: not a header field name", where)
        if name.lower() in COMPOSED_FIELDS:
            raise InvalidInputError(
                f"{where}: set by the message's own members (from, to, subject...), "
                "not as a header",
                where,
            )
        if _CONTROL.search(value.replace("\t", " ")):
            raise InvalidInputError(f"{where}: a value is one line of text", where)
    return tuple(headers.items())


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """Message tags as SES takes them, none of the gateway's own."""
    for name, value in tags.items():
        where = f"tags.{name}"
        if not (TAG.match(name) and TAG.match(value)):
            raise InvalidInputError(
                f"{where}: names and values are 1 to 256 of A-Z a-z 0-9 _ -", where
            )
        if name in RESERVED_TAGS or name.startswith("ses:"):
            raise InvalidInputError(f"{where}: a tag the gateway sets itself", where)
    return tags


def message_id(queue_id: str, hostname: str) -> str:
    """`<queue id@hostname>`: unique (as the queue id is), says which gateway made it, and short
    enough for one line."""
    return f"<{queue_id}@{hostname}>"


def _addresses(mailboxes: tuple[Mailbox, ...]) -> list[Address]:
    return [Address(display_name=m.name, addr_spec=m.address) for m in mailboxes]


def compose(draft: Draft, msgid: str, date: datetime) -> bytes:
    """The raw message, CRLF line ends, 7-bit; `InvalidInputError` for parts that no message
    can hold."""
    header = composed_header(draft, msgid, date)
    return b"".join(header.fields) + header.rest


def composed_header(draft: Draft, msgid: str, date: datetime) -> Header:
    """`read_header(compose(draft, msgid, date))`, without reading back the fields written
    here (what the submitter's policy and relayed copy read: a campaign makes thousands of
    messages a second)."""
    try:
        if draft.attachments or (draft.text is None and draft.html is None):
            return read_header(library_compose(draft, msgid, date))
        return _text_message(draft, msgid, date)
    except (MessageError, ValueError) as exc:
        raise InvalidInputError(f"the message cannot be made: {exc}") from exc


_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
"""Printable ASCII words, one space apart: an unstructured field the library writes as is."""
_PLAIN_ADDRESS = re.compile(
    r"(?:[A-Za-z0-9_+-]+\.)*[A-Za-z0-9_+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
_LINE = POLICY.max_line_length or 78


def _fits(name: str, value: str) -> bool:
    return len(name) + 2 + len(value) <= _LINE


@lru_cache(maxsize=4096)
def _library_field(name: str, value: str | tuple[Mailbox, ...]) -> bytes:
    """The field as the library writes it (cached: a campaign's From, Reply-To and its fixed
    fields are the same for every message)."""
    given = _addresses(value) if isinstance(value, tuple) else value
    return POLICY.fold_binary(name, POLICY.header_store_parse(name, given)[1])


def _field(name: str, value: str) -> bytes:
    fits = _fits(name, value) or name.lower() in UNFOLDED
    if "=?" not in value and fits and _PLAIN_TEXT.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _library_field(name, value)


@lru_cache(maxsize=16)
def _date_field(date: datetime) -> bytes:
    """To the second: the messages made in one second share it."""
    return f"Date: {format_datetime(date)}\r\n".encode("ascii")


def _address_field(name: str, mailboxes: tuple[Mailbox, ...]) -> bytes:
    if len(mailboxes) == 1 and not mailboxes[0].name:
        address = mailboxes[0].address
        if _fits(name, address) and _PLAIN_ADDRESS.fullmatch(address):
            return f"{name}: {address}\r\n".encode("ascii")
    return _library_field(name, mailboxes)


@lru_cache(maxsize=8192)
def _quoted_line(line: str) -> str:
    return quoprimime.body_encode(line, _LINE)


def _quoted(lines: list[bytes]) -> list[str]:
    """`quoprimime.body_encode` of each line (of the text that the library encodes whole, line
    by line as it works): the lines of a campaign's template that hold no variable are encoded
    once (the short ones are cached)."""
    encode = quoprimime.body_encode
    return [
        _quoted_line(t) if len(t) <= 1000 else encode(t, _LINE)
        for t in b"\n".join(lines).decode("latin-1").split("\n")
    ]


def _encoded(text: str) -> tuple[str, str]:
    """The transfer encoding that `email.contentmanager` chooses for UTF-8 text (7bit when it
    is ASCII in short lines, else the shorter of quoted-printable and base64 for its first ten
    lines), and the text in it, lines ended by LF."""
    lines = text.encode("utf-8").splitlines()
    if max(map(len, lines), default=0) <= _LINE and text.isascii():
        return "7bit", (b"\n".join(lines) + b"\n").decode("ascii")
    sniff = binascii.b2a_base64(b"\r\n".join(lines[:10]) + b"\r\n")
    # Each line is encoded alone (no line of a latin-1 decoding holds an LF): the first ten
    # lines' encoding is the start of the whole text's, encoded once.
    quoted = _quoted(lines)
    first = quoted[:10]
    if sum(map(len, first)) + len(first) <= len(sniff):
        return "quoted-printable", "\n".join(quoted) + "\n"
    data = b"\r\n".join(lines) + b"\r\n"
    per_line = _LINE // 4 * 3
    return "base64", "".join(
        binascii.b2a_base64(data[i : i + per_line]).decode("ascii")
        for i in range(0, len(data), per_line)
    )


def _text_part(subtype: str, text: str) -> tuple[list[str], str]:
    """A `text/*` part in UTF-8 as `set_content` makes it: its fields, and its body with CRLF
    line ends."""
    cte, payload = _encoded(text)
    head = [
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n',
        f"Content-Transfer-Encoding: {cte}\r\n",
    ]
    return head, payload.replace("\n", "\r\n")  # `_encoded`'s lines end in LF alone


def _text_message(draft: Draft, msgid: str, date: datetime) -> Header:
    """`library_compose`'s message of a text part, an HTML part or both as alternatives, as
    `read_header` reads it: its fields (each named as it is written) and the rest."""
    fields = [_address_field("From", (draft.sender,))]
    names = [b"from"]
    for name, mailboxes in (("To", draft.to), ("Cc", draft.cc), ("Reply-To", draft.reply_to)):
        if mailboxes:
            fields.append(_address_field(name, mailboxes))
            names.append(name.lower().encode("ascii"))
    fields += [
        _field("Subject", draft.subject),
        _date_field(date.replace(microsecond=0)),
        _field("Message-ID", msgid),
    ]
    names += [b"subject", b"date", b"message-id"]
    for name, value in draft.headers:
        fields.append(_field(name, value))
        names.append(name.lower().encode("ascii"))
    if draft.tags:
        tags = ", ".join(f"{k}={v}" for k, v in draft.tags.items())
        fields.append(_field("X-SES-MESSAGE-TAGS", tags))
        names.append(b"x-ses-message-tags")
    if draft.text is None or draft.html is None:
        subtype = "plain" if draft.html is None else "html"
        head, body = _text_part(subtype, draft.text or draft.html or "")
        # The library adds MIME-Version after the part's own fields.
        fields += [field.encode("ascii") for field in head]
        fields.append(b"MIME-Version: 1.0\r\n")
        names += [b"content-type", b"content-transfer-encoding", b"mime-version"]
        return Header(fields, names, f"\r\n{body}".encode("ascii"))
    parts = [
        f"{''.join(h)}\r\n{b}"
        for h, b in (_text_part("plain", draft.text), _text_part("html", draft.html))
    ]
    # The library's form of boundary: random, and found in neither part.
    boundary = chosen = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
    for n in itertools.count():
        if not any(f"--{boundary}" in part for part in parts):
            break
        boundary = f"{chosen}.{n}"
    kind = f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'
    fields += [b"MIME-Version: 1.0\r\n", kind.encode("ascii")]
    names += [b"mime-version", b"content-type"]
    rest = f"\r\n--{boundary}\r\n{parts[0]}\r\n--{boundary}\r\n{parts[1]}\r\n--{boundary}--\r\n"
    return Header(fields, names, rest.encode("ascii"))


def library_compose(draft: Draft, msgid: str, date: datetime) -> bytes:
    """The message made with the `email` package's object model: any draft (attachments), and
    the reference that `compose`'s own writing of the others is tested against."""
    message = EmailMessage(policy=POLICY)
    message["From"] = _addresses((draft.sender,))
    for name, mailboxes in (("To", draft.to), ("Cc", draft.cc), ("Reply-To", draft.reply_to)):
        if mailboxes:
            message[name] = _addresses(mailboxes)
    message["Subject"] = draft.subject
    message["Date"] = date
    message["Message-ID"] = msgid
    for name, value in draft.headers:
        message[name] = value
    if draft.tags:
        message["X-SES-MESSAGE-TAGS"] = ", ".join(f"{k}={v}" for k, v in draft.tags.items())
    if draft.text is not None:
        message.set_content(draft.text)
        if draft.html is not None:
            message.add_alternative(draft.html, subtype="html")
    else:
        message.set_content(draft.html or "", subtype="html")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # the stdlib adds it to parts made alone; once is enough
    return message.as_bytes()
