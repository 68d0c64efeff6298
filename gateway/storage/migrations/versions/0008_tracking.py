"""tracking

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.storage.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        for name in ("open_tracking", "click_tracking", "unsubscribe"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch_op.add_column(sa.Column("tracking_host", sa.String(length=253), nullable=True))

    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("occurred_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("machine", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracking_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_tracking_events_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_tracking_events_recipient_id_recipients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_events_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            "ix_tracking_events_recipient_kind", ["recipient_id", "kind"], unique=False
        )
        batch_op.create_index(
            "ix_tracking_events_tenant_kind_time",
            ["tenant_id", "kind", "occurred_at"],
            unique=False,
        )
        batch_op.create_index("ix_tracking_events_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_events_occurred_at")
        batch_op.drop_index("ix_tracking_events_tenant_kind_time")
        batch_op.drop_index("ix_tracking_events_recipient_kind")
        batch_op.drop_index(batch_op.f("ix_tracking_events_message_id"))

    op.drop_table("tracking_events")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        for name in ("tracking_host", "unsubscribe", "click_tracking", "open_tracking"):
            batch_op.drop_column(name)
