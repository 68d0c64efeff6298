"""SES events as stored: one `ses_events` row per SNS notification (its MessageId unique, so a
retry changes nothing) and one `recipient_events` row per recipient it names.

Events are kept `EVENT_RETENTION_DAYS` after they arrive (`purge_events`), whatever becomes of
the messages they describe: a deleted message or recipient leaves its events with a NULL link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import DatabaseError, NotFoundError
from gateway.core.types.events import (
    EventFact,
    EventKind,
    MessageEvents,
    RecipientEventInfo,
    RecipientReport,
    SesEventInfo,
)
from gateway.core.types.messages import RecipientState
from gateway.storage.database import Database
from gateway.storage.models import Message, Recipient, RecipientEvent, SesEvent, Tenant
from gateway.storage.pages import newest_first, page

PURGE_CHUNK = 5000
"""Events deleted per transaction, so that a large purge never holds SQLite's write lock long."""
ON_ACCOUNT_SUPPRESSION_LIST = "OnAccountSuppressionList"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An SES event to store (`gateway.feedback.record.record_event` stores them)."""

    sns_message_id: str
    topic_arn: str
    kind: EventKind
    ses_type: str
    ses_message_id: str | None
    tenant_id: int | None
    queue_id: str | None
    occurred_at: datetime
    received_at: datetime
    note: str
    payload: str


@dataclass(frozen=True, slots=True)
class NewRecipientEvent:
    address: str
    kind: EventKind
    occurred_at: datetime
    recipient_id: int | None
    fact: EventFact
    """What the event says about this recipient (its `address` and time are the ones above)."""


@dataclass(frozen=True, slots=True)
class Match:
    """A recipient of ours that an SES event may be about."""

    recipient_id: int
    address: str
    queue_id: str
    tenant_id: int
    tenant: str


_EVENT_COLUMNS = (
    SesEvent.id,
    SesEvent.sns_message_id,
    SesEvent.topic_arn,
    SesEvent.kind,
    SesEvent.ses_type,
    SesEvent.ses_message_id,
    SesEvent.tenant_id,
    Tenant.name,
    SesEvent.queue_id,
    SesEvent.occurred_at,
    SesEvent.received_at,
    SesEvent.processed_at,
    SesEvent.note,
    SesEvent.payload,
)

_RECIPIENT_EVENT_COLUMNS = (
    RecipientEvent.id,
    RecipientEvent.event_id,
    SesEvent.sns_message_id,
    Tenant.name,
    SesEvent.queue_id,
    SesEvent.ses_message_id,
    RecipientEvent.address,
    RecipientEvent.kind,
    RecipientEvent.occurred_at,
    SesEvent.received_at,
    RecipientEvent.bounce_type,
    RecipientEvent.subtype,
    RecipientEvent.status,
    RecipientEvent.diagnostic,
    RecipientEvent.smtp_response,
    RecipientEvent.processing_ms,
    RecipientEvent.feedback_type,
    RecipientEvent.detail,
    RecipientEvent.recipient_id,
)


def _event(row: Any) -> SesEventInfo:
    values = list(row)
    values[3] = EventKind(values[3])
    return SesEventInfo(*values)


def _recipient_event(row: Any) -> RecipientEventInfo:
    values = list(row)
    values[7] = EventKind(values[7])
    return RecipientEventInfo(*values)


_EVENTS = select(*_EVENT_COLUMNS).outerjoin(Tenant, Tenant.id == SesEvent.tenant_id)
_RECIPIENT_EVENTS = (
    select(*_RECIPIENT_EVENT_COLUMNS)
    .join(SesEvent, SesEvent.id == RecipientEvent.event_id)
    .outerjoin(Tenant, Tenant.id == RecipientEvent.tenant_id)
)


# -- Writing ---------------------------------------------------------------------------------


def _fit(model: type[SesEvent | RecipientEvent], values: dict[str, Any]) -> dict[str, Any]:
    """`values` with each string cut to the length of its column (SES's strings may be longer
    than a `String(n)` column, which PostgreSQL would refuse)."""
    columns = model.__table__.columns
    fitted = {}
    for name, value in values.items():
        length = getattr(columns[name].type, "length", None)
        fitted[name] = value[:length] if isinstance(value, str) and length else value
    return fitted


async def insert_event(
    db: Database, event: NewEvent, recipients: Sequence[NewRecipientEvent]
) -> int | None:
    """Store an event and its recipient rows in one transaction; return its id, or None when
    an event with that SNS MessageId is already stored (nothing is written then). Strings are
    cut to their columns' lengths, but for the SNS MessageId, kept whole as the key of retries.
    Any other integrity violation (a tenant or recipient deleted meanwhile) is a
    `DatabaseError`: SNS retries, and the event is correlated again."""
    row = _fit(
        SesEvent,
        {
            "topic_arn": event.topic_arn,
            "kind": event.kind.value,
            "ses_type": event.ses_type,
            "ses_message_id": event.ses_message_id,
            "tenant_id": event.tenant_id,
            "queue_id": event.queue_id,
            "occurred_at": event.occurred_at,
            "received_at": event.received_at,
            "note": event.note,
            "payload": event.payload,
        },
    )
    try:
        async with db.begin() as conn:
            event_id: int = (
                await conn.execute(
                    insert(SesEvent)
                    .values(sns_message_id=event.sns_message_id, **row)
                    .returning(SesEvent.id)
                )
            ).scalar_one()
            if recipients:
                await conn.execute(
                    insert(RecipientEvent),
                    [
                        _fit(
                            RecipientEvent,
                            {
                                "event_id": event_id,
                                "tenant_id": event.tenant_id,
                                "recipient_id": r.recipient_id,
                                "address": r.address,
                                "kind": r.kind.value,
                                "occurred_at": r.occurred_at,
                                "bounce_type": r.fact.bounce_type,
                                "subtype": r.fact.subtype,
                                "status": r.fact.status,
                                "diagnostic": r.fact.diagnostic,
                                "smtp_response": r.fact.smtp_response,
                                "processing_ms": r.fact.processing_ms,
                                "feedback_type": r.fact.feedback_type,
                                "detail": r.fact.detail,
                            },
                        )
                        for r in recipients
                    ],
                )
    except IntegrityError as exc:
        if await find_event(db, event.sns_message_id) is not None:
            return None
        raise DatabaseError(f"storing SNS message {event.sns_message_id}: {exc.orig}") from exc
    return event_id


async def mark_processed(db: Database, event_id: int, at: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(update(SesEvent).where(SesEvent.id == event_id).values(processed_at=at))


async def purge_events(db: Database, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Delete the events received before `before` (with their recipient rows); return how
    many SES events went. Works in transactions of at most `chunk` events."""
    total = 0
    while True:
        async with db.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(SesEvent.id)
                        .where(SesEvent.received_at < before)
                        .order_by(SesEvent.id)
                        .limit(chunk)
                    )
                ).scalars()
            )
            if not ids:
                return total
            await conn.execute(delete(RecipientEvent).where(RecipientEvent.event_id.in_(ids)))
            await conn.execute(delete(SesEvent).where(SesEvent.id.in_(ids)))
        total += len(ids)


