"""Messages and the events about their recipients: search, one message in detail, the events
paged, and CSV exports of both with the same filters.

Every query is scoped to the actor's tenant (an admin: the tenant named, or every tenant) in the
storage functions themselves; another tenant's message is not found, like a missing one.
Filters come as the text of a form or a query string (empty: not filtered) and are checked
here, each refusal naming its field."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from admin.ops.context import Context
from gateway.core import csvcells
from gateway.core.exceptions import InvalidInputError
from gateway.core.times import check_period, parse_time
from gateway.core.types.events import EventKind, RecipientEventInfo
from gateway.core.types.history import MessageDetail, MessageOutcome, MessageSummary
from gateway.feedback.suppressions import lookup_key
from gateway.storage import events, messages
from gateway.storage.pages import MAX_LIMIT, Paged

EXPORT_MAX_ROWS = 100_000
"""Rows in an export at most; a longer one ends with a line saying it was cut."""
EVENT_KINDS = tuple(kind for kind in EventKind if kind is not EventKind.RECEIVED)
"""The kinds of recipient events one may filter by."""
MESSAGE_COLUMNS = (
    "queue_id",
    "tenant",
    "created_at",
    "completed_at",
    "status",
    "mail_from",
    "recipient_count",
    "recipients",
    "subject",
    "size",
)
EVENT_COLUMNS = (
    "occurred_at",
    "tenant",
    "kind",
    "address",
    "queue_id",
    "ses_message_id",
    "bounce_type",
    "subtype",
    "status",
    "diagnostic",
    "smtp_response",
    "feedback_type",
    "detail",
    "received_at",
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MessageFilters:
    """The message search as given (empty: not filtered): `sender`, `recipient` and `subject`
    match a part; `status` is a `MessageOutcome`; `since` and `until` (excluded) are ISO dates
    or datetimes of acceptance; `ses_message_id` matches exactly; `tenant` is for admins."""

    sender: str = ""
    recipient: str = ""
    subject: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    ses_message_id: str = ""
    tenant: str = ""


@dataclass(frozen=True, slots=True)
class EventFilters:
    """The event filters as given (empty: not filtered): `type` is one kind or several
    separated by commas; `address` a recipient's whole address; `since` and `until` (excluded)
    ISO dates or datetimes of the event; `queue_id` one message; `tenant` is for admins."""

    type: str = ""
    address: str = ""
    since: str = ""
    until: str = ""
    queue_id: str = ""
    tenant: str = ""


def _period(since: str, until: str) -> tuple[datetime | None, datetime | None]:
    start = parse_time(since, "since", "since") if since else None
    end = parse_time(until, "until", "until") if until else None
    check_period(start, end)
    return start, end


def _status(value: str) -> MessageOutcome | None:
    if not value:
        return None
    try:
        return MessageOutcome(value.strip().lower())
    except ValueError:
        known = ", ".join(MessageOutcome)
        raise InvalidInputError(f"unknown status {value!r}: use one of {known}", "status") from None


def _kinds(value: str) -> list[EventKind]:
    kinds = []
    for name in filter(None, (part.strip().lower() for part in value.split(","))):
        if name not in EVENT_KINDS:
            known = ", ".join(EVENT_KINDS)
            raise InvalidInputError(f"unknown event type {name!r}: use one of {known}", "type")
        kinds.append(EventKind(name))
    return kinds


async def _message_pager(
    ctx: Context, filters: MessageFilters
) -> Callable[[int, str | None], Awaitable[tuple[list[MessageSummary], str | None]]]:
    """The search the filters ask for, checked, as a function of (limit, cursor)."""
    status = _status(filters.status)
    since, until = _period(filters.since, filters.until)
    tenant_id = await ctx.tenant_id(filters.tenant or None)

    async def fetch(limit: int, cursor: str | None) -> tuple[list[MessageSummary], str | None]:
        return await messages.search_messages(
            ctx.db,
            ctx.services.sealer,
            tenant_id,
            sender=filters.sender.strip() or None,
            recipient=filters.recipient.strip() or None,
            subject=filters.subject.strip() or None,
            status=status,
            since=since,
            until=until,
            ses_message_id=filters.ses_message_id.strip() or None,
            limit=limit,
            cursor=cursor or None,
        )

    return fetch


async def _event_pager(
    ctx: Context, filters: EventFilters
) -> Callable[[int, str | None], Awaitable[tuple[list[RecipientEventInfo], str | None]]]:
    kinds = _kinds(filters.type)
    since, until = _period(filters.since, filters.until)
    address = lookup_key(filters.address) if filters.address.strip() else None
    tenant_id = await ctx.tenant_id(filters.tenant or None)

    async def fetch(limit: int, cursor: str | None) -> tuple[list[RecipientEventInfo], str | None]:
        return await events.page_events(
            ctx.db,
            tenant_id,
            kinds=kinds,
            address=address,
            since=since,
            until=until,
            queue_id=filters.queue_id.strip() or None,
            limit=limit,
            cursor=cursor or None,
        )

    return fetch


async def search_messages(
    ctx: Context, filters: MessageFilters, limit: int = 50, cursor: str | None = None
) -> Paged[MessageSummary]:
    """A page of the messages the actor may see, newest first."""
    fetch = await _message_pager(ctx, filters)
    return Paged(*await fetch(limit, cursor))


async def message_detail(ctx: Context, queue_id: str) -> MessageDetail:
    """A message with its headers and each recipient's timeline (never its body)."""
    return await messages.message_detail(
        ctx.db, ctx.services.sealer, queue_id, await ctx.tenant_id()
    )


