"""sns setups per AWS account

Revision ID: 0019
Revises: 0022
Create Date: 2026-12-05 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What was set up so far was set up in the process's own account, `default`.
    with op.batch_alter_table("sns_setups", recreate="always") as batch:
        batch.add_column(
            sa.Column(
                "aws_account",
                sa.String(length=64),
                nullable=False,
                server_default="default",
            )
        )
        batch.drop_constraint(op.f("pk_sns_setups"), type_="primary")
        batch.create_primary_key(op.f("pk_sns_setups"), ["aws_account", "configuration_set"])


def downgrade() -> None:
    op.execute("DELETE FROM sns_setups WHERE aws_account <> 'default'")
    with op.batch_alter_table("sns_setups", recreate="always") as batch:
        batch.drop_constraint(op.f("pk_sns_setups"), type_="primary")
        batch.drop_column("aws_account")
        batch.create_primary_key(op.f("pk_sns_setups"), ["configuration_set"])