# -- Correlation -----------------------------------------------------------------------------

_MATCHES = (
    select(Recipient.id, Recipient.address, Message.id, Message.tenant_id, Tenant.name)
    .join(Message, Message.id == Recipient.message_id)
    .join(Tenant, Tenant.id == Message.tenant_id)
    .order_by(Recipient.id)
)


async def recipients_by_ses_id(db: Database, ses_message_id: str) -> list[Match]:
    """Our recipients sent in the SES call that returned `ses_message_id`."""
    async with db.read() as conn:
        rows = await conn.execute(_MATCHES.where(Recipient.ses_message_id == ses_message_id))
        return [Match(*row) for row in rows]


async def recipients_of_message(db: Database, queue_id: str) -> list[Match]:
    async with db.read() as conn:
        rows = await conn.execute(_MATCHES.where(Recipient.message_id == queue_id))
        return [Match(*row) for row in rows]


async def find_event(db: Database, sns_message_id: str) -> SesEventInfo | None:
    async with db.read() as conn:
        row = (await conn.execute(_EVENTS.where(SesEvent.sns_message_id == sns_message_id))).first()
    return None if row is None else _event(row)


# -- Suppression -----------------------------------------------------------------------------


async def count_transient_bounces(
    db: Database, address: str, tenant_id: int | None, since: datetime
) -> int:
    """Transient bounces of `address` received since `since`: for one tenant, or (None) for
    every tenant. Counted once per SES message: SES reports a bounce twice when both identity
    notifications and event publishing reach the gateway."""
    query = (
        select(func.count(SesEvent.ses_message_id.distinct()))
        .select_from(RecipientEvent)
        .join(SesEvent, SesEvent.id == RecipientEvent.event_id)
        .where(
            RecipientEvent.address == address,
            RecipientEvent.kind == EventKind.BOUNCE.value,
            RecipientEvent.bounce_type == "Transient",
            SesEvent.received_at >= since,
        )
    )
    if tenant_id is not None:
        query = query.where(RecipientEvent.tenant_id == tenant_id)
    async with db.read() as conn:
        count: int = (await conn.execute(query)).scalar_one()
    return count


