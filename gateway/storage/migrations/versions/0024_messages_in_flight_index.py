"""messages: an index for a tenant's campaign messages in flight

Revision ID: 0024
Revises: 0019
Create Date: 2026-12-05 18:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_tenant_via_state", "messages", ["tenant_id", "via", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messages_tenant_via_state", table_name="messages")
