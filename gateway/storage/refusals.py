"""Refused commands, recorded for the admin panel and API to list and count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select

from gateway.core.types.tenants import RefusalRecord
from gateway.storage.database import Database
from gateway.storage.models import Refusal, Tenant


async def record_refusals(db: Database, refusals: Sequence[RefusalRecord]) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(Refusal),
            [
                {
                    "tenant_id": r.tenant_id,
                    "credential_id": r.credential_id,
                    "rule": r.rule,
                    "sender": r.sender,
                    "recipient": r.recipient,
                    "client_address": r.client_address,
                    "reply": r.reply,
                    "created_at": r.created_at,
                }
                for r in refusals
            ],
        )


async def count_refusals(
    db: Database, tenant: str | None = None, since: datetime | None = None
) -> dict[str, int]:
    """Refusals per rule."""
    query = select(Refusal.rule, func.count()).group_by(Refusal.rule)
    if tenant is not None:
        query = query.join(Tenant, Tenant.id == Refusal.tenant_id).where(Tenant.name == tenant)
    if since is not None:
        query = query.where(Refusal.created_at >= since)
    async with db.read() as conn:
        return {str(rule): int(count) for rule, count in await conn.execute(query)}
