"""Sending domains and addresses, the activity log, and leases for singleton jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.activity import ActivityEvent
from gateway.core.types.domains import AddressInfo, DomainInfo, IdentityState
from gateway.core.types.tenants import SenderFacts
from gateway.storage.database import Database
from gateway.storage.models import Activity, Address, Domain, Lease, Notification, Tenant

GATEWAY_ACTOR = "gateway"
"""The actor of the events the gateway records itself (stored as NULL)."""


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


async def insert_domain(db: Database, tenant_id: int, values: dict[str, Any]) -> None:
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Domain).values(tenant_id=tenant_id, **values))
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


async def update_domain(
    db: Database,
    domain_id: int,
    activity: Sequence[tuple[int | None, str, str, str, bool]] = (),
    now: datetime | None = None,
    **values: Any,
) -> None:
    """Change the domain and record `activity` (tenant, kind, subject, detail, notify) at `now`,
    in one transaction: the events and the state they describe are never apart."""
    state = values.pop("state", None)
    if state is not None:
        values.update(state_columns(state))
    async with db.begin() as conn:
        await conn.execute(update(Domain).where(Domain.id == domain_id).values(**values))
        for tenant_id, kind, subject, detail, notify in activity:
            await _add_activity(conn, tenant_id, kind, subject, detail, now, notify)


async def delete_domain(db: Database, domain_id: int) -> None:
    async with db.begin() as conn:
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


async def delete_address(db: Database, address_id: int) -> None:
    async with db.begin() as conn:
        await conn.execute(delete(Address).where(Address.id == address_id))


async def _add_activity(
    conn: AsyncConnection,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime | None,
    notify: bool,
) -> None:
    added = await conn.execute(
        insert(Activity)
        .values(tenant_id=tenant_id, kind=kind, subject=subject, detail=detail, created_at=now)
        .returning(Activity.id)
    )
    if notify:
        await conn.execute(insert(Notification).values(activity_id=added.scalar_one()))


async def record_activity(
    db: Database,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime,
    notify: bool = False,
) -> None:
    """Record the event; with `notify`, also raise it as an unread notification (together)."""
    async with db.begin() as conn:
        await _add_activity(conn, tenant_id, kind, subject, detail, now, notify)


async def pause_tenant(
    db: Database, tenant_id: int, reason: str, kind: str, subject: str, detail: str, now: datetime
) -> bool:
    """Pause the tenant unless it is paused already and, only if it was not, record the event
    and raise it as a notification, in one transaction; whether it paused."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id, Tenant.paused_reason.is_(None))
            .values(paused_reason=reason)
        )
        if not result.rowcount:
            return False
        await _add_activity(conn, tenant_id, kind, subject, detail, now, notify=True)
    return True


async def notify_once(
    db: Database,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime,
    within: timedelta,
) -> bool:
    """Record the event and raise it as a notification, unless the tenant (None: the gateway)
    had one of that kind about that subject within `within` before `now`: checked and written
    in one transaction, one at a time per tenant, kind and subject (several processes judge at
    once); whether it recorded."""
    async with db.begin() as conn:
        if not db.is_sqlite:  # SQLite's write lock already makes it one at a time
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"activity:{kind}:{tenant_id}:{subject}"},
            )
        recent = await conn.execute(
            select(Activity.id)
            .where(
                Activity.tenant_id.is_(None)
                if tenant_id is None
                else Activity.tenant_id == tenant_id,
                Activity.kind == kind,
                Activity.subject == subject,
                Activity.created_at > now - within,
            )
            .limit(1)
        )
        if recent.first() is not None:
            return False
        await _add_activity(conn, tenant_id, kind, subject, detail, now, notify=True)
    return True


async def list_activity(
    db: Database,
    tenant: str | None = None,
    kinds: Sequence[str] = (),
    limit: int = 100,
    *,
    kind: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
) -> list[ActivityEvent]:
    """Newest first. A tenant filter leaves out the events of no tenant; `kind` matches itself
    and the kinds under it (`domain` matches `domain.verified`); `actor` `gateway`
    (`GATEWAY_ACTOR`) matches the gateway's own events; `before` an id: the page after it."""
    query = (
        select(
            Activity.id,
            Tenant.name,
            Activity.kind,
            Activity.subject,
            Activity.detail,
            Activity.created_at,
            Activity.actor,
            Activity.client_address,
        )
        .outerjoin(Tenant, Tenant.id == Activity.tenant_id)
        .order_by(Activity.id.desc())
        .limit(limit)
    )
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    if kinds:
        query = query.where(Activity.kind.in_(kinds))
    if kind:
        query = query.where(
            or_(Activity.kind == kind, Activity.kind.startswith(f"{kind}.", autoescape=True))
        )
    if actor:
        query = query.where(
            Activity.actor.is_(None) if actor == GATEWAY_ACTOR else Activity.actor == actor
        )
    if since is not None:
        query = query.where(Activity.created_at >= since)
    if until is not None:
        query = query.where(Activity.created_at < until)
    if before is not None:
        query = query.where(Activity.id < before)
    async with db.read() as conn:
        return [ActivityEvent(*row) for row in await conn.execute(query)]


async def acquire_lease(
    db: Database, name: str, owner: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the named lease; False while another owner holds it unexpired."""
    async with db.begin() as conn:
        taken = await conn.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
        )
        if taken.rowcount:
            return True
        exists = (await conn.execute(select(Lease.name).where(Lease.name == name))).first()
        if exists is not None:
            return False
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Lease).values(name=name, owner=owner, expires_at=until))
    except IntegrityError:
        return False
    return True


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


async def sender_facts(db: Database, address: str) -> SenderFacts:
    """The sending domain (the address's, or the nearest parent's) and listed address."""
    domain = address.rpartition("@")[2].lower()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    Domain.id,
                    Domain.tenant_id,
                    Domain.name,
                    Domain.verified_for_sending,
                    Domain.restrict_to_addresses,
                ).where(Domain.name.in_(_parents(domain)))
            )
        ).all()
        if not rows:
            return SenderFacts(address)
        domain_id, owner, name, verified, restricted = max(rows, key=lambda r: len(r[2]))
        listed = (
            await conn.execute(
                select(Address.verified_for_sending).where(
                    Address.domain_id == domain_id,
                    func.lower(Address.address) == address.lower(),
                )
            )
        ).first()
    return SenderFacts(
        address,
        owner,
        name,
        verified,
        restricted,
        address_listed=listed is not None,
        address_verified=bool(listed and listed[0]),
    )
