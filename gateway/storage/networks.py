"""Trusted networks: clients in them send without AUTH, as the network's tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.changes import Change, Topic
from gateway.core.types.tenants import NetworkInfo
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import Tenant, TrustedNetwork


async def add_network(db: Database, tenant_id: int, cidr: str, now: datetime) -> None:
    try:
        async with db.begin() as conn:
            await conn.execute(
                insert(TrustedNetwork).values(tenant_id=tenant_id, cidr=cidr, created_at=now)
            )
            await announce(db, conn, Change(Topic.NETWORK))
    except IntegrityError as exc:
        raise ConflictError(f"network {cidr} is already trusted") from exc


async def list_networks(db: Database, tenant: str | None = None) -> list[NetworkInfo]:
    query = (
        select(
            TrustedNetwork.id,
            Tenant.id,
            Tenant.name,
            TrustedNetwork.cidr,
            TrustedNetwork.created_at,
        )
        .join(Tenant, Tenant.id == TrustedNetwork.tenant_id)
        .order_by(TrustedNetwork.cidr)
    )
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    async with db.read() as conn:
        return [NetworkInfo(*row) for row in await conn.execute(query)]


async def remove_network(db: Database, cidr: str) -> None:
    async with db.begin() as conn:
        result = await conn.execute(delete(TrustedNetwork).where(TrustedNetwork.cidr == cidr))
        await announce(db, conn, Change(Topic.NETWORK))
    if not result.rowcount:
        raise NotFoundError(f"network {cidr} is not trusted")
