"""The audit log (who did what, when, from where) and the notifications with their unread state.

A tenant's users and keys see their tenant's entries only, never the gateway-wide ones (of no
tenant); an admin sees all. Marking notifications read is allowed to viewers too: it changes
what the panel highlights, not the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from admin.ops.context import Context
from gateway.core.exceptions import InvalidInputError
from gateway.core.times import check_period
from gateway.core.types.activity import ActivityEvent, NotificationInfo
from gateway.identity.accounts import now
from gateway.storage import activity as activity_store
from gateway.storage import notifications
from gateway.storage.pages import Paged

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """What the audit log is narrowed to; None or empty: no filter."""

    tenant: str | None = None
    kind: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Notifications:
    unread: int
    data: list[NotificationInfo]


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _cursor(text: str | None) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and int(text) < 2**63):
        raise InvalidInputError("give the next_cursor of the previous page", "cursor")
    return int(text)


async def list_activity(
    ctx: Context, where: ActivityFilter, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Paged[ActivityEvent]:
    """Newest first, a page at a time."""
    since, until = _utc(where.since), _utc(where.until)
    check_period(since, until)
    size = min(max(limit, 1), MAX_PAGE_SIZE)
    found = await activity_store.list_activity(
        ctx.db,
        ctx.tenant_name(where.tenant),
        limit=size + 1,
        kind=where.kind or None,
        actor=where.actor or None,
        since=since,
        until=until,
        before=_cursor(cursor),
    )
    more = len(found) > size
    page = found[:size]
    return Paged(page, str(page[-1].id) if more and page else None)


async def list_notifications(
    ctx: Context, unread: bool = False, limit: int = PAGE_SIZE
) -> Notifications:
    """Newest first, with the unread count."""
    tenant = ctx.tenant_name()
    found = await notifications.list_notifications(ctx.db, tenant, unread, limit)
    return Notifications(await notifications.unread_count(ctx.db, tenant), found)


async def mark_read(ctx: Context, notification_id: int) -> NotificationInfo:
    """Mark one read; another tenant's is not found."""
    tenant = ctx.tenant_name()
    found = await notifications.mark_read(ctx.db, notification_id, now(), tenant)
    await ctx.audit(
        "notification.read", f"notification {found.id}", found.kind, tenant=found.tenant
    )
    return found


async def mark_all_read(ctx: Context, tenant: str | None = None) -> int:
    """Mark every unread notification of the actor's tenant (an admin's: of the tenant named,
    None: of all) read; how many there were."""
    scope = await ctx.tenant(tenant)
    name = scope.name if scope else None
    marked = await notifications.mark_all_read(ctx.db, now(), name)
    if marked:
        await ctx.audit(
            "notification.read-all", "notifications", f"{marked} marked read", tenant=name
        )
    return marked
