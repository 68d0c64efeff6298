"""Schema migrations with Alembic, run over the application's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from gateway.core.exceptions import SchemaError
from gateway.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(database: Database) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""

    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), "head")

    async with database.begin() as connection:
        await connection.run_sync(run)


async def ensure_schema(database: Database, auto_migrate: bool) -> None:
    """Upgrade an empty or older schema, or (with `AUTO_MIGRATE` off) insist that it is current."""
    if auto_migrate:
        await upgrade(database)
        return
    current, head = await current_revision(database), head_revision()
    if current != head:
        raise SchemaError(
            f"the database schema is at revision {current or 'none'} but this version needs "
            f"{head}: run `ses-gateway db upgrade` (SES_GATEWAY_AUTO_MIGRATE is off)"
        )
