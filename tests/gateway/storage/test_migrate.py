"""Alembic migrations: they build exactly the models' schema, and upgrades are idempotent."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from gateway.core.exceptions import SchemaError
from gateway.storage.database import Database
from gateway.storage.migrate import current_revision, ensure_schema, head_revision, upgrade
from gateway.storage.models import Base


async def test_migrations_match_the_models(db: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_upgrade_twice_is_harmless(db: Database) -> None:
    await upgrade(db)
    assert await current_revision(db) == head_revision()


async def test_without_auto_migrate_an_empty_database_is_refused(database_url: str) -> None:
    database = Database(database_url)
    try:
        with pytest.raises(SchemaError, match="run `ses-gateway db upgrade`"):
            await ensure_schema(database, auto_migrate=False)
        await ensure_schema(database, auto_migrate=True)
        await ensure_schema(database, auto_migrate=False)
    finally:
        await database.close()
