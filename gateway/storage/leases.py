"""Leases: due rows leased to a worker (the claim of queued messages and of webhook deliveries),
and named leases that keep a singleton job to one process at a time (the identity sync).

A row's lease is `lease_owner` and `lease_until` on the row, and the attempt about to be made is
counted. On PostgreSQL the due rows are read with `FOR UPDATE SKIP LOCKED`, so workers in several
processes never take the same row; on SQLite the transaction holds the write lock. A named
lease is a row of `leases`: its owner until it expires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.database import Database
from gateway.storage.models import Lease


async def lease_due(
    conn: AsyncConnection,
    sqlite: bool,
    table: Any,
    due: ColumnElement[bool],
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
) -> list[Any]:
    """Lease up to `limit` rows of `table` (a model with `id`, `next_attempt_at`, `attempts`
    and the lease columns) that are `due` and not leased by anyone now, oldest due first, to
    `owner`; their ids."""
    query = (
        select(table.id)
        .where(due, table.next_attempt_at <= now)
        .where(or_(table.lease_until.is_(None), table.lease_until < now))
        .order_by(table.next_attempt_at)
        .limit(limit)
    )
    if not sqlite:
        query = query.with_for_update(skip_locked=True)
    ids = list((await conn.execute(query)).scalars())
    if ids:
        await conn.execute(
            update(table)
            .where(table.id.in_(ids))
            .values(lease_owner=owner, lease_until=lease_until, attempts=table.attempts + 1)
        )
    return ids


async def acquire_lease(
    db: Database, name: str, owner: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the named lease; False while another owner holds it unexpired."""
    async with db.begin() as conn:
        taken = await conn.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
        )
        if taken.rowcount:
            return True
        exists = (await conn.execute(select(Lease.name).where(Lease.name == name))).first()
        if exists is not None:
            return False
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Lease).values(name=name, owner=owner, expires_at=until))
    except IntegrityError:
        return False
    return True
