"""Messages as operators and tenants look for them: searched and paged, newest first, and one
message in detail, with each recipient's timeline. Tenant isolation is in the queries: with a
`tenant_id`, another tenant's message is never listed and is not found, like a missing one.

A message's status (`MessageOutcome`) is the first of these that holds (docs/messages.md):
`deferred` and `queued` while it is in the queue, then `complained`, `bounced`, `failed`,
`delivered`, `sent` and `suppressed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.crypto import Sealer
from gateway.core.headers import header_fields
from gateway.core.types.events import EventKind, RecipientEventInfo
from gateway.core.types.history import (
    MessageDetail,
    MessageOutcome,
    MessageSummary,
    RecipientDetail,
    TimelineEntry,
)
from gateway.core.types.messages import MessageStatus, RecipientState, RecipientStatus
from gateway.storage import content, events, queue, refusals, tracking
from gateway.storage.database import Database
from gateway.storage.models import Message, MessageBody, Recipient, RecipientEvent, Tenant
from gateway.storage.pages import MAX_LIMIT, encode_cursor, newest_first, page

AUTO_REPLY = "auto-reply"
"""The timeline's kind of a Transient bounce after a delivery: an automatic answer."""
SUMMARY_RECIPIENTS = 3
"""Recipients named in a `MessageSummary` (all are counted)."""


