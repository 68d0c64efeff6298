"""`gateway.storage.database`: the connection pool outlives connections the server dropped; a
transaction of one statement is told of once committed, and on PostgreSQL costs no BEGIN; a
unit runs whole on SQLite's writer thread, and holds the write turn until it has ended."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.exceptions import DatabaseError
from gateway.core.types.changes import Change, Topic
from gateway.storage.database import Database


async def test_connections_the_server_closed_are_replaced_before_use(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")

    async def hold() -> None:
        async with db.begin() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(hold() for _ in range(3)))  # three connections in the pool
    other = Database(db.url)
    try:
        async with other.begin() as conn:
            dropped = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert dropped.scalar_one() >= 3
    finally:
        await other.close()
    await asyncio.sleep(0.2)  # the closes reach this process's event loop
    results = await asyncio.gather(*(_one(db) for _ in range(3)))
    assert results == [1, 1, 1]


async def _one(db: Database) -> int:
    async with db.begin() as conn:
        return int((await conn.execute(text("SELECT 1"))).scalar_one())


XID = text("SELECT pg_current_xact_id()")
"""The transaction's id (one is given to it): two statements in one transaction have the same."""


async def _two_ids(conn: AsyncConnection) -> set[object]:
    return {(await conn.execute(XID)).scalar_one() for _ in range(2)}


async def test_statements_and_reads_run_without_begin_on_postgresql(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    async with db.statement() as conn:  # (with one statement only, which is atomic by itself)
        assert len(await _two_ids(conn)) == 2
    async with db.read() as conn:
        assert len(await _two_ids(conn)) == 2
    async with db.begin() as conn:  # the pool's connections are in a transaction again
        assert len(await _two_ids(conn)) == 1


CHANGE = Change(Topic.TENANT, "7")


@pytest.fixture
def told(db: Database) -> list[Change]:
    """The changes `db` told of, in order."""
    heard: list[Change] = []
    db.on_change = heard.append
    return heard


async def test_a_statements_changes_are_told_once_it_committed_never_if_it_failed(
    db: Database, told: list[Change]
) -> None:
    change = CHANGE
    async with db.statement() as conn:
        await conn.execute(text("SELECT 1"))
        db.announced(conn, change)
        assert told == []
    assert told == [change]
    with pytest.raises(DatabaseError):
        await _failed(db, change)
    assert told == [change]


async def _failed(db: Database, change: Change) -> None:
    async with db.statement() as conn:
        db.announced(conn, change)
        await conn.execute(text("SELECT no_such_column"))


async def test_statements_and_reads_run_without_begin_on_postgresql_units_too(
    db: Database,
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")

    def two_ids(conn: Connection) -> set[object]:
        return {conn.execute(XID).scalar_one() for _ in range(2)}

    assert len(await db.unit(two_ids, single=True)) == 2  # autocommit
    assert len(await db.unit(two_ids)) == 1


async def test_a_unit_runs_whole_on_the_writer_thread_and_is_told_once_committed(
    db: Database, told: list[Change]
) -> None:
    change = CHANGE

    def body(conn: Connection) -> str:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert told == []
        return threading.current_thread().name

    thread = await db.unit(body, change)
    assert told == [change]
    if db.is_sqlite:
        assert thread.startswith("sqlite-writer")
    else:  # on a connection of the pool, on this thread
        assert thread == threading.current_thread().name
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1

    # A failed unit is rolled back and told of to nobody; errors are translated as `begin`'s.
    with pytest.raises(IntegrityError):
        await db.unit(body, change)
    with pytest.raises(DatabaseError):
        await db.unit(lambda conn: conn.execute(text("SELECT no_such_column")), change)
    assert told == [change]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_a_cancelled_unit_keeps_the_write_turn_until_its_transaction_ended(
    db: Database,
) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL locks rows: it has no write turn")
    ended: list[str] = []

    def slow(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        time.sleep(0.3)
        ended.append("slow")

    unit = asyncio.create_task(db.unit(slow))
    await asyncio.sleep(0.1)  # on the writer thread now
    unit.cancel()
    await asyncio.sleep(0.05)
    # The turn between processes (the file's flock) is still held: no other writer goes.
    fd = os.open(f"{make_url(db.url).database}-turn", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert ended == []
        with pytest.raises(asyncio.CancelledError):
            await unit  # once the transaction has ended
        assert ended == ["slow"]
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # given back
    finally:
        os.close(fd)