# -- Reading ---------------------------------------------------------------------------------


async def events_for_message(db: Database, queue_id: str) -> MessageEvents:
    """A message's recipients as SES reported them (see `RecipientReport`), and its events."""
    async with db.read() as conn:
        head = (
            await conn.execute(
                select(Message.id, Tenant.name)
                .join(Tenant, Tenant.id == Message.tenant_id)
                .where(Message.id == queue_id)
            )
        ).first()
        if head is None:
            raise NotFoundError(f"no message with queue id {queue_id!r}")
        recipients = (
            await conn.execute(
                select(Recipient.id, Recipient.address, Recipient.state, Recipient.ses_message_id)
                .where(Recipient.message_id == queue_id)
                .order_by(Recipient.id)
            )
        ).all()
        rows = await conn.execute(
            _RECIPIENT_EVENTS.where(SesEvent.queue_id == queue_id).order_by(
                RecipientEvent.occurred_at, RecipientEvent.id
            )
        )
        events = [_recipient_event(row) for row in rows]
    reports = [
        fold(address, RecipientState(state), ses_id, [e for e in events if e.recipient_id == rid])
        for rid, address, state, ses_id in recipients
    ]
    ours = {rid for rid, *_ in recipients}
    others: dict[str, list[RecipientEventInfo]] = {}
    for event in events:
        if event.recipient_id not in ours:
            others.setdefault(event.address, []).append(event)
    reports += [
        fold(address, None, found[0].ses_message_id, found) for address, found in others.items()
    ]
    return MessageEvents(head[0], head[1], tuple(reports), tuple(events))


