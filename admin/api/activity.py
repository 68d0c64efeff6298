"""`/api/v1/activity` (the audit log) and `/api/v1/notifications` (with their unread state)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call, QueryTime
from admin.ops import activity
from admin.ops.context import Context

api = Api()


class ActivityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(
        default=None, description="an admin's filter; a tenant's key sees its own"
    )
    kind: str | None = Field(
        default=None, description="a kind, or a family of kinds: `domain` matches `domain.verified`"
    )
    actor: str | None = Field(
        default=None, description="a user's email, `apikey:<prefix>`, or `gateway` (its own events)"
    )
    since: QueryTime | None = Field(default=None, description="from this time on (ISO 8601)")
    until: QueryTime | None = Field(default=None, description="before this time (ISO 8601)")
    cursor: str | None = Field(default=None, description="the `next_cursor` of the previous page")
    limit: int = Field(default=activity.PAGE_SIZE, ge=1, le=activity.MAX_PAGE_SIZE)


class ActivityEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str | None = Field(
        description="who: a user's email or `apikey:<prefix>`; null: the gateway"
    )
    client_address: str | None = Field(description="where the change came from")
    tenant: str | None
    kind: str
    subject: str
    detail: str


class ActivityList(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    data: list[ActivityEntry]
    next_cursor: str | None


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: bool = Field(default=False, description="only the unread ones")
    limit: int = Field(default=activity.PAGE_SIZE, ge=1, le=activity.MAX_PAGE_SIZE)


class Notification(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    activity_id: int
    created_at: datetime
    tenant: str | None
    kind: str
    subject: str
    detail: str
    read_at: datetime | None = Field(description="null while unread")


class NotificationList(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unread: int = Field(description="the unread notifications, all told")
    data: list[Notification]


class Marked(BaseModel):
    marked: int = Field(description="how many were unread")


@api.endpoint(
    "GET",
    "/activity",
    summary="The audit log, newest first",
    tag="activity",
    query=ActivityQuery,
    response=ActivityList,
)
async def list_activity(ctx: Context, call: Call) -> object:
    q = call.query
    where = activity.ActivityFilter(q.tenant, q.kind, q.actor, q.since, q.until)
    return await activity.list_activity(ctx, where, q.cursor, q.limit)


@api.endpoint(
    "GET",
    "/notifications",
    summary="Notifications, newest first, with the unread count",
    tag="notifications",
    query=NotificationQuery,
    response=NotificationList,
)
async def list_notifications(ctx: Context, call: Call) -> object:
    return await activity.list_notifications(ctx, call.query.unread, call.query.limit)


@api.endpoint(
    "POST",
    "/notifications/{id:int}/read",
    summary="Mark a notification read",
    tag="notifications",
    response=Notification,
)
async def mark_read(ctx: Context, call: Call) -> object:
    return await activity.mark_read(ctx, call.path["id"])


@api.endpoint(
    "POST",
    "/notifications/read",
    summary="Mark every unread notification read",
    tag="notifications",
    response=Marked,
)
async def mark_all_read(ctx: Context, call: Call) -> object:
    return Marked(marked=await activity.mark_all_read(ctx))
