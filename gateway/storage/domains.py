"""Sending domains and their listed addresses, as stored: the rows `gateway.domains` manages.

A domain's change and the activity it records are written in one transaction (`update_domain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.changes import Change, Topic
from gateway.core.types.domains import AddressInfo, DomainInfo, IdentityState
from gateway.storage.activity import add_activity
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import Address, Domain, Tenant


def state_columns(state: IdentityState) -> dict[str, Any]:
    return {
        "verified_for_sending": state.verified_for_sending,
        "verification_status": state.verification_status,
        "dkim_status": state.dkim_status,
        "dkim_tokens": list(state.dkim_tokens),
        "signing_origin": state.signing_origin,
        "signing_hosted_zone": state.signing_hosted_zone,
        "mail_from_domain": state.mail_from_domain,
        "mail_from_status": state.mail_from_status,
    }


def _domains() -> Select[Any]:
    return select(Domain.__table__, Tenant.name.label("tenant_name")).join(
        Tenant, Tenant.id == Domain.tenant_id
    )


def _domain(row: Any) -> DomainInfo:
    d = row._mapping
    state = IdentityState(
        d["verified_for_sending"],
        d["verification_status"],
        d["dkim_status"],
        tuple(d["dkim_tokens"] or ()),
        d["signing_origin"],
        d["signing_hosted_zone"],
        d["mail_from_domain"],
        d["mail_from_status"],
    )
    return DomainInfo(
        d["id"],
        d["tenant_name"],
        d["name"],
        d["display_name"],
        d["region"],
        d["dkim_mode"],
        d["dkim_selector"],
        d["dkim_public_key"],
        d["restrict_to_addresses"],
        state,
        d["created_at"],
        d["verified_at"],
        d["checked_at"],
        d["next_check_at"],
        open_tracking=d["open_tracking"],
        click_tracking=d["click_tracking"],
        unsubscribe=d["unsubscribe"],
        tracking_host=d["tracking_host"],
    )


async def _announce(db: Database, conn: AsyncConnection, domain: str | None) -> None:
    """The sender facts of `domain` (and of its subdomains) changed."""
    await announce(db, conn, Change(Topic.SENDER, domain or ""))


async def _name(conn: AsyncConnection, domain_id: int) -> str | None:
    return (await conn.execute(select(Domain.name).where(Domain.id == domain_id))).scalar()


async def _name_of_address(conn: AsyncConnection, address_id: int) -> str | None:
    query = select(Domain.name).join(Address, Address.domain_id == Domain.id)
    return (await conn.execute(query.where(Address.id == address_id))).scalar()


async def insert_domain(db: Database, tenant_id: int, values: dict[str, Any]) -> None:
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Domain).values(tenant_id=tenant_id, **values))
            await _announce(db, conn, values["name"])
    except IntegrityError as exc:
        raise ConflictError(f"domain {values['name']} is already registered") from exc


async def find_domain(db: Database, name: str) -> DomainInfo | None:
    async with db.read() as conn:
        row = (await conn.execute(_domains().where(Domain.name == name))).first()
    return None if row is None else _domain(row)


async def get_domain(db: Database, name: str) -> DomainInfo:
    found = await find_domain(db, name)
    if found is None:
        raise NotFoundError(f"no domain {name}")
    return found


async def private_key(db: Database, domain_id: int) -> str | None:
    async with db.read() as conn:
        return (
            await conn.execute(select(Domain.dkim_private_key).where(Domain.id == domain_id))
        ).scalar_one_or_none()


async def list_domains(db: Database, tenant: str | None = None) -> list[DomainInfo]:
    query = _domains().order_by(Domain.name)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    async with db.read() as conn:
        return [_domain(row) for row in await conn.execute(query)]


async def due_domains(db: Database, now: datetime) -> list[DomainInfo]:
    query = _domains().where(Domain.next_check_at.is_not(None), Domain.next_check_at <= now)
    async with db.read() as conn:
        return [_domain(row) for row in await conn.execute(query.order_by(Domain.next_check_at))]


STATUS_COLUMNS = ("verified_for_sending", "verification_status", "dkim_status", "mail_from_status")
"""What the events about a domain describe (`gateway.domains.identities.changes`)."""


async def update_domain(
    db: Database,
    domain_id: int,
    activity: Sequence[tuple[int | None, str, str, str, bool]] = (),
    now: datetime | None = None,
    was: IdentityState | None = None,
    **values: Any,
) -> bool:
    """Change the domain and record `activity` (tenant, kind, subject, detail, notify) at `now`,
    in one transaction: the events and the state they describe are never apart. With `was`,
    only while the domain's statuses are still those (the change was worked out from them):
    another instance that stored the same change first has recorded its events; False then."""
    state = values.pop("state", None)
    if state is not None:
        values.update(state_columns(state))
    where = [Domain.id == domain_id]
    if was is not None:
        before = state_columns(was)
        where += [getattr(Domain, name) == before[name] for name in STATUS_COLUMNS]
    async with db.begin() as conn:
        changed = await conn.execute(update(Domain).where(*where).values(**values))
        if not changed.rowcount:
            return False
        for tenant_id, kind, subject, detail, notify in activity:
            await add_activity(conn, tenant_id, kind, subject, detail, now, notify)
        await _announce(db, conn, await _name(conn, domain_id))
    return True


async def delete_domain(db: Database, domain_id: int) -> None:
    async with db.begin() as conn:
        await _announce(db, conn, await _name(conn, domain_id))
        await conn.execute(delete(Domain).where(Domain.id == domain_id))


def _addresses() -> Select[int, str, str, str, bool, bool, str | None, datetime]:
    return (
        select(
            Address.id,
            Tenant.name,
            Domain.name,
            Address.address,
            Address.ses_identity,
            Address.verified_for_sending,
            Address.verification_status,
            Address.created_at,
        )
        .join(Tenant, Tenant.id == Address.tenant_id)
        .join(Domain, Domain.id == Address.domain_id)
    )


async def insert_address(
    db: Database, domain: DomainInfo, tenant_id: int, values: dict[str, Any]
) -> None:
    try:
        async with db.begin() as conn:
            await conn.execute(
                insert(Address).values(domain_id=domain.id, tenant_id=tenant_id, **values)
            )
            await _announce(db, conn, domain.name)
    except IntegrityError as exc:
        raise ConflictError(f"address {values['address']} is already registered") from exc


async def find_address(db: Database, address: str) -> AddressInfo | None:
    async with db.read() as conn:
        row = (await conn.execute(_addresses().where(Address.address == address))).first()
    return None if row is None else AddressInfo(*row)


async def list_addresses(
    db: Database, tenant: str | None = None, domain: str | None = None
) -> list[AddressInfo]:
    query = _addresses().order_by(Address.address)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    if domain is not None:
        query = query.where(Domain.name == domain)
    async with db.read() as conn:
        return [AddressInfo(*row) for row in await conn.execute(query)]


async def due_addresses(db: Database, now: datetime) -> list[AddressInfo]:
    query = _addresses().where(
        Address.ses_identity.is_(True),
        Address.next_check_at.is_not(None),
        Address.next_check_at <= now,
    )
    async with db.read() as conn:
        return [AddressInfo(*row) for row in await conn.execute(query)]


async def update_address(db: Database, address_id: int, **values: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(update(Address).where(Address.id == address_id).values(**values))
        await _announce(db, conn, await _name_of_address(conn, address_id))


async def delete_address(db: Database, address_id: int) -> None:
    async with db.begin() as conn:
        await _announce(db, conn, await _name_of_address(conn, address_id))
        await conn.execute(delete(Address).where(Address.id == address_id))
