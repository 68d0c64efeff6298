"""Tenants and their SMTP credentials: limits, usage and pause states."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import Principal
from gateway.core.types.tenants import Account, CredentialInfo, Limits, TenantInfo
from gateway.storage.activity import add_activity
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import AwsAccount, Credential, Tenant, Usage

_CREDENTIAL_COLUMNS = (
    Credential.id,
    Tenant.name,
    Credential.username,
    Credential.description,
    Credential.created_at,
    Credential.revoked_at,
    Credential.last_used_at,
    Credential.allowed_senders,
    Credential.paused_reason,
)


def _credential(row: Sequence[Any]) -> CredentialInfo:
    key, tenant, username, description, created, revoked, used, allowed, paused = row
    return CredentialInfo(
        key, tenant, username, description, created, revoked, used, tuple(allowed or ()), paused
    )


async def create_tenant(db: Database, name: str, now: datetime) -> TenantInfo:
    try:
        async with db.begin() as conn:
            result = await conn.execute(
                insert(Tenant).values(name=name, created_at=now).returning(Tenant.id)
            )
            return TenantInfo(result.scalar_one(), name, now)
    except IntegrityError as exc:
        raise ConflictError(f"tenant {name!r} already exists") from exc


async def list_tenants(db: Database) -> list[TenantInfo]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(Tenant.id, Tenant.name, Tenant.created_at, Tenant.paused_reason).order_by(
                Tenant.name
            )
        )
        return [TenantInfo(*row) for row in rows]


async def get_tenant(db: Database, name: str) -> TenantInfo:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(Tenant.id, Tenant.name, Tenant.created_at, Tenant.paused_reason).where(
                    Tenant.name == name
                )
            )
        ).first()
    if row is None:
        raise NotFoundError(f"no tenant named {name!r}")
    return TenantInfo(*row)


async def create_credential(
    db: Database,
    tenant: TenantInfo,
    username: str,
    password_hash: str,
    description: str,
    now: datetime,
    allowed_senders: Sequence[str] = (),
) -> CredentialInfo:
    async with db.begin() as conn:
        result = await conn.execute(
            insert(Credential)
            .values(
                tenant_id=tenant.id,
                username=username,
                password_hash=password_hash,
                description=description,
                created_at=now,
                allowed_senders=list(allowed_senders),
            )
            .returning(Credential.id)
        )
        credential_id = result.scalar_one()
        await announce(db, conn, Change(Topic.CREDENTIAL, str(credential_id)))
        return CredentialInfo(
            credential_id,
            tenant.name,
            username,
            description,
            now,
            None,
            None,
            tuple(allowed_senders),
        )


async def list_credentials(db: Database, tenant: str | None = None) -> list[CredentialInfo]:
    query = select(*_CREDENTIAL_COLUMNS).join(Tenant).order_by(Credential.id)
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    async with db.read() as conn:
        return [_credential(row) for row in await conn.execute(query)]


async def get_credential(db: Database, credential_id: int) -> CredentialInfo:
    query = select(*_CREDENTIAL_COLUMNS).join(Tenant).where(Credential.id == credential_id)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no credential with id {credential_id}")
    return _credential(row)


async def revoke_credential(db: Database, credential_id: int, now: datetime) -> CredentialInfo:
    async with db.begin() as conn:
        await conn.execute(
            update(Credential)
            .where(Credential.id == credential_id, Credential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await announce(db, conn, Change(Topic.CREDENTIAL, str(credential_id)))
    return await get_credential(db, credential_id)


async def find_login(db: Database, username: str) -> tuple[Principal, str, datetime | None] | None:
    """The principal, password hash and last use of an active (not revoked) credential."""
    query = (
        select(
            Tenant.id,
            Tenant.name,
            Credential.id,
            Credential.username,
            Credential.password_hash,
            Credential.last_used_at,
        )
        .join(Tenant)
        .where(Credential.username == username, Credential.revoked_at.is_(None))
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Principal(row[0], row[1], row[2], row[3]), row[4], row[5]


async def touch_credential(db: Database, credential_id: int, now: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(
            update(Credential).where(Credential.id == credential_id).values(last_used_at=now)
        )


async def account(db: Database, tenant_id: int, credential_id: int | None) -> Account:
    """The pause states and sender scope that apply to a session."""
    async with db.read() as conn:
        tenant = (
            await conn.execute(
                select(
                    Tenant.paused_reason,
                    Tenant.max_per_second,
                    Tenant.max_per_day,
                    Tenant.max_recipients,
                    Tenant.max_connections,
                    Tenant.max_size,
                ).where(Tenant.id == tenant_id)
            )
        ).first()
        credential = None
        if credential_id is not None:
            credential = (
                await conn.execute(
                    select(Credential.paused_reason, Credential.allowed_senders).where(
                        Credential.id == credential_id
                    )
                )
            ).first()
    return Account(
        tenant_id,
        tenant[0] if tenant else None,
        credential[0] if credential else None,
        tuple(credential[1] or ()) if credential else (),
        Limits(*tenant[1:]) if tenant else None,
    )


_LIMITS = (
    Tenant.max_per_second,
    Tenant.max_per_day,
    Tenant.max_recipients,
    Tenant.max_connections,
    Tenant.max_size,
)


async def set_limits(db: Database, name: str, limits: dict[str, float | int | None]) -> Limits:
    """Change some of the tenant's limits (None: back to the global default)."""
    tenant = await get_tenant(db, name)
    async with db.begin() as conn:
        if limits:
            await conn.execute(update(Tenant).where(Tenant.id == tenant.id).values(**limits))
            await announce(db, conn, Change(Topic.TENANT, str(tenant.id)))
        row = (await conn.execute(select(*_LIMITS).where(Tenant.id == tenant.id))).one()
    return Limits(*row)