def _recipient(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether a recipient of the message meets the conditions."""
    return exists().where(Recipient.message_id == Message.id, *conditions)


def _event(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether a recipient of the message has an event that meets the conditions."""
    return _recipient(
        exists().where(RecipientEvent.recipient_id == Recipient.id, *conditions),
    )


_SENT = Recipient.state == RecipientState.SENT.value
_RULES: tuple[tuple[MessageOutcome, ColumnElement[bool]], ...] = (
    (
        MessageOutcome.DEFERRED,
        and_(
            Message.state.in_(queue.WAITING),
            _recipient(Recipient.state == RecipientState.DEFERRED.value),
        ),
    ),
    (MessageOutcome.QUEUED, Message.state.in_(queue.WAITING)),
    (MessageOutcome.COMPLAINED, _event(RecipientEvent.kind == EventKind.COMPLAINT.value)),
    (
        MessageOutcome.BOUNCED,
        _event(
            RecipientEvent.kind == EventKind.BOUNCE.value,
            func.coalesce(RecipientEvent.bounce_type, "") != "Transient",
        ),
    ),
    (
        MessageOutcome.FAILED,
        _recipient(Recipient.state == RecipientState.FAILED.value)
        | _event(RecipientEvent.kind == EventKind.REJECT.value),
    ),
    (
        MessageOutcome.DELIVERED,
        _recipient(_SENT)
        & ~_recipient(
            _SENT,
            ~exists().where(
                RecipientEvent.recipient_id == Recipient.id,
                RecipientEvent.kind == EventKind.DELIVERY.value,
            ),
        ),
    ),
    (MessageOutcome.SENT, _recipient(_SENT)),
)
_outcome = case(
    *((condition, outcome.value) for outcome, condition in _RULES),
    else_=MessageOutcome.SUPPRESSED.value,
)
"""The message's `MessageOutcome`, in SQL."""

_SUMMARIES: Select[Any] = select(
    Message.id,
    Tenant.name,
    Message.mail_from,
    Message.sealed_subject,
    Message.subject,
    select(func.count())
    .where(Recipient.message_id == Message.id)
    .correlate(Message)
    .scalar_subquery(),
    _outcome,
    Message.created_at,
    Message.completed_at,
    Message.size,
).join(Tenant, Tenant.id == Message.tenant_id)


async def search_messages(
    db: Database,
    sealer: Sealer,
    tenant_id: int | None,
    *,
    sender: str | None = None,
    recipient: str | None = None,
    subject: str | None = None,
    status: MessageOutcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ses_message_id: str | None = None,
    queue_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[MessageSummary], str | None]:
    """Messages of one tenant (None: of every tenant), newest first, a page at a time: those
    after `cursor` (None: from the newest), and the cursor of the next page (None after the
    last). `sender` and `recipient` match a part of the envelope sender, of a recipient's
    address, without regard to case (ASCII letters only on SQLite); `since` and `until` bound
    the time it was accepted, [since, until); `ses_message_id` and `queue_id` match exactly.
    An invalid cursor or limit is an `InvalidInputError`.

    `subject` matches a part of the subject without regard to case. Subjects are sealed, so
    this match is made here, on the messages the other filters found, `SUBJECT_SCAN` of them
    at most per page: a page can then hold fewer than `limit` messages (none, even) and still
    have a next page, which goes on looking where this one stopped."""
    query = _SUMMARIES
    if tenant_id is not None:
        query = query.where(Message.tenant_id == tenant_id)
    if sender:
        query = query.where(Message.mail_from.icontains(sender, autoescape=True))
    if recipient:
        query = query.where(_recipient(Recipient.address.icontains(recipient, autoescape=True)))
    if status is not None:
        waiting = status in (MessageOutcome.QUEUED, MessageOutcome.DEFERRED)
        state = Message.state.in_(queue.WAITING) if waiting else Message.state == queue.DONE
        query = query.where(state, _outcome == status.value)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    if ses_message_id:
        query = query.where(_recipient(Recipient.ses_message_id == ses_message_id))
    if queue_id:
        query = query.where(Message.id == queue_id)
    async with db.read() as conn:
        if subject:
            rows, next_cursor = await _with_subject(conn, sealer, query, subject, limit, cursor)
        else:
            found = (await conn.execute(newest_first(query, *_ORDER, limit, cursor))).all()
            rows, next_cursor = page(found, limit, lambda row: (row[7], row[0]))
        named = await _first_recipients(conn, [row[0] for row in rows])
    summaries = [
        MessageSummary(
            id=row[0],
            tenant=row[1],
            mail_from=row[2],
            subject=content.open_subject(sealer, row[0], row[3], row[4]),
            recipient_count=row[5],
            recipients=tuple(named.get(row[0], ())),
            status=MessageOutcome(row[6]),
            created_at=row[7],
            completed_at=row[8],
            size=row[9],
        )
        for row in rows
    ]
    return summaries, next_cursor


_ORDER = (Message.created_at, Message.id)
SUBJECT_SCAN = 5000
"""Messages a subject search decrypts per page at most (those the other filters found)."""


async def _with_subject(
    conn: AsyncConnection,
    sealer: Sealer,
    query: Select[Any],
    subject: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """The page of `query`'s rows whose subject holds `subject`, and the next page's cursor:
    after the last row shown when more matched, after the last row looked at when the scan
    stopped at `SUBJECT_SCAN` rows, None when no row is left."""
    wanted = subject.casefold()
    matched: list[Any] = []
    scanned = 0
    while scanned < SUBJECT_SCAN:
        batch = min(MAX_LIMIT, SUBJECT_SCAN - scanned)
        rows = (await conn.execute(newest_first(query, *_ORDER, batch, cursor))).all()
        for row in rows[:batch]:
            if wanted in content.open_subject(sealer, row[0], row[3], row[4]).casefold():
                if len(matched) == limit:  # one more than the page: there is a next one
                    return matched, encode_cursor(matched[-1][7], matched[-1][0])
                matched.append(row)
        if len(rows) <= batch:
            return matched, None
        scanned += batch
        cursor = encode_cursor(rows[batch - 1][7], rows[batch - 1][0])
    return matched, cursor


async def _first_recipients(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, list[str]]:
    """The first `SUMMARY_RECIPIENTS` addresses of each message."""
    if not ids:
        return {}
    numbered = (
        select(
            Recipient.message_id,
            Recipient.address,
            func.row_number()
            .over(partition_by=Recipient.message_id, order_by=Recipient.id)
            .label("n"),
        )
        .where(Recipient.message_id.in_(ids))
        .subquery()
    )
    rows = await conn.execute(
        select(numbered.c.message_id, numbered.c.address)
        .where(numbered.c.n <= SUMMARY_RECIPIENTS)
        .order_by(numbered.c.message_id, numbered.c.n)
    )
    named: dict[str, list[str]] = {}
    for message_id, address in rows:
        named.setdefault(message_id, []).append(address)
    return named


async def message_detail(
    db: Database, sealer: Sealer, queue_id: str, tenant_id: int | None
) -> MessageDetail:
    """Everything stored about a message but its body (its header fields decrypted): a
    `NotFoundError` when there is no such message, or (with `tenant_id`) when it is another
    tenant's."""
    message = await queue.message_status(db, sealer, queue_id, tenant_id)
    reported = await events.events_for_message(db, queue_id)
    tracked = {t.recipient_id: t for t in await tracking.message_tracking(db, queue_id)}
    async with db.read() as conn:
        status, head = (
            await conn.execute(select(_outcome, Message.headers).where(Message.id == queue_id))
        ).one()
        if head is not None:
            head = sealer.open(content.HEADERS, queue_id, head)
        else:  # spooled before the headers were kept apart: read them off the body
            body = (
                await conn.execute(
                    select(MessageBody.data).where(MessageBody.message_id == queue_id)
                )
            ).scalar_one_or_none()
            if body is not None:
                head = sealer.open(content.BODY, queue_id, body)[: content.HEADER_BYTES]
        accepted = {recipient.address.lower() for recipient in message.recipients}
        refused = tuple(
            r
            for r in await refusals.refused_in(conn, queue_id)
            if r.address.lower() not in accepted
        )
    ours = len(message.recipients)
    recipients = tuple(
        RecipientDetail(
            status=recipient,
            report=report,
            tracking=tracked.get(recipient.id),
            timeline=timeline(message, recipient, reported.events),
        )
        for recipient, report in zip(message.recipients, reported.recipients[:ours], strict=True)
    )
    return MessageDetail(
        message=message,
        status=MessageOutcome(status),
        headers=None if head is None else header_fields(head),
        recipients=recipients,
        strangers=reported.recipients[ours:],
        events=reported.events,
        refused=refused,
    )


def timeline(
    message: MessageStatus, recipient: RecipientStatus, found: Sequence[RecipientEventInfo]
) -> tuple[TimelineEntry, ...]:
    """The recipient's steps in time order: queued, what the queue last did with it (`sent`,
    `deferred`, `failed`, `suppressed`), and its events (SES's, and the people's opens and
    clicks of the gateway's tracking); a Transient bounce after a delivery is an `auto-reply`
    (an out-of-office or other automatic answer), not a bounce."""
    entries = [TimelineEntry(message.created_at, "queued", f"from {message.mail_from}")]
    state = recipient.state
    if state is RecipientState.SENT:
        detail = f"accepted by SES as {recipient.ses_message_id}, attempt {recipient.attempts}"
        entries.append(TimelineEntry(recipient.updated_at, state.value, detail))
    elif state is RecipientState.DEFERRED:
        detail = (
            f"attempt {recipient.attempts}: {recipient.last_error}; "
            f"next attempt at {message.next_attempt_at.isoformat()}"
        )
        entries.append(TimelineEntry(recipient.updated_at, state.value, detail))
    elif state in (RecipientState.FAILED, RecipientState.SUPPRESSED):
        entries.append(TimelineEntry(recipient.updated_at, state.value, recipient.last_error or ""))
    delivered: datetime | None = None
    for e in sorted((e for e in found if e.recipient_id == recipient.id), key=_occurred):
        if e.kind is EventKind.DELIVERY and delivered is None:
            delivered = e.occurred_at
        if e.kind is EventKind.BOUNCE and e.bounce_type == "Transient" and delivered:
            said = f"an automatic answer came back (out of office?): {describe(e)}"
            entries.append(TimelineEntry(e.occurred_at, AUTO_REPLY, said))
        else:
            entries.append(TimelineEntry(e.occurred_at, e.kind.value, describe(e)))
    return tuple(sorted(entries, key=lambda entry: entry.at))


def _occurred(event: RecipientEventInfo) -> datetime:
    return event.occurred_at


def describe(event: RecipientEventInfo) -> str:
    """What an event says, in a line: `Permanent/General; 5.1.1; smtp; 550 user unknown`; for
    SES's `Send`, which says nothing more, what it means."""
    kind = "/".join(part for part in (event.bounce_type, event.subtype) if part)
    parts = (kind, event.status, event.diagnostic, event.smtp_response, event.feedback_type)
    said = "; ".join(part for part in (*parts, event.detail) if part)
    if not said and event.kind is EventKind.SEND:
        return "SES took the message in and will try to deliver it"
    return said
