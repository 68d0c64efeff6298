"""The connection to SQLite (the embedded default) or PostgreSQL (shared by several instances)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from gateway.core.exceptions import DatabaseError
from gateway.core.types.changes import Change
from gateway.storage.turn import WAIT, WriteTurn

T = TypeVar("T")


class Database:
    """An engine with the settings each backend needs. `begin()` opens one transaction.

    `on_change`, when set, is told of each change a transaction announced
    (`gateway.storage.changes.announce`) once it has committed: this process learns of its own
    changes at once, on either backend, and the others by PostgreSQL's notifications."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = url
        self.origin = secrets.token_hex(4)
        """Names this process in its notifications, so that it skips its own when they come back."""
        self.on_change: Callable[[Change], None] | None = None
        """Must not raise: the change is committed (the bus catches its subscribers' errors)."""
        self._announced: dict[AsyncConnection, list[Change]] = {}
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._turn: WriteTurn | None = None
        self._writer: _Writer | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                self._turn = WriteTurn(Path(f"{parsed.database}-turn"))
                self._writer = _Writer(parsed)
            # hide_parameters: a failed statement must not log the message it was storing.
            self.engine: AsyncEngine = create_async_engine(
                url, connect_args={"timeout": WAIT}, hide_parameters=True, **_sqlite_pool(parsed)
            )
            _on_sqlite_events(self.engine.sync_engine)
        else:
            # LIFO: the connection used last is used again, its statements prepared and its
            # caches warm; FIFO walked every request through all ten, each preparing every
            # statement once more (at 500 msgs/s the p99 of end of DATA -> 250 fell from 20-23
            # to 16-18 ms, docs/performance.md).
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_use_lifo=True
            )
            event.listen(self.engine.sync_engine, "checkout", _replace_if_closed)
        # The same pool, its connections in autocommit while lent (asyncpg's driver sends no
        # statement to switch: `statement` and `read` below).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else self.engine.dialect.name

    @asynccontextmanager
    async def begin(self, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction. Errors other than integrity violations become `DatabaseError`.

        On a SQLite file every transaction first takes the file's write turn
        (`gateway.storage.turn`), then SQLite's write lock (`BEGIN IMMEDIATE`). `urgent`: a
        client waits for this commit (a submission's), so it goes before the process's other
        writers. PostgreSQL locks rows, and needs neither.
        """
        turn = self._turn.taken(urgent) if self._turn is not None else contextlib.nullcontext()
        async with _translated(), turn, self._telling(self.engine.begin()) as connection:
            yield connection

    @asynccontextmanager
    async def statement(self, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A transaction of one statement, which is atomic by itself: on PostgreSQL it runs in
        autocommit, without the round trips of BEGIN and COMMIT (two of the three a statement
        costs in `begin`); on SQLite it is `begin`. Run one statement only in it: two would be
        two transactions on PostgreSQL."""
        if self.is_sqlite:
            async with self.begin(urgent) as connection:
                yield connection
            return
        async with _translated(), self._telling(self._autocommit.connect()) as connection:
            yield connection

    async def unit(
        self,
        body: Callable[[Connection], T],
        *changes: Change,
        urgent: bool = False,
        single: bool = False,
    ) -> T:
        """A write transaction run whole as one call of `body`, which executes its statements
        (synchronously) on the connection it is given and returns what the caller needs;
        `on_change` hears of `changes` once it has committed. `urgent` as for `begin`.

        On a SQLite file the call runs on the process's writer thread, under the write turn:
        the transaction is one hop to a thread, not three or four for each statement as through
        aiosqlite (a sixth of a `serve`'s CPU, docs/performance.md). Elsewhere it runs on a
        connection of the pool (`run_sync`), in autocommit (`statement`) when `body` executes
        one statement only (`single`)."""
        if self._writer is None:
            transaction = self.statement(urgent) if single else self.begin(urgent)
            async with transaction as connection:
                result = await connection.run_sync(body)
                for change in changes:
                    self.announced(connection, change)
            return result
        assert self._turn is not None
        async with _translated(), self._turn.taken(urgent):
            result = await self._writer.run(body)
        if self.on_change is not None:  # committed
            for change in changes:
                self.on_change(change)
        return result

    @asynccontextmanager
    async def _telling(
        self, connecting: AbstractAsyncContextManager[AsyncConnection]
    ) -> AsyncIterator[AsyncConnection]:
        """The connection of `connecting`, whose exit commits; then `on_change` is told of the
        changes announced on it."""
        async with connecting as connection:
            try:
                yield connection
            finally:
                changes = self._announced.pop(connection, [])
        if self.on_change is not None:  # committed
            for change in changes:
                self.on_change(change)

    def announced(self, connection: AsyncConnection, change: Change) -> None:
        """`change` is made by the transaction of `connection`: `on_change` hears of it once
        the transaction commits, never if it rolls back."""
        self._announced.setdefault(connection, []).append(change)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only: on SQLite it takes no write lock and waits for no turn;
        on PostgreSQL it runs in autocommit (no BEGIN and ROLLBACK round trips)."""
        if not self.is_sqlite:  # read committed: each statement has its own snapshot anyway
            async with _translated(), self._autocommit.connect() as connection:
                yield connection
            return
        async with _translated(), self.engine.connect() as connection:
            yield await connection.execution_options(**_READ_ONLY)

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(f"database unreachable: {exc}") from exc

    async def close(self) -> None:
        await self.engine.dispose()
        if self._turn is not None:
            self._turn.close()
            self._turn = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """SQLAlchemy's errors become ours at this boundary, except integrity violations, which the
    storage functions turn into `ConflictError`s themselves."""
    try:
        yield
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"database error: {type(exc).__name__}: {detail}") from exc
    except OSError as exc:
        raise DatabaseError(
            f"database unreachable ({exc}): check SES_GATEWAY_DATABASE_URL"
        ) from exc


SQLITE_POOL_SIZE = 20
"""Connections kept open to a SQLite file (each is a thread of aiosqlite's). SQLAlchemy's default,
5 plus 10 more closed after use, made SMTP sessions at once open and close a connection (a thread
and its PRAGMAs) for a read."""


def _sqlite_pool(url: URL) -> dict[str, int]:
    """Pool settings for a SQLite file; an in-memory database has one connection (no pool)."""
    if not url.database or url.database == ":memory:":
        return {}
    return {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}


class _Writer:
    """The writer thread of a SQLite file (`Database.unit`): one thread, as the file has one
    writer at a time, with a connection of its own (sqlite3's, not aiosqlite's)."""

    def __init__(self, url: URL) -> None:
        self._engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": WAIT, "check_same_thread": False},
            hide_parameters=True,
            poolclass=StaticPool,
        )
        _on_sqlite_events(self._engine)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, body: Callable[[Connection], T]) -> T:
        done = asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, body)
        try:
            return await asyncio.shield(done)
        finally:
            if not done.done():  # cancelled: the turn is held until the transaction has ended
                await asyncio.wait([done])

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return body(connection)

    def close(self) -> None:
        self._thread.shutdown()
        self._engine.dispose()


def _on_sqlite_events(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; FULL makes every commit durable on disk before
    # the SMTP client hears 250; transactions are begun by hand (IMMEDIATE, below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={WAIT * 1000:.0f}")
    cursor.close()


def _replace_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection that PostgreSQL closed (a restart, a backend terminated) is replaced
    as it is taken from the pool. asyncpg notices the close as it happens, so asking costs no
    round trip; SQLAlchemy's `pool_pre_ping` cost three for every transaction (BEGIN, a query,
    ROLLBACK: a fifth of the delivery path's round trips, docs/performance.md). A connection
    lost without a word (a network cut) fails its statement instead, and SQLAlchemy then drops
    every connection of the pool that was opened before."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the connection was closed by the server")


_READ_ONLY = {"sqlite_read_only": True}
"""Marks `Database.read` connections: statements run in autocommit (the driver's isolation level
is None on every connection), with no transaction begun. An option of our own, not
`isolation_level="AUTOCOMMIT"`, which SQLAlchemy would set on the connection and reset after,
each a round trip to the connection's thread."""


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    # cannot fail half-way with SQLITE_BUSY when another process wrote in between. Reads
    # (`Database.read`) need no transaction at all.
    if not connection.get_execution_options().get("sqlite_read_only"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
