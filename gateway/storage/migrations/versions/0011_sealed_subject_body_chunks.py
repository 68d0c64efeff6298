"""large bodies in sealed chunks, and the subject sealed

Revision ID: 0011
Revises: 0012
Create Date: 2026-12-05 14:00:00.000000

The subjects already stored stay in clear in `messages.subject` until the `reseal` task moves
them to `sealed_subject` (a migration has no key to seal them with).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_subject", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("message_bodies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chunks", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "message_body_chunks",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message_bodies.message_id"],
            name=op.f("fk_message_body_chunks_message_id_message_bodies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "number", name=op.f("pk_message_body_chunks")),
    )


def downgrade() -> None:
    op.drop_table("message_body_chunks")
    with op.batch_alter_table("message_bodies", schema=None) as batch_op:
        batch_op.drop_column("chunks")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("sealed_subject")
