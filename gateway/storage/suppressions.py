"""The suppression list: addresses that must not be mailed, for one tenant or for all.

Addresses arrive here normalized (`gateway.suppressions.normalize_address`); an entry is one
address in one scope (a tenant, or global: `tenant_id` NULL). Adding the same address in the
same scope again replaces the entry; with `keep_longer` (auto-suppression) only an entry that
ends sooner is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, insert, or_, select, text, update

from gateway.storage.database import Database
from gateway.storage.models import Suppression, Tenant
from gateway.types import SuppressionInfo

_COLUMNS = (
    Suppression.id,
    Tenant.name,
    Suppression.address,
    Suppression.reason,
    Suppression.detail,
    Suppression.created_at,
    Suppression.expires_at,
)


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry to add: `tenant_id` None for every tenant."""

    address: str
    tenant_id: int | None
    reason: str
    detail: str
    created_at: datetime
    expires_at: datetime | None = None


_SELECT = select(*_COLUMNS).outerjoin(Tenant, Tenant.id == Suppression.tenant_id)


def _scope(tenant_id: int | None) -> ColumnElement[bool]:
    if tenant_id is None:
        return Suppression.tenant_id.is_(None)
    return Suppression.tenant_id == tenant_id


def _ends_before(expires_at: datetime | None) -> ColumnElement[bool]:
    """Entries that end before `expires_at` (None: never ends)."""
    if expires_at is None:
        return Suppression.expires_at.is_not(None)
    return Suppression.expires_at < expires_at


async def add(db: Database, entries: list[Entry], *, keep_longer: bool = False) -> tuple[int, int]:
    """Add or replace entries in one transaction; return (added, updated). With `keep_longer`
    an entry already there is replaced only if it ends sooner (a permanent one never is)."""
    added = updated = 0
    async with db.begin() as conn:
        if not db.is_sqlite:
            # No unique key can cover a NULL scope: two instances adding the same new address at
            # once would both insert. A lock per address (SQLite has one writer anyway) stops it.
            for address in sorted({e.address for e in entries}):
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"suppression:{address}"},
                )
        for entry in entries:
            values = {
                "reason": entry.reason,
                "detail": entry.detail,
                "created_at": entry.created_at,
                "expires_at": entry.expires_at,
            }
            same = (Suppression.address == entry.address, _scope(entry.tenant_id))
            replaceable = (*same, _ends_before(entry.expires_at)) if keep_longer else same
            result = await conn.execute(update(Suppression).where(*replaceable).values(**values))
            if result.rowcount:
                updated += 1
            elif keep_longer and (await conn.execute(select(Suppression.id).where(*same))).first():
                continue  # there already, for at least as long
            else:
                await conn.execute(
                    insert(Suppression).values(
                        address=entry.address, tenant_id=entry.tenant_id, **values
                    )
                )
                added += 1
    return added, updated


async def remove(db: Database, address: str, tenant_id: int | None) -> int:
    """Remove the entry of `address` in that scope; return how many rows went (0 or 1)."""
    async with db.begin() as conn:
        result = await conn.execute(
            delete(Suppression).where(Suppression.address == address, _scope(tenant_id))
        )
    return result.rowcount


async def get(db: Database, address: str, tenant_id: int | None) -> SuppressionInfo | None:
    """The entry of `address` in exactly that scope, expired or not."""
    async with db.read() as conn:
        row = (
            await conn.execute(_SELECT.where(Suppression.address == address, _scope(tenant_id)))
        ).first()
    return None if row is None else SuppressionInfo(*row)


async def list_suppressions(
    db: Database,
    tenant_id: int | None = None,
    *,
    global_only: bool = False,
    reason: str | None = None,
    contains: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SuppressionInfo]:
    """Entries by address: all, one tenant's (`tenant_id`) or the global ones (`global_only`)."""
    query = _SELECT.order_by(Suppression.address, Tenant.name.nulls_first(), Suppression.id)
    if global_only:
        query = query.where(Suppression.tenant_id.is_(None))
    elif tenant_id is not None:
        query = query.where(Suppression.tenant_id == tenant_id)
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    if contains:
        escaped = contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Suppression.address.like(f"%{escaped}%", escape="\\"))
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    async with db.read() as conn:
        return [SuppressionInfo(*row) for row in await conn.execute(query)]


async def suppressed(
    db: Database, tenant_id: int, address: str, now: datetime
) -> SuppressionInfo | None:
    """The entry in force for `address` (normalized) when `tenant_id` sends to it, if any: the
    tenant's own before a global one, ignoring expired entries."""
    query = (
        _SELECT.where(
            Suppression.address == address,
            or_(Suppression.tenant_id == tenant_id, Suppression.tenant_id.is_(None)),
            or_(Suppression.expires_at.is_(None), Suppression.expires_at > now),
        )
        .order_by(Suppression.tenant_id.is_(None), Suppression.created_at.desc())
        .limit(1)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else SuppressionInfo(*row)