def fold(
    address: str,
    state: RecipientState | None,
    ses_message_id: str | None,
    events: Sequence[RecipientEventInfo],
) -> RecipientReport:
    """One recipient's report from its events in time order. A Permanent bounce is not
    replaced by a later Transient one; opens and clicks keep the first time and a count."""
    facts: dict[str, Any] = {}
    for e in events:
        if e.kind is EventKind.SEND:
            facts.setdefault("sent_at", e.occurred_at)
        elif e.kind is EventKind.DELIVERY:
            if "delivered_at" not in facts:
                facts |= {
                    "delivered_at": e.occurred_at,
                    "smtp_response": e.smtp_response,
                    "processing_ms": e.processing_ms,
                }
        elif e.kind is EventKind.BOUNCE:
            if facts.get("bounce_type") != "Permanent" or e.bounce_type == "Permanent":
                facts |= {
                    "bounced_at": e.occurred_at,
                    "bounce_type": e.bounce_type,
                    "bounce_subtype": e.subtype,
                    "bounce_status": e.status,
                    "diagnostic": e.diagnostic,
                }
        elif e.kind is EventKind.COMPLAINT:
            if "complained_at" not in facts:
                facts |= {"complained_at": e.occurred_at, "feedback_type": e.feedback_type}
        elif e.kind is EventKind.DELIVERY_DELAY:
            facts["delayed_at"] = e.occurred_at
        elif e.kind is EventKind.REJECT:
            facts.setdefault("rejected_at", e.occurred_at)
            facts.setdefault("reject_reason", e.detail)
        elif e.kind is EventKind.RENDERING_FAILURE:
            facts.setdefault("rendering_failed_at", e.occurred_at)
            facts.setdefault("rendering_error", e.detail)
        elif e.kind is EventKind.OPEN:
            facts["opened_at"] = min(facts.get("opened_at", e.occurred_at), e.occurred_at)
            facts["opens"] = facts.get("opens", 0) + 1
        elif e.kind is EventKind.CLICK:
            facts["clicked_at"] = min(facts.get("clicked_at", e.occurred_at), e.occurred_at)
            facts["clicks"] = facts.get("clicks", 0) + 1
        elif e.kind is EventKind.UNSUBSCRIBE:
            facts.setdefault("unsubscribed_at", e.occurred_at)
    return RecipientReport(address, state, ses_message_id, **facts)


def _filtered(
    tenant_id: int | None,
    kinds: Sequence[EventKind],
    address: str | None,
    since: datetime | None,
    until: datetime | None,
    queue_id: str | None,
) -> Select[*tuple[Any, ...]]:
    query = _RECIPIENT_EVENTS
    if tenant_id is not None:
        query = query.where(RecipientEvent.tenant_id == tenant_id)
    if kinds:
        query = query.where(RecipientEvent.kind.in_([k.value for k in kinds]))
    if address is not None:
        query = query.where(RecipientEvent.address == address)
    if since is not None:
        query = query.where(RecipientEvent.occurred_at >= since)
    if until is not None:
        query = query.where(RecipientEvent.occurred_at < until)
    if queue_id is not None:
        query = query.where(SesEvent.queue_id == queue_id)
    return query


async def list_events(
    db: Database,
    tenant_id: int | None = None,
    kinds: Sequence[EventKind] = (),
    address: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    queue_id: str | None = None,
) -> list[RecipientEventInfo]:
    """Recipient events, newest first: all, or one tenant's; of some kinds; for one address;
    that happened in [since, until); of one message."""
    query = _filtered(tenant_id, kinds, address, since, until, queue_id).order_by(
        RecipientEvent.occurred_at.desc(), RecipientEvent.id.desc()
    )
    async with db.read() as conn:
        rows = await conn.execute(query.limit(limit).offset(offset))
        return [_recipient_event(row) for row in rows]


async def page_events(
    db: Database,
    tenant_id: int | None = None,
    *,
    kinds: Sequence[EventKind] = (),
    address: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    queue_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[RecipientEventInfo], str | None]:
    """What `list_events` lists, a page at a time: the events after `cursor` (None: the
    newest), and the cursor of the next page (None after the last). The order is by
    (`occurred_at`, `id`); an invalid cursor or limit is an `InvalidInputError`."""
    query = newest_first(
        _filtered(tenant_id, kinds, address, since, until, queue_id),
        RecipientEvent.occurred_at,
        RecipientEvent.id,
        limit,
        cursor,
    )
    async with db.read() as conn:
        found = [_recipient_event(row) for row in await conn.execute(query)]
    return page(found, limit, lambda event: (event.occurred_at, event.id))


async def count_events(
    db: Database, tenant_id: int | None = None, since: datetime | None = None
) -> dict[EventKind, int]:
    """Recipient events by kind (kinds without any are left out): all, or one tenant's."""
    query = select(RecipientEvent.kind, func.count()).group_by(RecipientEvent.kind)
    if tenant_id is not None:
        query = query.where(RecipientEvent.tenant_id == tenant_id)
    if since is not None:
        query = query.where(RecipientEvent.occurred_at >= since)
    async with db.read() as conn:
        return {EventKind(kind): n for kind, n in await conn.execute(query)}
