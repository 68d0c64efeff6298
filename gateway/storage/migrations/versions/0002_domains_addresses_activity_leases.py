"""domains addresses activity leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:03:37.608253
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.storage.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_activity_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("display_name", sa.String(length=253), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("dkim_mode", sa.String(length=16), nullable=False),
        sa.Column("dkim_selector", sa.String(length=63), nullable=True),
        sa.Column("dkim_private_key", sa.Text(), nullable=True),
        sa.Column("dkim_public_key", sa.Text(), nullable=True),
        sa.Column("restrict_to_addresses", sa.Boolean(), nullable=False),
        sa.Column("verified_for_sending", sa.Boolean(), nullable=False),
        sa.Column("verification_status", sa.String(length=32), nullable=False),
        sa.Column("dkim_status", sa.String(length=32), nullable=True),
        sa.Column("dkim_tokens", sa.JSON(), nullable=False),
        sa.Column("signing_origin", sa.String(length=32), nullable=True),
        sa.Column("signing_hosted_zone", sa.String(length=253), nullable=True),
        sa.Column("mail_from_domain", sa.String(length=253), nullable=True),
        sa.Column("mail_from_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("verified_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.Column("checked_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.Column("next_check_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_domains_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("name", name=op.f("uq_domains_name")),
    )
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domains_next_check_at"), ["next_check_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_domains_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("ses_identity", sa.Boolean(), nullable=False),
        sa.Column("verified_for_sending", sa.Boolean(), nullable=False),
        sa.Column("verification_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", gateway.storage.models.UTCDateTime(), nullable=False),
        sa.Column("checked_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.Column("next_check_at", gateway.storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
            name=op.f("fk_addresses_domain_id_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_addresses_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_addresses_address")),
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_addresses_domain_id"), ["domain_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_addresses_next_check_at"), ["next_check_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_addresses_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_addresses_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_addresses_next_check_at"))
        batch_op.drop_index(batch_op.f("ix_addresses_domain_id"))

    op.drop_table("addresses")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domains_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_domains_next_check_at"))

    op.drop_table("domains")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_activity_created_at"))

    op.drop_table("activity")
    op.drop_table("leases")
