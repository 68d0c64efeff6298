"""Leasing due rows to a worker: the claim of queued messages and of webhook deliveries.

A lease is `lease_owner` and `lease_until` on the row, and the attempt about to be made is
counted. On PostgreSQL the due rows are read with `FOR UPDATE SKIP LOCKED`, so workers in several
processes never take the same row; on SQLite the transaction holds the write lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


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
