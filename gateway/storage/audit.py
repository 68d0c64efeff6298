"""The audit log: changes made by people and API keys, as activity events with an actor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from gateway.storage.database import Database
from gateway.storage.models import Activity


async def record_change(
    db: Database,
    actor: str,
    client_address: str | None,
    tenant_id: int | None,
    kind: str,
    subject: str,
    detail: str,
    now: datetime,
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(Activity).values(
                tenant_id=tenant_id,
                kind=kind,
                subject=subject[:320],
                detail=detail,
                created_at=now,
                actor=actor[:320],
                client_address=client_address[:64] if client_address else None,
            )
        )
