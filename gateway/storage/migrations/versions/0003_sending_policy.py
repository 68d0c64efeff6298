"""sending policy

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:21:56.037988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_failures")),
    )
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_auth_failures_client_time", ["client_address", "created_at"], unique=False
        )

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_suppressions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_suppressions_address_tenant", ["address", "tenant_id"], unique=False
        )

    op.create_table(
        "trusted_networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_trusted_networks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_networks")),
        sa.UniqueConstraint("cidr", name=op.f("uq_trusted_networks_cidr")),
    )
    with op.batch_alter_table("trusted_networks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trusted_networks_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "usage",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_usage")),
    )
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("credential_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_refusals_credential_id_credentials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_refusals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusals")),
    )
    with op.batch_alter_table("refusals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refusals_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refusals_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_refusals_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("allowed_senders", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("max_per_second", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_per_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_recipients", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_connections", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("max_size")
        batch_op.drop_column("max_connections")
        batch_op.drop_column("max_recipients")
        batch_op.drop_column("max_per_day")
        batch_op.drop_column("max_per_second")
        batch_op.drop_column("paused_reason")

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("allowed_senders")
        batch_op.drop_column("paused_reason")

    with op.batch_alter_table("refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refusals_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_refusals_rule"))
        batch_op.drop_index(batch_op.f("ix_refusals_created_at"))

    op.drop_table("refusals")
    op.drop_table("usage")
    with op.batch_alter_table("trusted_networks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_networks_tenant_id"))

    op.drop_table("trusted_networks")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_address_tenant")

    op.drop_table("suppressions")
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_failures_client_time")

    op.drop_table("auth_failures")
