"""Two tenants' mail, spooled and delivered as the queue records it, with SES events ingested
from the real samples: what the tests of the Messages pages and API search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from config import Settings
from gateway.core.types.messages import RecipientState
from gateway.feedback import events
from gateway.storage.database import Database
from tests.support.messages import attempt, queued
from tests.support.sesevents import about

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
BODY_MARKER = "BODY-MARKER-9f2c41"
"""In every body: it must never appear in a page or an answer."""
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
_sns = count(1)


def body(subject: str, to: str) -> bytes:
    return (
        f"From: app@example.com\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"X-Campaign: autumn\r\n\r\nHello, {BODY_MARKER}\r\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Mailbox:
    invoice: str
    """Acme's, to bob@example.org: sent, delivered and opened (its body deleted)."""
    newsletter: str
    """Acme's, to five recipients: sent, the first bounced."""
    pending: str
    """Acme's, to carol@example.org: queued, its body (and headers) still stored."""
    theirs: str
    """Other's, to bob@example.org: delivered, then a complaint."""


async def ingest(db: Database, settings: Settings, payload: str) -> None:
    await events.ingest(db, settings, f"sns-{next(_sns)}", TOPIC, payload, datetime.now(UTC))


async def mailbox(db: Database, settings: Settings, acme: int, other: int) -> Mailbox:
    """The mail of tenants `acme` and `other` (ids), accepted a minute apart from `T0`."""
    invoice = await queued(
        db,
        acme,
        ["bob@example.org"],
        T0,
        mail_from="billing@example.com",
        subject="Invoice 42",
        data=body("Invoice 42", "bob@example.org"),
    )
    await attempt(db, invoice, RecipientState.SENT, T0 + MINUTE)
    await ingest(
        db, settings, about("delivery", f"ses-{invoice}", "bob@example.org", T0 + 2 * MINUTE)
    )
    await ingest(db, settings, about("open", f"ses-{invoice}", "bob@example.org", T0 + 9 * MINUTE))

    readers = [f"r{i}@example.net" for i in range(5)]
    newsletter = await queued(
        db,
        acme,
        readers,
        T0 + MINUTE,
        mail_from="news@example.com",
        subject="Autumn newsletter",
        data=body("Autumn newsletter", ", ".join(readers)),
    )
    await attempt(db, newsletter, RecipientState.SENT, T0 + 2 * MINUTE)
    await ingest(
        db, settings, about("bounce", f"ses-{newsletter}", "r0@example.net", T0 + 3 * MINUTE)
    )

    pending = await queued(
        db,
        acme,
        ["carol@example.org"],
        T0 + 2 * MINUTE,
        mail_from="billing@example.com",
        subject="Reminder",
        data=body("Reminder", "carol@example.org"),
    )

    theirs = await queued(
        db,
        other,
        ["bob@example.org"],
        T0 + 3 * MINUTE,
        mail_from="x@other.example",
        subject="Invoice 99 of Other",
        data=body("Invoice 99 of Other", "bob@example.org"),
    )
    await attempt(db, theirs, RecipientState.SENT, T0 + 4 * MINUTE)
    await ingest(
        db, settings, about("delivery", f"ses-{theirs}", "bob@example.org", T0 + 5 * MINUTE)
    )
    await ingest(
        db, settings, about("complaint", f"ses-{theirs}", "bob@example.org", T0 + 6 * MINUTE)
    )
    return Mailbox(invoice, newsletter, pending, theirs)
