"""The throwaway PostgreSQL server really starts and accepts connections."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .postgres import PostgresServer


async def test_postgres_server_create_database_and_select() -> None:
    with PostgresServer() as pg:
        assert pg.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        url = pg.create_database("support_check")
        assert url.endswith("/support_check")
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text("select 1"))).scalar_one() == 1
                name = (await conn.execute(text("select current_database()"))).scalar_one()
                assert name == "support_check"
        finally:
            await engine.dispose()
    assert pg.tmpdir is None
