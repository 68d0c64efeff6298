"""Idempotency keys of the send API, per tenant: the first request with a key takes it, and its
answer is kept for the repeats for `KEPT_FOR` (the protocol: `admin/ops/emails.py`); the hourly
housekeeping forgets older keys.

Taking a key is one insert that the primary key (tenant, key) lets only one request make, on
SQLite and PostgreSQL alike: of concurrent requests with the same key exactly one goes ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.storage.database import Database
from gateway.storage.models import IdempotencyKey

KEPT_FOR = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Taken:
    """A key as an earlier request left it: its answer, or none yet (still being answered)."""

    fingerprint: str
    status: int | None
    answer: bytes | None
    taken_at: datetime


def _key(tenant_id: int, key: str) -> ColumnElement[bool]:
    return and_(IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key)


async def _taken(db: Database, tenant_id: int, key: str) -> Taken | None:
    query = select(
        IdempotencyKey.fingerprint,
        IdempotencyKey.status,
        IdempotencyKey.answer,
        IdempotencyKey.created_at,
    )
    async with db.read() as conn:
        row = (await conn.execute(query.where(_key(tenant_id, key)))).first()
    return None if row is None else Taken(*row)


async def take(
    db: Database, tenant_id: int, key: str, fingerprint: str, now: datetime, since: datetime
) -> Taken | None:
    """Take the key for a request: None when this request has it (then `keep` its answer or
    `give_back` the key); else the key as a request since `since` left it. A key taken before
    `since` is taken afresh. Only taking writes: a repeat waiting for the first's answer reads."""
    found = await _taken(db, tenant_id, key)
    if found is not None and found.taken_at >= since:
        return found
    try:
        async with db.begin() as conn:
            # Only one taken before `since`: never a key another request took just now.
            await conn.execute(
                delete(IdempotencyKey).where(
                    _key(tenant_id, key), IdempotencyKey.created_at < since
                )
            )
            await conn.execute(
                insert(IdempotencyKey).values(
                    tenant_id=tenant_id, key=key, fingerprint=fingerprint, created_at=now
                )
            )
    except IntegrityError:  # another request took it in between
        return await _taken(db, tenant_id, key) or Taken(fingerprint, None, None, now)
    return None


async def keep(db: Database, tenant_id: int, key: str, status: int, answer: bytes) -> None:
    """Store the answer of the request that took the key."""
    async with db.begin() as conn:
        await conn.execute(
            update(IdempotencyKey).where(_key(tenant_id, key)).values(status=status, answer=answer)
        )


async def give_back(db: Database, tenant_id: int, key: str) -> None:
    """Forget a key whose request sent nothing: a repeat is answered afresh."""
    async with db.begin() as conn:
        await conn.execute(delete(IdempotencyKey).where(_key(tenant_id, key)))


async def purge(db: Database, before: datetime) -> int:
    """Forget the keys taken before `before`; return how many."""
    async with db.begin() as conn:
        result = await conn.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
        )
    return result.rowcount
