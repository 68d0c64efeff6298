"""The activity log: what happened to tenants, domains and the gateway, newest first, and the
notifications raised with an event (one transaction: an event is never raised without its record).

`add_activity` writes within a caller's transaction, so that a change and the event that
records it are never apart; `notify_once` keeps several processes to one notification per
tenant, kind and subject within a time (`gateway.feedback.alerts`, the reputation guard).
Notifications are listed and marked read in `notifications.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.types.activity import ActivityEvent
from gateway.storage.database import Database
from gateway.storage.models import Activity, Notification, Tenant

GATEWAY_ACTOR = "gateway"
"""The actor of the events the gateway records itself (stored as NULL)."""


async def add_activity(
    conn: AsyncConnection,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime | None,
    notify: bool,
) -> None:
    """Insert the event, and with `notify` its notification, in the caller's transaction."""
    added = await conn.execute(
        insert(Activity)
        .values(tenant_id=tenant_id, kind=kind, subject=subject, detail=detail, created_at=now)
        .returning(Activity.id)
    )
    if notify:
        await conn.execute(insert(Notification).values(activity_id=added.scalar_one()))


async def record_activity(
    db: Database,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime,
    notify: bool = False,
) -> None:
    """Record the event; with `notify`, also raise it as an unread notification (together)."""
    async with db.begin() as conn:
        await add_activity(conn, tenant_id, kind, subject, detail, now, notify)


async def notify_once(
    db: Database,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime,
    within: timedelta,
) -> bool:
    """Record the event and raise it as a notification, unless the tenant (None: the gateway)
    had one of that kind about that subject within `within` before `now`: checked and written
    in one transaction, one at a time per tenant, kind and subject (several processes judge at
    once); whether it recorded."""
    async with db.begin() as conn:
        if not db.is_sqlite:  # SQLite's write lock already makes it one at a time
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"activity:{kind}:{tenant_id}:{subject}"},
            )
        recent = await conn.execute(
            select(Activity.id)
            .where(
                Activity.tenant_id.is_(None)
                if tenant_id is None
                else Activity.tenant_id == tenant_id,
                Activity.kind == kind,
                Activity.subject == subject,
                Activity.created_at > now - within,
            )
            .limit(1)
        )
        if recent.first() is not None:
            return False
        await add_activity(conn, tenant_id, kind, subject, detail, now, notify=True)
    return True


async def list_activity(
    db: Database,
    tenant: str | None = None,
    kinds: Sequence[str] = (),
    limit: int = 100,
    *,
    kind: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
) -> list[ActivityEvent]:
    """Newest first. A tenant filter leaves out the events of no tenant; `kind` matches itself
    and the kinds under it (`domain` matches `domain.verified`); `actor` `gateway`
    (`GATEWAY_ACTOR`) matches the gateway's own events; `before` an id: the page after it."""
    query = (
        select(
            Activity.id,
            Tenant.name,
            Activity.kind,
            Activity.subject,
            Activity.detail,
            Activity.created_at,
            Activity.actor,
            Activity.client_address,
        )
        .outerjoin(Tenant, Tenant.id == Activity.tenant_id)
        .order_by(Activity.id.desc())
        .limit(limit)
    )
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    if kinds:
        query = query.where(Activity.kind.in_(kinds))
    if kind:
        query = query.where(
            or_(Activity.kind == kind, Activity.kind.startswith(f"{kind}.", autoescape=True))
        )
    if actor:
        query = query.where(
            Activity.actor.is_(None) if actor == GATEWAY_ACTOR else Activity.actor == actor
        )
    if since is not None:
        query = query.where(Activity.created_at >= since)
    if until is not None:
        query = query.where(Activity.created_at < until)
    if before is not None:
        query = query.where(Activity.id < before)
    async with db.read() as conn:
        return [ActivityEvent(*row) for row in await conn.execute(query)]
