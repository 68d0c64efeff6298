"""AWS accounts, and the account each tenant uses

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.storage.models import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aws_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("access_key_id", sa.String(length=128), nullable=True),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=True),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("sealed_external_id", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("check_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aws_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_aws_accounts_name")),
    )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("aws_account_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_tenants_aws_account_id"), ["aws_account_id"], unique=False)
        batch.create_foreign_key(
            op.f("fk_tenants_aws_account_id_aws_accounts"),
            "aws_accounts",
            ["aws_account_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint(op.f("fk_tenants_aws_account_id_aws_accounts"), type_="foreignkey")
        batch.drop_index(op.f("ix_tenants_aws_account_id"))
        batch.drop_column("aws_account_id")
    op.drop_table("aws_accounts")
