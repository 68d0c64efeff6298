"""Tenants' message templates as stored: one per name and tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.storage.database import Database
from gateway.storage.models import MessageTemplate, Tenant


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    id: int
    tenant: str
    name: str
    subject: str
    html: str
    text: str | None
    """None: made from the HTML when rendered."""
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    MessageTemplate.id,
    Tenant.name,
    MessageTemplate.name,
    MessageTemplate.subject,
    MessageTemplate.html,
    MessageTemplate.text,
    MessageTemplate.created_at,
    MessageTemplate.updated_at,
)


def _query() -> Any:
    return select(*_COLUMNS).join(Tenant, Tenant.id == MessageTemplate.tenant_id)


async def add_template(
    db: Database,
    tenant_id: int,
    name: str,
    subject: str,
    html: str,
    text: str | None,
    now: datetime,
) -> int:
    """The new template's id; `ConflictError` if the tenant has one of that name."""
    values = {"name": name, "subject": subject, "html": html, "text": text}
    try:
        async with db.begin() as conn:
            result = await conn.execute(
                insert(MessageTemplate)
                .values(tenant_id=tenant_id, created_at=now, updated_at=now, **values)
                .returning(MessageTemplate.id)
            )
            return int(result.scalar_one())
    except IntegrityError as exc:
        raise ConflictError(f"a template named {name!r} exists already") from exc


async def list_templates(db: Database, tenant: str | None = None) -> list[TemplateInfo]:
    """The templates of `tenant` (None: every tenant's), by tenant and name."""
    query = _query().order_by(Tenant.name, MessageTemplate.name)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    async with db.read() as conn:
        return [TemplateInfo(*row) for row in await conn.execute(query)]


async def get_template(db: Database, template_id: int) -> TemplateInfo:
    async with db.read() as conn:
        row = (await conn.execute(_query().where(MessageTemplate.id == template_id))).first()
    if row is None:
        raise NotFoundError(f"no template {template_id}")
    return TemplateInfo(*row)


async def find_template(db: Database, tenant: str, name: str) -> TemplateInfo:
    """The tenant's template named `name`."""
    query = _query().where(Tenant.name == tenant, MessageTemplate.name == name)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no template named {name!r} in tenant {tenant}")
    return TemplateInfo(*row)


async def update_template(
    db: Database,
    template_id: int,
    now: datetime,
    **changes: str | None,
) -> None:
    """Set some of `name`, `subject`, `html`, `text` (None: made from the HTML)."""
    try:
        async with db.begin() as conn:
            result = await conn.execute(
                update(MessageTemplate)
                .where(MessageTemplate.id == template_id)
                .values(updated_at=now, **changes)
            )
    except IntegrityError as exc:
        raise ConflictError(f"a template named {changes.get('name')!r} exists already") from exc
    if not result.rowcount:
        raise NotFoundError(f"no template {template_id}")


async def delete_template(db: Database, template_id: int) -> None:
    async with db.begin() as conn:
        result = await conn.execute(
            delete(MessageTemplate).where(MessageTemplate.id == template_id)
        )
    if not result.rowcount:
        raise NotFoundError(f"no template {template_id}")
