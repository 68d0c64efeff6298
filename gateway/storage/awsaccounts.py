"""AWS accounts as stored: the accounts tenants send through, their secrets sealed, and which
tenant uses which.

A secret access key and an external id are stored sealed (`gateway.core.crypto.Sealer`:
AES-GCM under a key derived from `SECRET_KEY`), each bound to what it is and to the account's
name, so that a sealed value copied into another row, or into the other column, does not open.
Only `account_specs` and `account_spec` open them, to make clients; nothing else reads them.

Every write announces `Topic.AWS_ACCOUNT` (key: the account's name) in its transaction, so
that each process makes its clients again; a tenant moved to another account announces
`Topic.TENANT` (its id) as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.crypto import Sealer
from gateway.core.exceptions import ConflictError, DecryptionError, NotFoundError
from gateway.core.types.aws import AwsAccountInfo, AwsAccountSpec
from gateway.core.types.changes import Change, Topic
from gateway.storage.changes import announce
from gateway.storage.database import Database
from gateway.storage.models import AwsAccount, Domain, Tenant

SECRET = b"aws account secret access key"
EXTERNAL_ID = b"aws account external id"
"""What a sealed value is, bound to it with the account's name."""


def _sealed(sealer: Sealer, what: bytes, name: str, value: str | None) -> bytes | None:
    return None if value is None else sealer.seal(what, name, value.encode())


def _opened(sealer: Sealer, what: bytes, name: str, stored: bytes | None) -> str | None:
    if stored is None:
        return None
    try:
        return sealer.open(what, name, stored).decode()
    except DecryptionError as exc:
        raise DecryptionError(f"AWS account {name}: {exc}") from exc


def _spec(sealer: Sealer, row: Any) -> AwsAccountSpec:
    name, region, key_id, secret, role_arn, external_id = row
    return AwsAccountSpec(
        name,
        region,
        key_id,
        _opened(sealer, SECRET, name, secret),
        role_arn,
        _opened(sealer, EXTERNAL_ID, name, external_id),
    )


_SPEC_COLUMNS = (
    AwsAccount.name,
    AwsAccount.region,
    AwsAccount.access_key_id,
    AwsAccount.sealed_secret,
    AwsAccount.role_arn,
    AwsAccount.sealed_external_id,
)


async def account_specs(db: Database, sealer: Sealer) -> dict[str, AwsAccountSpec]:
    """Every stored account by name, its secrets opened: what clients are made from."""
    async with db.read() as conn:
        rows = (await conn.execute(select(*_SPEC_COLUMNS))).all()
    return {row[0]: _spec(sealer, row) for row in rows}


async def account_spec(db: Database, sealer: Sealer, name: str) -> AwsAccountSpec:
    """One account, its secrets opened; `NotFoundError` when there is none of that name."""
    async with db.read() as conn:
        row = (await conn.execute(select(*_SPEC_COLUMNS).where(AwsAccount.name == name))).first()
    if row is None:
        raise NotFoundError(f"no AWS account named {name!r}")
    return _spec(sealer, row)


async def tenant_accounts(db: Database) -> dict[str, str]:
    """Tenant name -> account name, for the tenants on a stored account (the others use the
    process's own credentials)."""
    query = select(Tenant.name, AwsAccount.name).join(
        AwsAccount, AwsAccount.id == Tenant.aws_account_id
    )
    async with db.read() as conn:
        rows = await conn.execute(query)
        return dict(rows.all())


async def tenant_ids(db: Database, account: str) -> list[int | None]:
    """The ids of the tenants on the stored account named `account`."""
    query = (
        select(Tenant.id)
        .join(AwsAccount, AwsAccount.id == Tenant.aws_account_id)
        .where(AwsAccount.name == account)
        .order_by(Tenant.id)
    )
    async with db.read() as conn:
        return list((await conn.scalars(query)).all())


def _info(row: Sequence[Any], tenants: Sequence[str]) -> AwsAccountInfo:
    name, region, key_id, role_arn, external_id, created, checked, error = row
    return AwsAccountInfo(
        name, region, key_id, role_arn, external_id, created, checked, error, tuple(tenants)
    )


_INFO = select(
    AwsAccount.name,
    AwsAccount.region,
    AwsAccount.access_key_id,
    AwsAccount.role_arn,
    AwsAccount.sealed_external_id.is_not(None),
    AwsAccount.created_at,
    AwsAccount.checked_at,
    AwsAccount.check_error,
)


async def list_accounts(db: Database) -> list[AwsAccountInfo]:
    """Every account by name, with the tenants on it; no secret."""
    async with db.read() as conn:
        rows = (await conn.execute(_INFO.order_by(AwsAccount.name))).all()
        users = await conn.execute(
            select(AwsAccount.name, Tenant.name)
            .join(Tenant, Tenant.aws_account_id == AwsAccount.id)
            .order_by(Tenant.name)
        )
        tenants: dict[str, list[str]] = {}
        for account, tenant in users:
            tenants.setdefault(account, []).append(tenant)
    return [_info(row, tenants.get(row[0], ())) for row in rows]


async def get_account(db: Database, name: str) -> AwsAccountInfo:
    """One account, with the tenants on it; `NotFoundError` when there is none of that name."""
    async with db.read() as conn:
        row = (await conn.execute(_INFO.where(AwsAccount.name == name))).first()
        if row is None:
            raise NotFoundError(f"no AWS account named {name!r}")
        tenants = await conn.scalars(
            select(Tenant.name)
            .join(AwsAccount, AwsAccount.id == Tenant.aws_account_id)
            .where(AwsAccount.name == name)
            .order_by(Tenant.name)
        )
        return _info(row, tenants.all())


