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

from sqlalchemy import BindParameter, ColumnElement, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.database import Database
from gateway.storage.models import Lease


class DueRows:
    """The statements that lease the rows of `table` (a model with `id`, `next_attempt_at`,
    `attempts` and the lease columns) that are `due` and not leased by anyone now: built once,
    with bind parameters for what changes per claim. SQLAlchemy finds a statement's compiled
    form in its cache by a key it computes once per statement object; a statement built at each
    claim costs its construction and a new key every time (a tenth of a delivery worker's CPU,
    docs/performance.md)."""

    def __init__(self, table: Any, due: ColumnElement[bool]) -> None:
        now: BindParameter[datetime] = bindparam("now")
        self.pick = (
            select(table.id)
            .where(due, table.next_attempt_at <= now)
            .where(or_(table.lease_until.is_(None), table.lease_until < now))
            .order_by(table.next_attempt_at)
            .limit(bindparam("limit"))
        )
        """Oldest due first; on PostgreSQL `pick_locked` (rows another claim holds skipped)."""
        self.pick_locked = self.pick.with_for_update(skip_locked=True)
        self.take = (
            update(table)
            .where(table.id.in_(bindparam("ids", expanding=True)))
            .values(
                lease_owner=bindparam("owner"),
                lease_until=bindparam("until"),
                attempts=table.attempts + 1,
            )
        )


async def lease_due(
    conn: AsyncConnection,
    sqlite: bool,
    rows: DueRows,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
) -> list[Any]:
    """Lease up to `limit` of the due `rows`, oldest due first, to `owner`; their ids."""
    pick = rows.pick if sqlite else rows.pick_locked
    ids = list((await conn.execute(pick, {"now": now, "limit": limit})).scalars())
    if ids:
        await conn.execute(rows.take, {"ids": ids, "owner": owner, "until": lease_until})
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
