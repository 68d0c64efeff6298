"""sns setups

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.storage.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sns_setups",
        sa.Column("configuration_set", sa.String(length=64), nullable=False),
        sa.Column("topic_arn", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("default_since", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("configuration_set", name=op.f("pk_sns_setups")),
    )


def downgrade() -> None:
    op.drop_table("sns_setups")