async def list_events(
    ctx: Context, filters: EventFilters, limit: int = 50, cursor: str | None = None
) -> Paged[RecipientEventInfo]:
    """A page of the recipient events the actor may see, newest first."""
    fetch = await _event_pager(ctx, filters)
    return Paged(*await fetch(limit, cursor))


async def _csv(
    columns: Sequence[str],
    fetch: Callable[[int, str | None], Awaitable[tuple[list[T], str | None]]],
    row: Callable[[T], Sequence[Any]],
) -> str:
    """Every row `fetch` pages through, `MAX_LIMIT` at a time, as CSV with a header line; cut
    after `EXPORT_MAX_ROWS` rows with a last line that says so."""
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(columns)
    written, cursor = 0, None
    while True:
        found, cursor = await fetch(MAX_LIMIT, cursor)
        kept = found[: EXPORT_MAX_ROWS - written]
        writer.writerows(row(item) for item in kept)
        written += len(kept)
        if cursor is None and len(kept) == len(found):
            return out.getvalue()
        if written >= EXPORT_MAX_ROWS:
            writer.writerow(
                [f"# cut after {EXPORT_MAX_ROWS} rows: narrow the filters for the rest"]
            )
            return out.getvalue()


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def _message_row(m: MessageSummary) -> Sequence[Any]:
    return (
        m.id,
        m.tenant,
        _when(m.created_at),
        _when(m.completed_at),
        m.status.value,
        m.mail_from,
        m.recipient_count,
        " ".join(m.recipients),
        m.subject,
        m.size,
    )


def _event_row(e: RecipientEventInfo) -> Sequence[Any]:
    return (
        _when(e.occurred_at),
        e.tenant or "",
        e.kind.value,
        e.address,
        e.queue_id or "",
        e.ses_message_id or "",
        e.bounce_type or "",
        e.subtype or "",
        e.status or "",
        e.diagnostic or "",
        e.smtp_response or "",
        e.feedback_type or "",
        e.detail,
        _when(e.received_at),
    )


async def export_messages(ctx: Context, filters: MessageFilters) -> str:
    """Every message the filters find, newest first, as CSV (`MESSAGE_COLUMNS`; `recipients`
    names the first three, separated by spaces)."""
    return await _csv(MESSAGE_COLUMNS, await _message_pager(ctx, filters), _message_row)


async def export_events(ctx: Context, filters: EventFilters) -> str:
    """Every event the filters find, newest first, as CSV (`EVENT_COLUMNS`)."""
    return await _csv(EVENT_COLUMNS, await _event_pager(ctx, filters), _event_row)
