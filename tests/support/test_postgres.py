"""The throwaway PostgreSQL server really starts and accepts connections."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .postgres import MEMORY, PostgresServer


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


@pytest.mark.skipif(not MEMORY.is_dir(), reason="no /dev/shm on this machine")
def test_the_suites_server_keeps_its_files_in_memory_and_others_on_disk(
    postgres_server: PostgresServer,
) -> None:
    assert postgres_server.tmpdir is not None
    assert postgres_server.tmpdir.parent == MEMORY
    # A benchmark's server: a sync has to reach a disk.
    assert PostgresServer(durable=True)._default_base_dir() != MEMORY
