"""People who sign in to the admin panel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.users import Role, UserInfo
from gateway.storage.database import Database
from gateway.storage.models import Tenant, User

_USERS = select(
    User.id, User.email, User.role, Tenant.name, User.created_at, User.last_login_at
).outerjoin(Tenant, Tenant.id == User.tenant_id)


def _user(row: Any) -> UserInfo:
    return UserInfo(row[0], row[1], Role(row[2]), *row[3:])


async def create_user(
    db: Database,
    email: str,
    password_hash: str,
    role: Role,
    tenant_id: int | None,
    session_key: str,
    now: datetime,
) -> UserInfo:
    try:
        async with db.begin() as conn:
            result = await conn.execute(
                insert(User)
                .values(
                    email=email,
                    password_hash=password_hash,
                    role=role.value,
                    tenant_id=tenant_id,
                    created_at=now,
                    session_key=session_key,
                )
                .returning(User.id)
            )
            user_id = result.scalar_one()
    except IntegrityError as exc:
        raise ConflictError(f"a user with the email {email!r} already exists") from exc
    return await get_user(db, user_id)


async def get_user(db: Database, user_id: int) -> UserInfo:
    async with db.read() as conn:
        row = (await conn.execute(_USERS.where(User.id == user_id))).first()
    if row is None:
        raise NotFoundError(f"no user with id {user_id}")
    return _user(row)


async def find_login(db: Database, email: str) -> tuple[UserInfo, str, str] | None:
    """The user with this email, its password hash and session key; None if unknown."""
    query = _USERS.add_columns(User.password_hash, User.session_key).where(
        func.lower(User.email) == email.lower()
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else (_user(row[:6]), row[6], row[7])


async def session_user(db: Database, user_id: int, session_key: str) -> UserInfo | None:
    """The user of a session cookie, unless it was removed, signed out or changed its password
    since."""
    query = _USERS.where(User.id == user_id, User.session_key == session_key)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else _user(row)


async def list_users(db: Database, tenant_id: int | None = None) -> list[UserInfo]:
    query = _USERS.order_by(User.email)
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    async with db.read() as conn:
        return [_user(row) for row in await conn.execute(query)]


async def set_session_key(
    db: Database, user_id: int, session_key: str, password_hash: str | None = None
) -> None:
    """Replace the session key (ending the user's sessions), and the password hash if given."""
    values: dict[str, str] = {"session_key": session_key}
    if password_hash is not None:
        values["password_hash"] = password_hash
    async with db.begin() as conn:
        result = await conn.execute(update(User).where(User.id == user_id).values(**values))
    if not result.rowcount:
        raise NotFoundError(f"no user with id {user_id}")


async def touch_login(db: Database, user_id: int, now: datetime) -> None:
    async with db.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(last_login_at=now))


async def delete_user(db: Database, user_id: int) -> None:
    async with db.begin() as conn:
        result = await conn.execute(delete(User).where(User.id == user_id))
    if not result.rowcount:
        raise NotFoundError(f"no user with id {user_id}")
