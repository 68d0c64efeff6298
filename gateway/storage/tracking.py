"""Opens, clicks and unsubscribes through the gateway's own links: one `tracking_events` row
each, people's and machines' alike, the counts per recipient, and their purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select

from gateway.core.types.history import RecipientTracking
from gateway.core.types.messages import RecipientState
from gateway.storage.database import Database
from gateway.storage.models import Message, Recipient, Tenant, TrackingEvent

PURGE_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class RecipientRef:
    """The recipient a token names, as the queue has it."""

    recipient_id: int
    queue_id: str
    tenant_id: int
    tenant: str
    address: str
    ses_message_id: str | None
    sent_at: datetime | None
    """When SES accepted it; None while it is not sent."""


@dataclass(frozen=True, slots=True)
class NewTrackingEvent:
    recipient: RecipientRef
    kind: str
    occurred_at: datetime
    url: str = ""
    user_agent: str = ""
    client_address: str = ""
    machine: str | None = None


async def find_recipient(db: Database, queue_id: str, recipient_id: int) -> RecipientRef | None:
    query = (
        select(
            Recipient.id,
            Message.id,
            Tenant.id,
            Tenant.name,
            Recipient.address,
            Recipient.ses_message_id,
            Recipient.state,
            Recipient.updated_at,
        )
        .join(Message, Message.id == Recipient.message_id)
        .join(Tenant, Tenant.id == Message.tenant_id)
        .where(Message.id == queue_id)
        # Recipient 0: the message's first, as a link written before its recipients' rows
        # were (a campaign's, of one recipient) names it.
        .where(Recipient.id == recipient_id if recipient_id else Recipient.id > 0)
        .order_by(Recipient.id)
        .limit(1)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    recipient_id, message_id, tenant_id, tenant, address, ses_id, state, updated_at = row
    sent_at = updated_at if state == RecipientState.SENT.value else None
    return RecipientRef(recipient_id, message_id, tenant_id, tenant, address, ses_id, sent_at)


async def insert_event(db: Database, event: NewTrackingEvent) -> bool:
    """Store the event; whether it is the recipient's first of its kind."""
    recipient = event.recipient
    earlier = exists().where(
        TrackingEvent.recipient_id == recipient.recipient_id, TrackingEvent.kind == event.kind
    )
    async with db.begin() as conn:
        first = not (await conn.execute(select(earlier))).scalar_one()
        await conn.execute(
            insert(TrackingEvent).values(
                tenant_id=event.recipient.tenant_id,
                message_id=event.recipient.queue_id,
                recipient_id=event.recipient.recipient_id,
                address=event.recipient.address,
                kind=event.kind,
                url=event.url,
                occurred_at=event.occurred_at,
                user_agent=event.user_agent,
                client_address=event.client_address,
                machine=event.machine,
            )
        )
    return first


async def message_tracking(db: Database, queue_id: str) -> list[RecipientTracking]:
    """Each recipient of the message with a tracking event, in recipient order."""
    query = (
        select(
            TrackingEvent.recipient_id,
            TrackingEvent.address,
            TrackingEvent.kind,
            TrackingEvent.machine.is_not(None),
            func.count(),
            func.min(TrackingEvent.occurred_at),
        )
        .where(TrackingEvent.message_id == queue_id, TrackingEvent.recipient_id.is_not(None))
        .group_by(
            TrackingEvent.recipient_id,
            TrackingEvent.address,
            TrackingEvent.kind,
            TrackingEvent.machine.is_not(None),
        )
        .order_by(TrackingEvent.recipient_id)
    )
    found: dict[int, dict[str, Any]] = {}
    async with db.read() as conn:
        rows: list[Any] = list(await conn.execute(query))
    for recipient_id, address, kind, machine, count, first in rows:
        facts = found.setdefault(recipient_id, {"address": address})
        if kind == "unsubscribe":
            facts["unsubscribed_at"] = first
        elif machine:
            facts[f"machine_{kind}s"] = count
        else:
            facts |= {f"{kind}s": count, f"first_{kind}_at": first}
    return [RecipientTracking(rid, **facts) for rid, facts in found.items()]


async def purge_events(db: Database, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Delete the events that occurred before `before`; return how many. Works in
    transactions of at most `chunk` events."""
    total = 0
    while True:
        old = (
            select(TrackingEvent.id)
            .where(TrackingEvent.occurred_at < before)
            .order_by(TrackingEvent.id)
            .limit(chunk)
        )
        async with db.begin() as conn:
            ids = list((await conn.execute(old)).scalars())
            if not ids:
                return total
            await conn.execute(delete(TrackingEvent).where(TrackingEvent.id.in_(ids)))
        total += len(ids)
