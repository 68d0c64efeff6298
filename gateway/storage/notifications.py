"""Notifications: the activity events raised to the operators, read or unread.

They are raised with their event by `activity.record_activity(..., notify=True)`; here they are
listed, counted and marked read. A tenant filter leaves out the notifications of no tenant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select, update

from gateway.core.exceptions import NotFoundError
from gateway.core.types.activity import NotificationInfo
from gateway.storage.database import Database
from gateway.storage.models import Activity, Notification, Tenant


def _notifications() -> Select[int, int, str | None, str, str, str, datetime, datetime | None]:
    return (
        select(
            Notification.id,
            Notification.activity_id,
            Tenant.name,
            Activity.kind,
            Activity.subject,
            Activity.detail,
            Activity.created_at,
            Notification.read_at,
        )
        .join(Activity, Activity.id == Notification.activity_id)
        .outerjoin(Tenant, Tenant.id == Activity.tenant_id)
    )


def _where(tenant: str | None, unread: bool) -> list[ColumnElement[bool]]:
    conditions = []
    if tenant is not None:
        conditions.append(Tenant.name == tenant)
    if unread:
        conditions.append(Notification.read_at.is_(None))
    return conditions


async def list_notifications(
    db: Database, tenant: str | None = None, unread: bool = False, limit: int = 100
) -> list[NotificationInfo]:
    """Newest first."""
    query = _notifications().where(*_where(tenant, unread)).order_by(Notification.id.desc())
    async with db.read() as conn:
        return [NotificationInfo(*row) for row in await conn.execute(query.limit(limit))]


async def unread_count(db: Database, tenant: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .join(Activity, Activity.id == Notification.activity_id)
        .outerjoin(Tenant, Tenant.id == Activity.tenant_id)
        .where(*_where(tenant, unread=True))
    )
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


def _of_tenant(tenant: str) -> ColumnElement[bool]:
    """The notification is of the tenant (for an update, which cannot join)."""
    return Notification.activity_id.in_(
        select(Activity.id)
        .join(Tenant, Tenant.id == Activity.tenant_id)
        .where(Tenant.name == tenant)
    )


async def mark_read(
    db: Database, notification_id: int, now: datetime, tenant: str | None = None
) -> NotificationInfo:
    """Mark it read at `now`; one already read keeps its first `read_at`. With `tenant`, one of
    another tenant (or of none) is not found and stays as it was."""
    mine = [Notification.id == notification_id]
    if tenant is not None:
        mine.append(_of_tenant(tenant))
    async with db.begin() as conn:
        await conn.execute(
            update(Notification).where(*mine, Notification.read_at.is_(None)).values(read_at=now)
        )
        row = (await conn.execute(_notifications().where(*mine))).first()
    if row is None:
        raise NotFoundError(f"no notification {notification_id}")
    return NotificationInfo(*row)


async def mark_all_read(db: Database, now: datetime, tenant: str | None = None) -> int:
    """Mark every unread notification (of the tenant) read at `now`; how many there were."""
    query = update(Notification).where(Notification.read_at.is_(None)).values(read_at=now)
    if tenant is not None:
        query = query.where(_of_tenant(tenant))
    async with db.begin() as conn:
        return (await conn.execute(query)).rowcount
