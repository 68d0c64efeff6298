"""Changes told to every process that shares the database, by PostgreSQL's `NOTIFY`/`LISTEN`.

`announce` runs inside the transaction that makes the change: PostgreSQL delivers the
notification when that transaction commits and never when it rolls back, so a process that
hears of a change can read it at once. The process that made it hears of it right after the
commit, from `Database.on_change`, on either backend; on SQLite (one host, no notifications)
that is all, and other processes see the change when their cached facts run out.

`Listener` is the one connection of a process that listens: a connection of its own (outside
the pool, which would lend it to others), watched so that a PostgreSQL restart or a dropped
connection is noticed at once, or at the next keepalive when the network says nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import bindparam, func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.core.exceptions import DatabaseError
from gateway.core.types.changes import Change
from gateway.storage.database import Database

CHANNEL = "ses_gateway_changes"
APPLICATION_NAME = "ses-gateway changes"
"""How the listening connection shows in `pg_stat_activity`."""
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)
"""What asyncpg's own connection raises (the listening connection is used through it)."""


async def announce(db: Database, connection: AsyncConnection, *changes: Change) -> None:
    """Inside the transaction of `connection`: every process hears of `changes` once it commits
    (on SQLite, only this one)."""
    for change in changes:
        db.announced(connection, change)
        if not db.is_sqlite:
            await connection.execute(_NOTIFY, notification(db, change))


NOTIFIED = func.pg_notify(bindparam("channel"), bindparam("payload"))
"""For a statement of PostgreSQL that notifies as it writes, saving a round trip (its parameters:
`notification`; `Database.unit` tells this process)."""


def notification(db: Database, change: Change) -> dict[str, str]:
    """`NOTIFIED`'s parameters for `change`, made by this process."""
    return {"channel": CHANNEL, "payload": change.payload(db.origin)}


class Listener:
    """One listening connection to PostgreSQL at a time; `heard` is told of each change another
    process announced (this process's own come by `Database.on_change`)."""

    def __init__(self, db: Database, heard: Callable[[Change], None]) -> None:
        self._origin = db.origin
        self._heard = heard
        self._engine = create_async_engine(
            db.url,
            poolclass=NullPool,
            connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
        )
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # asyncpg's connection
        self._lost = asyncio.Event()

    async def connect(self) -> None:
        """Connect and listen; `DatabaseError` when PostgreSQL cannot be reached."""
        self._lost.clear()
        try:
            self._connection = await self._engine.connect()
            raw = await self._connection.get_raw_connection()
            self._driver = raw.driver_connection
            self._driver.add_termination_listener(lambda _: self._lost.set())
            await self._driver.add_listener(CHANNEL, self._notified)
        except (SQLAlchemyError, OSError, *_DRIVER_ERRORS) as exc:
            await self.close()
            raise DatabaseError(f"listening for changes failed: {exc}") from exc

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        parsed = Change.parse(payload)
        if parsed is not None and parsed[0] != self._origin:
            self._heard(parsed[1])

    async def until_lost(self, keepalive: float) -> None:
        """Return once the connection is lost: closed by the server (noticed at once) or not
        answering a query within `keepalive` seconds (asked every `keepalive` seconds)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), keepalive)
                return
            try:
                await asyncio.wait_for(self._driver.execute("SELECT 1"), keepalive)
            except (TimeoutError, OSError, *_DRIVER_ERRORS):
                return

    async def close(self) -> None:
        """Drop the connection (without a goodbye, it may be dead)."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, OSError, *_DRIVER_ERRORS):
                await connection.invalidate()
                await connection.close()

    async def dispose(self) -> None:
        await self.close()
        await self._engine.dispose()
