"""Alembic environment: always given a connection by `gateway.storage.migrate`."""

from alembic import context

from gateway.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
if connection.dialect.name == "postgresql":
    # Several instances may start at once against one database: one migrates, the others wait.
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7262354)")
with context.begin_transaction():
    context.run_migrations()
