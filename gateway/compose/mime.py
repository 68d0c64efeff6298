"""A message built from its parts: pure functions from a `Draft` to the raw bytes.

The standard library's `email` package builds it (`EmailMessage` under policy SMTP, 7-bit: CRLF
line ends, long fields folded, non-ASCII header text as RFC 2047 encoded words, non-ASCII bodies
as quoted-printable or base64, attachment names as RFC 2231 parameters): its encoding rules are
many and subtle, and hand-made MIME gets them wrong. The bytes are then what an SMTP client would
submit, and the rest of the pipeline (`Received:`, the size check, tracking) treats them alike.

Addresses are `local@domain` or `Display Name <local@domain>`, checked as SMTP checks them
(`gateway.compose.submit`): a recipient's Unicode domain is written in punycode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

from gateway.core.exceptions import InvalidInputError

POLICY = SMTP.clone(cte_type="7bit")
"""CRLF, folded at 78, and nothing but 7-bit data: no part relies on 8BITMIME."""

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
    try:
        return _compose(draft, msgid, date)
    except (MessageError, ValueError) as exc:
        raise InvalidInputError(f"the message cannot be made: {exc}") from exc


def _compose(draft: Draft, msgid: str, date: datetime) -> bytes:
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