async def add_account(
    db: Database, sealer: Sealer, spec: AwsAccountSpec, now: datetime
) -> AwsAccountInfo:
    """Store an account (validated by the caller), its secrets sealed; checked at `now`.
    `ConflictError` when the name is taken."""
    values = {
        "name": spec.name,
        "region": spec.region,
        "access_key_id": spec.access_key_id,
        "sealed_secret": _sealed(sealer, SECRET, spec.name, spec.secret_access_key),
        "role_arn": spec.role_arn,
        "sealed_external_id": _sealed(sealer, EXTERNAL_ID, spec.name, spec.external_id),
        "created_at": now,
        "checked_at": now,
    }
    try:
        async with db.begin() as conn:
            await conn.execute(insert(AwsAccount).values(values))
            await announce(db, conn, Change(Topic.AWS_ACCOUNT, spec.name))
    except IntegrityError as exc:
        raise name_taken(spec.name) from exc
    return AwsAccountInfo(
        spec.name,
        spec.region,
        spec.access_key_id,
        spec.role_arn,
        spec.external_id is not None,
        now,
        now,
        None,
    )


def name_taken(name: str) -> ConflictError:
    return ConflictError(f"an AWS account named {name!r} exists already")


async def record_check(db: Database, name: str, now: datetime, error: str | None) -> None:
    """What `aws-account test` found at `now` (None: it passed)."""
    async with db.begin() as conn:
        changed = await conn.execute(
            update(AwsAccount)
            .where(AwsAccount.name == name)
            .values(checked_at=now, check_error=error)
        )
    if not changed.rowcount:
        raise NotFoundError(f"no AWS account named {name!r}")


async def _users(conn: AsyncConnection, account_id: int) -> list[str]:
    query = select(Tenant.name).where(Tenant.aws_account_id == account_id).order_by(Tenant.name)
    return list((await conn.scalars(query)).all())


async def remove_account(db: Database, name: str) -> None:
    """Remove an account; `ConflictError` naming the tenants while any uses it."""
    async with db.begin() as conn:
        account_id = await conn.scalar(select(AwsAccount.id).where(AwsAccount.name == name))
        if account_id is None:
            raise NotFoundError(f"no AWS account named {name!r}")
        users = await _users(conn, account_id)
        if users:
            raise ConflictError(
                f"AWS account {name} is used by tenant {', '.join(users)}: move "
                f"{'it' if len(users) == 1 else 'them'} to another account first "
                "(tenant set T --aws-account NAME, or default)"
            )
        await conn.execute(delete(AwsAccount).where(AwsAccount.id == account_id))
        await announce(db, conn, Change(Topic.AWS_ACCOUNT, name))


async def set_tenant_account(db: Database, tenant: str, account: str | None) -> bool:
    """Put `tenant` on `account` (None: the process's own credentials); False when it was on
    it already. Refused (`ConflictError`, with the steps) while the tenant has sending domains,
    which live as SES identities in the account it is on."""
    async with db.begin() as conn:
        row = (
            await conn.execute(
                select(Tenant.id, Tenant.aws_account_id).where(Tenant.name == tenant)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"no tenant named {tenant!r}")
        tenant_id, current = row
        target = None
        if account is not None:
            target = await conn.scalar(select(AwsAccount.id).where(AwsAccount.name == account))
            if target is None:
                raise NotFoundError(f"no AWS account named {account!r}")
        if target == current:
            return False
        domains = list(
            (
                await conn.scalars(
                    select(Domain.display_name)
                    .where(Domain.tenant_id == tenant_id)
                    .order_by(Domain.name)
                )
            ).all()
        )
        if domains:
            raise ConflictError(
                f"tenant {tenant} has sending domains ({', '.join(domains)}), whose SES "
                "identities are in the account it is on: remove them (domain remove D --yes), move "
                "the tenant, then add them again (domain add D --tenant T) and publish their "
                "new DNS records"
            )
        await conn.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(aws_account_id=target)
        )
        names = await conn.scalars(
            select(AwsAccount.name).where(AwsAccount.id.in_([i for i in (current, target) if i]))
        )
        await announce(
            db,
            conn,
            Change(Topic.TENANT, str(tenant_id)),
            *(Change(Topic.AWS_ACCOUNT, name) for name in names),
        )
    return True


async def reseal(db: Database, sealer: Sealer) -> tuple[int, list[str]]:
    """Seal again under the current key every account secret sealed under a previous one, an
    account per transaction, written only if unchanged since it was read (so that a process
    killed midway leaves each row sealed under one key or the other, both readable). How many
    accounts were sealed again, and the names of those no key opens (left as they are). The
    secrets are the same: nothing is announced."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    AwsAccount.id,
                    AwsAccount.name,
                    AwsAccount.sealed_secret,
                    AwsAccount.sealed_external_id,
                )
            )
        ).all()
    count, unreadable = 0, []
    for account_id, name, secret, external_id in rows:
        if all(v is None or v.startswith(sealer.prefix) for v in (secret, external_id)):
            continue
        try:
            values = {
                "sealed_secret": _sealed(
                    sealer, SECRET, name, _opened(sealer, SECRET, name, secret)
                ),
                "sealed_external_id": _sealed(
                    sealer, EXTERNAL_ID, name, _opened(sealer, EXTERNAL_ID, name, external_id)
                ),
            }
        except DecryptionError:
            unreadable.append(name)
            continue
        async with db.begin() as conn:
            changed = await conn.execute(
                update(AwsAccount)
                .where(
                    AwsAccount.id == account_id,
                    AwsAccount.sealed_secret.is_not_distinct_from(secret),
                    AwsAccount.sealed_external_id.is_not_distinct_from(external_id),
                )
                .values(values)
            )
        count += changed.rowcount  # 0: changed since it was read (removed, or sealed again)
    return count, unreadable
