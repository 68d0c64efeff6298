"""`gateway.storage.database`: the connection pool outlives connections the server dropped; a
transaction of one statement is told of once committed, and on PostgreSQL costs no BEGIN."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
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


async def test_a_statements_changes_are_told_once_it_committed_never_if_it_failed(
    db: Database,
) -> None:
    told: list[Change] = []
    db.on_change = told.append
    change = Change(Topic.TENANT, "7")
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
