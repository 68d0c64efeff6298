"""Webhooks as stored: the tenants' endpoints, one delivery per event and endpoint, and every
attempt made to POST it.

A delivery is claimed with a lease (`lease_owner`, `lease_until`) like a message of the queue:
on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several processes never take the same one; on
SQLite every transaction takes the write lock first. A process that dies leaves its leases to
expire, and the deliveries are claimed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.core.exceptions import NotFoundError
from gateway.core.types.changes import Change, Topic
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.leases import DueRows, lease_due
from gateway.storage.models import Tenant, Webhook, WebhookAttempt, WebhookDelivery

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
PURGE_CHUNK = 5000
"""Deliveries deleted per transaction."""


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    id: int
    tenant: str
    url: str
    events: tuple[str, ...]
    """Empty: every event type."""
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased to one process for one attempt."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    """Encrypted with SECRET_KEY."""
    event_id: str
    event_type: str
    payload: str
    attempts: int
    """Including this one."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewAttempt:
    attempted_at: datetime
    status_code: int | None
    response: str
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    id: int
    delivery_id: int
    event_id: str
    event_type: str
    state: str
    """Of the delivery, now."""
    attempted_at: datetime
    status_code: int | None
    response: str
    error: str | None
    duration_ms: int


_WEBHOOKS = select(
    Webhook.id,
    Tenant.name,
    Webhook.url,
    Webhook.events,
    Webhook.created_at,
    Webhook.disabled_at,
    Webhook.disabled_reason,
).join(Tenant, Tenant.id == Webhook.tenant_id)


def _webhook(row: Any) -> WebhookInfo:
    values = list(row)
    values[3] = tuple(values[3])
    return WebhookInfo(*values)


async def insert_webhook(
    db: Database, tenant_id: int, url: str, events: Sequence[str], secret: str, now: datetime
) -> int:
    async with db.begin() as conn:
        result = await conn.execute(
            insert(Webhook)
            .values(
                tenant_id=tenant_id, url=url, events=list(events), secret=secret, created_at=now
            )
            .returning(Webhook.id)
        )
        webhook_id: int = result.scalar_one()
    return webhook_id


async def get_webhook(db: Database, webhook_id: int) -> WebhookInfo:
    async with db.read() as conn:
        row = (await conn.execute(_WEBHOOKS.where(Webhook.id == webhook_id))).first()
    if row is None:
        raise NotFoundError(f"no webhook {webhook_id}")
    return _webhook(row)


async def list_webhooks(db: Database, tenant: str | None = None) -> list[WebhookInfo]:
    query = _WEBHOOKS.order_by(Tenant.name, Webhook.id)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    async with db.read() as conn:
        return [_webhook(row) for row in await conn.execute(query)]


async def delete_webhook(db: Database, webhook_id: int) -> None:
    """Delete a webhook with its deliveries and their attempts."""
    async with db.begin() as conn:
        result = await conn.execute(delete(Webhook).where(Webhook.id == webhook_id))
    if result.rowcount == 0:
        raise NotFoundError(f"no webhook {webhook_id}")


async def subscribers(db: Database, tenant_id: int, event_type: str) -> tuple[str, list[int]]:
    """The tenant's name and its enabled webhooks that take `event_type`."""
    async with db.read() as conn:
        name = (await conn.execute(select(Tenant.name).where(Tenant.id == tenant_id))).scalar()
        rows = await conn.execute(
            select(Webhook.id, Webhook.events)
            .where(Webhook.tenant_id == tenant_id, Webhook.disabled_at.is_(None))
            .order_by(Webhook.id)
        )
        ids = [webhook_id for webhook_id, events in rows if not events or event_type in events]
    return name or "", ids


