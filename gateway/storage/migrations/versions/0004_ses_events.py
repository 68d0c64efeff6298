"""ses events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 19:01:56.548601
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ses_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sns_message_id", sa.String(length=128), nullable=False),
        sa.Column("topic_arn", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ses_type", sa.String(length=64), nullable=False),
        sa.Column("ses_message_id", sa.String(length=128), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("received_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("processed_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["messages.id"],
            name=op.f("fk_ses_events_queue_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ses_events_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ses_events")),
        sa.UniqueConstraint("sns_message_id", name=op.f("uq_ses_events_sns_message_id")),
    )
    with op.batch_alter_table("ses_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ses_events_queue_id"), ["queue_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ses_events_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ses_events_ses_message_id"), ["ses_message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ses_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "recipient_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("bounce_type", sa.String(length=32), nullable=True),
        sa.Column("subtype", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("smtp_response", sa.Text(), nullable=True),
        sa.Column("processing_ms", sa.Integer(), nullable=True),
        sa.Column("feedback_type", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ses_events.id"],
            name=op.f("fk_recipient_events_event_id_ses_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_events_recipient_id_recipients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recipient_events_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_events")),
    )
    with op.batch_alter_table("recipient_events", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_events_address_kind", ["address", "kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recipient_events_event_id"), ["event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recipient_events_recipient_id"), ["recipient_id"], unique=False
        )
        batch_op.create_index(
            "ix_recipient_events_tenant_kind_time",
            ["tenant_id", "kind", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("recipient_events", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_events_tenant_kind_time")
        batch_op.drop_index(batch_op.f("ix_recipient_events_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_recipient_events_event_id"))
        batch_op.drop_index("ix_recipient_events_address_kind")

    op.drop_table("recipient_events")
    with op.batch_alter_table("ses_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ses_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ses_events_ses_message_id"))
        batch_op.drop_index(batch_op.f("ix_ses_events_received_at"))
        batch_op.drop_index(batch_op.f("ix_ses_events_queue_id"))

    op.drop_table("ses_events")
