"""Failed SMTP logins, counted per client address across every instance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select

from gateway.storage.database import Database
from gateway.storage.models import Activity, AuthFailure


async def record_failure(db: Database, client: str, username: str, now: datetime) -> None:
    """The failure (never the password), also as an `auth.failed` activity event."""
    async with db.begin() as conn:
        await conn.execute(
            insert(AuthFailure).values(client_address=client, username=username, created_at=now)
        )
        await conn.execute(
            insert(Activity).values(
                tenant_id=None,
                kind="auth.failed",
                subject=client,
                detail=f"failed SMTP login as {username!r}",
                created_at=now,
            )
        )


async def failures_since(db: Database, client: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures from `client` since then, and the latest one's time."""
    query = select(func.count(), func.max(AuthFailure.created_at)).where(
        AuthFailure.client_address == client, AuthFailure.created_at >= since
    )
    async with db.read() as conn:
        count, latest = (await conn.execute(query)).one()
    return int(count), latest


async def purge_failures(db: Database, before: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(delete(AuthFailure).where(AuthFailure.created_at < before))
