"""message subject, and indexes for searching messages and counting by time

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subject", sa.String(length=998), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("headers", sa.LargeBinary(), nullable=True))
        batch_op.create_index(
            "ix_messages_tenant_created", ["tenant_id", "created_at"], unique=False
        )
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.create_index("ix_recipients_state_updated", ["state", "updated_at"], unique=False)
    with op.batch_alter_table("recipient_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recipient_events_kind_time", ["kind", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recipient_events", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_events_kind_time")
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_recipients_state_updated")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_tenant_created")
        batch_op.drop_column("headers")
        batch_op.drop_column("subject")
