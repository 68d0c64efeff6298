"""The staged rows of imports unlogged on PostgreSQL: no WAL for rows a crash drops anyway

Revision ID: 0023
Revises: 0024
Create Date: 2026-12-05 17:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A crash empties an unlogged table: the import it held was lost with its process anyway
    # (`start_import` marks it failed). SQLite has no WAL of this kind: nothing to do there.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contact_import_rows SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contact_import_rows SET LOGGED")