async def get_limits(db: Database, tenant_id: int) -> Limits:
    async with db.read() as conn:
        row = (await conn.execute(select(*_LIMITS).where(Tenant.id == tenant_id))).one()
    return Limits(*row)


async def usage_today(db: Database, tenant_id: int, day: str) -> int:
    async with db.read() as conn:
        used = (
            await conn.execute(
                select(Usage.messages).where(Usage.tenant_id == tenant_id, Usage.day == day)
            )
        ).scalar_one_or_none()
    return used or 0


async def set_tenant_paused(db: Database, name: str, reason: str | None) -> TenantInfo:
    tenant = await get_tenant(db, name)
    async with db.begin() as conn:
        await conn.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(paused_reason=reason)
        )
        # A resumed tenant's queued messages are due again: the workers claim them now.
        resumed = () if reason is not None else (Change(Topic.QUEUED),)
        await announce(db, conn, Change(Topic.TENANT, str(tenant.id)), *resumed)
    return TenantInfo(tenant.id, tenant.name, tenant.created_at, reason)


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
        await add_activity(conn, tenant_id, kind, subject, detail, now, notify=True)
        await announce(db, conn, Change(Topic.TENANT, str(tenant_id)))
    return True


async def tenant_state(db: Database, tenant_id: int) -> tuple[str, str | None] | None:
    """(name, paused reason) of a tenant, or None when there is no such tenant."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(Tenant.name, Tenant.paused_reason).where(Tenant.id == tenant_id)
            )
        ).first()
    return None if row is None else (row[0], row[1])


async def set_credential_paused(db: Database, credential_id: int, reason: str | None) -> None:
    async with db.begin() as conn:
        result = await conn.execute(
            update(Credential).where(Credential.id == credential_id).values(paused_reason=reason)
        )
        await announce(db, conn, Change(Topic.CREDENTIAL, str(credential_id)))
    if not result.rowcount:
        raise NotFoundError(f"no credential with id {credential_id}")


async def aws_account_of(db: Database, tenant_id: int) -> str:
    """The name of the AWS account the tenant sends through (`default`: the process's own)."""
    query = (
        select(AwsAccount.name)
        .join(Tenant, Tenant.aws_account_id == AwsAccount.id)
        .where(Tenant.id == tenant_id)
    )
    async with db.read() as conn:
        name: str | None = await conn.scalar(query)
    return name or DEFAULT_ACCOUNT
