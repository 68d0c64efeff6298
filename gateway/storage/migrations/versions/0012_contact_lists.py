"""contact lists, contacts, CSV imports with their staged rows and invalid rows

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-05 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gateway.storage.models

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC_DATETIME = gateway.storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "contact_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_lists_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_lists")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_contact_lists_tenant_id_name")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("fields", FIELDS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unsubscribed_at", UTC_DATETIME(), nullable=True),
        sa.Column("unsubscribed_how", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_lists.id"],
            name=op.f("fk_contacts_list_id_contact_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("list_id", "email", name=op.f("uq_contacts_list_id_email")),
    )
    op.create_index(
        "ix_contacts_list_created", "contacts", ["list_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "contact_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("finished_at", UTC_DATETIME(), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_lists.id"],
            name=op.f("fk_contact_imports_list_id_contact_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_imports_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_imports")),
    )
    op.create_index(
        op.f("ix_contact_imports_list_id"), "contact_imports", ["list_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_imports_tenant_id"), "contact_imports", ["tenant_id"], unique=False
    )
    op.create_table(
        "contact_import_rows",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_import_rows_import_id_contact_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "email", name=op.f("pk_contact_import_rows")),
    )
    op.create_table(
        "contact_import_errors",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name=op.f("fk_contact_import_errors_import_id_contact_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_contact_import_errors")),
    )


def downgrade() -> None:
    op.drop_table("contact_import_errors")
    op.drop_table("contact_import_rows")
    op.drop_index(op.f("ix_contact_imports_tenant_id"), table_name="contact_imports")
    op.drop_index(op.f("ix_contact_imports_list_id"), table_name="contact_imports")
    op.drop_table("contact_imports")
    op.drop_index("ix_contacts_list_created", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("contact_lists")
