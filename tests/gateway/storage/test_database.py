"""`gateway.storage.database`: the connection pool outlives connections the server dropped."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

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
