"""`/api/v1/messages` and `/api/v1/events`: search, one message's detail, the events paged,
and CSV exports with the same filters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import WHEN, Api, Call, NextCursor, Paging, filters
from admin.ops import messages
from admin.ops.context import Context
from gateway.core.types.history import MessageDetail
from gateway.storage.messages import SUBJECT_SCAN

api = Api()

STATUSES = "queued, deferred, complained, bounced, failed, delivered, sent or suppressed"


class MessageSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="the queue id")
    tenant: str
    mail_from: str = Field(description="the envelope sender")
    subject: str
    recipient_count: int
    recipients: list[str] = Field(description="the first three recipients")
    status: str = Field(description=STATUSES)
    created_at: datetime = Field(description="when the gateway accepted it")
    completed_at: datetime | None
    size: int


class MessageList(BaseModel):
    data: list[MessageSummary]
    next_cursor: NextCursor


class MessageFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(default="", max_length=320, description="part of the envelope sender")
    recipient: str = Field(default="", max_length=320, description="part of a recipient")
    subject: str = Field(
        default="",
        max_length=998,
        description=(
            "part of the subject, any case; subjects are encrypted, so this is matched after "
            f"decrypting at most {SUBJECT_SCAN:,} messages per page: a page can be short, or "
            "empty, and still have a next_cursor"
        ),
    )
    status: str = Field(default="", max_length=20, description=STATUSES)
    since: str = Field(default="", max_length=40, description=f"accepted at or after: {WHEN}")
    until: str = Field(default="", max_length=40, description=f"accepted before: {WHEN}")
    ses_message_id: str = Field(default="", max_length=200, description="of any recipient")
    tenant: str = Field(default="", max_length=63, description="admin keys: one tenant's")


class MessageQuery(Paging, MessageFilters):
    pass


class Envelope(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant: str
    mail_from: str
    subject: str
    size: int
    state: str = Field(description="`queued` until every recipient is final, then `done`")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    completed_at: datetime | None
    has_body: bool = Field(description="false once the body is deleted")
    via: str = Field(
        description="how it was submitted: `smtp`, `api` (`POST /emails`) or `campaign`"
    )


class RecipientState(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    address: str
    state: str = Field(description="queued, deferred, sent, failed or suppressed")
    attempts: int
    ses_message_id: str | None
    last_error: str | None
    updated_at: datetime


class Report(BaseModel):
    """What SES reported about a recipient, folded from its events."""

    model_config = ConfigDict(from_attributes=True)

    address: str
    outcome: str = Field(
        description="complained, bounced, delivered, rejected, rendering_failed, delayed, sent, "
        "or empty: no event yet"
    )
    sent_at: datetime | None
    delivered_at: datetime | None
    smtp_response: str | None
    bounced_at: datetime | None
    bounce_type: str | None
    bounce_subtype: str | None
    diagnostic: str | None
    complained_at: datetime | None
    feedback_type: str | None
    opened_at: datetime | None
    opens: int
    clicked_at: datetime | None
    clicks: int
    unsubscribed_at: datetime | None


class TimelineEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str = Field(description="queued, sent, deferred, failed, suppressed, or an event's kind")
    detail: str


class Tracking(BaseModel):
    """Opens and clicks through the gateway's own links; machines' (privacy proxies, link
    scanners) counted apart."""

    model_config = ConfigDict(from_attributes=True)

    opens: int
    first_open_at: datetime | None
    machine_opens: int
    clicks: int
    first_click_at: datetime | None
    machine_clicks: int
    unsubscribed_at: datetime | None


class Recipient(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: RecipientState
    report: Report
    tracking: Tracking | None
    timeline: list[TimelineEntry] = Field(description="in time order")


class Header(BaseModel):
    name: str
    value: str = Field(description="unfolded")


class Message(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message: Envelope
    status: str = Field(description=STATUSES)
    headers: list[Header] | None = Field(
        description="the header fields of the stored message; null once its body is deleted. "
        "The body itself is never given"
    )
    recipients: list[Recipient]
    strangers: list[Report] = Field(
        description="addresses that SES events named but that are not recipients"
    )


class Event(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str | None
    queue_id: str | None
    ses_message_id: str | None
    address: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    bounce_type: str | None
    subtype: str | None
    status: str | None
    diagnostic: str | None
    smtp_response: str | None
    processing_ms: int | None
    feedback_type: str | None
    detail: str


class EventList(BaseModel):
    data: list[Event]
    next_cursor: NextCursor


class EventFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        default="",
        max_length=200,
        description="one event type or several separated by commas: "
        + ", ".join(messages.EVENT_KINDS),
    )
    address: str = Field(default="", max_length=320, description="the recipient's address")
    since: str = Field(default="", max_length=40, description=f"happened at or after: {WHEN}")
    until: str = Field(default="", max_length=40, description=f"happened before: {WHEN}")
    queue_id: str = Field(default="", max_length=32, description="one message's")
    tenant: str = Field(default="", max_length=63, description="admin keys: one tenant's")


class EventQuery(Paging, EventFilters):
    pass


@api.endpoint(
    "GET",
    "/messages",
    summary="Search messages, newest first",
    tag="messages",
    query=MessageQuery,
    response=MessageList,
)
async def search_messages(ctx: Context, call: Call) -> object:
    query = call.query
    return await messages.search_messages(
        ctx, filters(query, messages.MessageFilters), query.limit, query.cursor
    )


@api.endpoint(
    "GET",
    "/messages/export",
    summary="Messages as CSV, with the filters of the search",
    tag="messages",
    query=MessageFilters,
    response=None,
    content_type="text/csv",
)
async def export_messages(ctx: Context, call: Call) -> str:
    return await messages.export_messages(ctx, filters(call.query, messages.MessageFilters))


@api.endpoint(
    "GET",
    "/messages/{queue_id}",
    summary="A message: its envelope, headers and each recipient's timeline (never its body)",
    tag="messages",
    response=Message,
)
async def message_detail(ctx: Context, call: Call) -> object:
    detail: MessageDetail = await messages.message_detail(ctx, call.path["queue_id"])
    headers = detail.headers
    return {
        "message": detail.message,
        "status": detail.status,
        "headers": None if headers is None else [{"name": n, "value": v} for n, v in headers],
        "recipients": detail.recipients,
        "strangers": detail.strangers,
    }


@api.endpoint(
    "GET",
    "/events",
    summary="Recipient events (SES's, opens and clicks), newest first",
    tag="events",
    query=EventQuery,
    response=EventList,
)
async def list_events(ctx: Context, call: Call) -> object:
    query = call.query
    return await messages.list_events(
        ctx, filters(query, messages.EventFilters), query.limit, query.cursor
    )


@api.endpoint(
    "GET",
    "/events/export",
    summary="Recipient events as CSV, with the filters of the list",
    tag="events",
    query=EventFilters,
    response=None,
    content_type="text/csv",
)
async def export_events(ctx: Context, call: Call) -> str:
    return await messages.export_events(ctx, filters(call.query, messages.EventFilters))
