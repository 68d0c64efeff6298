"""API keys of the JSON API: the clear prefix that finds a key, and the hash of its secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from gateway.core.exceptions import NotFoundError
from gateway.core.types.users import ApiKeyInfo
from gateway.storage.database import Database
from gateway.storage.models import ApiKey, Tenant

_KEYS = select(
    ApiKey.id,
    ApiKey.prefix,
    Tenant.name,
    ApiKey.description,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
).outerjoin(Tenant, Tenant.id == ApiKey.tenant_id)


def _key(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(*row)


async def create_key(
    db: Database,
    prefix: str,
    key_hash: str,
    tenant_id: int | None,
    description: str,
    now: datetime,
) -> ApiKeyInfo:
    async with db.begin() as conn:
        result = await conn.execute(
            insert(ApiKey)
            .values(
                prefix=prefix,
                key_hash=key_hash,
                tenant_id=tenant_id,
                description=description,
                created_at=now,
            )
            .returning(ApiKey.id)
        )
        key_id = result.scalar_one()
    return await get_key(db, key_id)


async def get_key(db: Database, key_id: int) -> ApiKeyInfo:
    async with db.read() as conn:
        row = (await conn.execute(_KEYS.where(ApiKey.id == key_id))).first()
    if row is None:
        raise NotFoundError(f"no API key with id {key_id}")
    return _key(row)


async def find_key(db: Database, prefix: str) -> tuple[ApiKeyInfo, str] | None:
    """The unrevoked key with this prefix and its hash; None if unknown or revoked."""
    query = _KEYS.add_columns(ApiKey.key_hash).where(
        ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else (_key(row[:7]), row[7])


async def list_keys(db: Database, tenant_id: int | None = None) -> list[ApiKeyInfo]:
    """Every key, or one tenant's (admin keys belong to no tenant)."""
    query = _KEYS.order_by(ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    async with db.read() as conn:
        return [_key(row) for row in await conn.execute(query)]


async def revoke_key(db: Database, key_id: int, now: datetime) -> ApiKeyInfo:
    async with db.begin() as conn:
        result = await conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    key = await get_key(db, key_id)
    if not result.rowcount:
        raise NotFoundError(f"API key {key.prefix} is already revoked")
    return key


async def touch_key(db: Database, key_id: int, now: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
