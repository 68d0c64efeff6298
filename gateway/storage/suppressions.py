"""The suppression list: addresses that must not be mailed, for one tenant or for all.

Addresses arrive here normalized (`gateway.suppressions.normalize_address`); an entry is one
address in one scope (a tenant, or global: `tenant_id` NULL). Adding the same address in the
same scope again replaces the entry; with `keep_longer` (auto-suppression) only an entry that
ends sooner is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, insert, or_, select, text, update

from gateway.core.types.changes import Change, Topic
from gateway.core.types.events import SuppressionInfo
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import Suppression, Tenant
from gateway.storage.pages import newest_first, page

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
        await announce(db, conn, *_changes(entries))
    return added, updated


FEW = 10
"""Up to this many addresses changed at once are announced one by one; more (an import) as one
change of them all, which drops every cached lookup."""


def _changes(entries: list[Entry]) -> list[Change]:
    addresses = sorted({e.address for e in entries})
    if len(addresses) > FEW:
        return [Change(Topic.SUPPRESSION)]
    return [Change(Topic.SUPPRESSION, address) for address in addresses]


async def remove(db: Database, address: str, tenant_id: int | None) -> int:
    """Remove the entry of `address` in that scope; return how many rows went (0 or 1)."""
    async with db.begin() as conn:
        result = await conn.execute(
            delete(Suppression).where(Suppression.address == address, _scope(tenant_id))
        )
        await announce(db, conn, Change(Topic.SUPPRESSION, address))
    return result.rowcount


async def get(db: Database, address: str, tenant_id: int | None) -> SuppressionInfo | None:
    """The entry of `address` in exactly that scope, expired or not."""
    async with db.read() as conn:
        row = (
            await conn.execute(_SELECT.where(Suppression.address == address, _scope(tenant_id)))
        ).first()
    return None if row is None else SuppressionInfo(*row)


SCOPES = ("all", "tenant", "global")


@dataclass(frozen=True, slots=True)
class Search:
    """Which entries to list. `scope`: `global` the entries for every tenant; `tenant` those of
    tenant `tenant_id` (None: of any tenant); `all` both (with `tenant_id`: every entry that
    applies to that tenant). `contains` is matched in the address, `since` and `until` on
    `created_at` (`until` excluded)."""

    tenant_id: int | None = None
    scope: str = "all"
    reason: str | None = None
    contains: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(query: Select[*tuple[Any, ...]], search: Search) -> Select[*tuple[Any, ...]]:
    owner = Suppression.tenant_id
    if search.scope == "global":
        query = query.where(owner.is_(None))
    elif search.scope == "tenant":
        tenant = owner.is_not(None) if search.tenant_id is None else owner == search.tenant_id
        query = query.where(tenant)
    elif search.tenant_id is not None:
        query = query.where(or_(owner == search.tenant_id, owner.is_(None)))
    if search.reason is not None:
        query = query.where(Suppression.reason == search.reason)
    if search.contains:
        needle = search.contains.lower()
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Suppression.address.like(f"%{escaped}%", escape="\\"))
    if search.since is not None:
        query = query.where(Suppression.created_at >= search.since)
    if search.until is not None:
        query = query.where(Suppression.created_at < search.until)
    return query


async def list_suppressions(
    db: Database, search: Search = Search(), limit: int | None = None, offset: int = 0
) -> list[SuppressionInfo]:
    """The entries `search` finds, by address."""
    query = _where(_SELECT, search).order_by(
        Suppression.address, Tenant.name.nulls_first(), Suppression.id
    )
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    async with db.read() as conn:
        return [SuppressionInfo(*row) for row in await conn.execute(query)]


async def recent_suppressions(
    db: Database, search: Search, limit: int, cursor: str | None = None
) -> tuple[list[SuppressionInfo], str | None]:
    """A page of the entries `search` finds, newest first, and the cursor of the next page."""
    query = newest_first(
        _where(_SELECT, search), Suppression.created_at, Suppression.id, limit, cursor
    )
    async with db.read() as conn:
        rows = [SuppressionInfo(*row) for row in await conn.execute(query)]
    return page(rows, limit, lambda e: (e.created_at, e.id))


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
