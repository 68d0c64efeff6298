"""The list each campaign recipient was made from, for figures per list

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-05 16:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Recipients made before this revision have none: they count in no list's figures.
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.add_column(sa.Column("list_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_campaign_recipients_list_id"), ["list_id"], unique=False)
        batch.create_foreign_key(
            op.f("fk_campaign_recipients_list_id_contact_lists"),
            "contact_lists",
            ["list_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_recipients") as batch:
        batch.drop_constraint(
            op.f("fk_campaign_recipients_list_id_contact_lists"), type_="foreignkey"
        )
        batch.drop_index(op.f("ix_campaign_recipients_list_id"))
        batch.drop_column("list_id")