async def insert_deliveries(
    db: Database,
    webhook_ids: Sequence[int],
    event_id: str,
    event_type: str,
    payload: str,
    now: datetime,
    lease: tuple[str, datetime] | None = None,
) -> list[int]:
    """Queue `payload` for each webhook, due now; the ids of the deliveries made. A webhook that
    has a delivery of `event_id` already keeps it. With `lease` (owner, until), the new
    deliveries are claimed by `owner` at once, their first attempt counted."""
    if not webhook_ids:
        return []
    owner, until = lease if lease is not None else (None, None)
    upsert = sqlite_insert(WebhookDelivery) if db.is_sqlite else postgresql_insert(WebhookDelivery)
    statement = upsert.on_conflict_do_nothing(
        index_elements=[WebhookDelivery.webhook_id, WebhookDelivery.event_id]
    ).returning(WebhookDelivery.id)
    async with db.begin() as conn:
        made = []
        for webhook_id in webhook_ids:
            result = await conn.execute(
                statement.values(
                    webhook_id=webhook_id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=payload,
                    state=PENDING,
                    attempts=0 if lease is None else 1,
                    next_attempt_at=now,
                    lease_owner=owner,
                    lease_until=until,
                    created_at=now,
                )
            )
            made += list(result.scalars())
        if made and lease is None:  # due for any dispatcher (leased ones: for their owner)
            await announce(db, conn, Change(Topic.WEBHOOK))
    return made


_CLAIM_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.webhook_id,
    Webhook.url,
    Webhook.secret,
    WebhookDelivery.event_id,
    WebhookDelivery.event_type,
    WebhookDelivery.payload,
    WebhookDelivery.attempts,
    WebhookDelivery.created_at,
)
_DUE = DueRows(WebhookDelivery, WebhookDelivery.state == PENDING)


async def claimed(db: Database, delivery_ids: Sequence[int]) -> list[Claim]:
    """The deliveries `delivery_ids` as claims (for those made already leased)."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(*_CLAIM_COLUMNS)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .order_by(WebhookDelivery.id)
        )
        return [Claim(*row) for row in rows]


async def claim(
    db: Database, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[Claim]:
    """Lease up to `limit` due deliveries to `owner`, counting the attempt about to be made."""
    async with db.begin() as conn:
        ids = await lease_due(conn, db.is_sqlite, _DUE, owner, limit, now, lease_until)
        if not ids:
            return []
        rows = await conn.execute(
            select(*_CLAIM_COLUMNS)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.next_attempt_at)
        )
        return [Claim(*row) for row in rows]


async def record(
    db: Database,
    delivery_id: int,
    attempt: NewAttempt,
    state: str,
    next_attempt_at: datetime | None,
) -> None:
    """Store an attempt and what it leaves the delivery in: `state`, retried at
    `next_attempt_at` while pending; the lease is given back."""
    final = state != PENDING
    async with db.begin() as conn:
        await conn.execute(
            insert(WebhookAttempt).values(
                delivery_id=delivery_id,
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                response=attempt.response,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
        )
        values: dict[str, Any] = {"state": state, "lease_owner": None, "lease_until": None}
        if final:
            values["completed_at"] = attempt.attempted_at
        elif next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        await conn.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
        )


async def disable(db: Database, webhook_id: int, reason: str, now: datetime) -> None:
    """Stop sending to a webhook: mark it disabled and give up its pending deliveries."""
    async with db.begin() as conn:
        await conn.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(disabled_at=now, disabled_reason=reason)
        )
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.state == PENDING)
            .values(state=FAILED, completed_at=now, lease_owner=None, lease_until=None)
        )


async def release(db: Database, owner: str) -> None:
    """Give back the leases `owner` still holds (at shutdown)."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        if result.rowcount:
            await announce(db, conn, Change(Topic.WEBHOOK))


async def list_attempts(db: Database, webhook_id: int, limit: int = 50) -> list[AttemptInfo]:
    """The webhook's latest attempts, newest first."""
    await get_webhook(db, webhook_id)
    async with db.read() as conn:
        rows = await conn.execute(
            select(
                WebhookAttempt.id,
                WebhookAttempt.delivery_id,
                WebhookDelivery.event_id,
                WebhookDelivery.event_type,
                WebhookDelivery.state,
                WebhookAttempt.attempted_at,
                WebhookAttempt.status_code,
                WebhookAttempt.response,
                WebhookAttempt.error,
                WebhookAttempt.duration_ms,
            )
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookAttempt.id.desc())
            .limit(limit)
        )
        found: list[Any] = list(rows)
    return [AttemptInfo(*row) for row in found]


async def purge(db: Database, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Delete finished deliveries (with their attempts) made before `before`; return how many."""
    total = 0
    while True:
        async with db.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(WebhookDelivery.id)
                        .where(
                            WebhookDelivery.state != PENDING, WebhookDelivery.created_at < before
                        )
                        .limit(chunk)
                    )
                ).scalars()
            )
            if ids:
                await conn.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        total += len(ids)
        if len(ids) < chunk:
            return total
