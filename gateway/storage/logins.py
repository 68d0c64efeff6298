"""Failed logins, counted across every instance: SMTP AUTH per client address, the admin
panel's per client address and per account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.types.changes import Change, Topic
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import Activity, AuthFailure

_SERVICES = {"smtp": "SMTP login", "web": "admin panel login", "api": "API key"}


async def record_failure(
    db: Database, client: str, username: str, now: datetime, service: str = "smtp"
) -> None:
    """The failure (never the password), also as an `auth.failed` activity event; announced,
    so that every instance's lockout counts it at once."""
    async with db.begin() as conn:
        await conn.execute(
            insert(AuthFailure).values(
                client_address=client, username=username[:255], created_at=now, service=service
            )
        )
        await _failure_activity(conn, client, username, now, service)
        await announce(db, conn, Change(Topic.LOGIN, f"{service} {client} {username[:255]}"))


async def _failure_activity(
    conn: AsyncConnection, client: str, username: str, now: datetime, service: str
) -> None:
    await conn.execute(
        insert(Activity).values(
            tenant_id=None,
            kind="auth.failed",
            subject=client,
            detail=f"failed {_SERVICES[service]} as {username[:255]!r}",
            created_at=now,
        )
    )


async def failures_since(
    db: Database,
    since: datetime,
    *,
    client: str | None = None,
    username: str | None = None,
    service: str = "smtp",
) -> tuple[int, datetime | None]:
    """How many failures of the service since then, from `client` and/or as `username`, and the
    latest one's time."""
    query = select(func.count(), func.max(AuthFailure.created_at)).where(
        AuthFailure.service == service, AuthFailure.created_at >= since
    )
    if client is not None:
        query = query.where(AuthFailure.client_address == client)
    if username is not None:
        query = query.where(AuthFailure.username == username)
    async with db.read() as conn:
        count, latest = (await conn.execute(query)).one()
    return int(count), latest


async def purge_failures(db: Database, before: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(delete(AuthFailure).where(AuthFailure.created_at < before))
