"""People of the admin panel: creating them, signing them in (throttled), changing passwords."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from config import Settings
from gateway.core.exceptions import InvalidInputError, LoginRefused
from gateway.core.types.users import Role, UserInfo
from gateway.identity import passwords
from gateway.identity.accounts import now
from gateway.intake.auth import HashCache
from gateway.intake.lockout import Throttle
from gateway.storage import tenants, users
from gateway.storage.database import Database

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
MIN_PASSWORD = 12
DEV_ADMIN = "admin@example.com"
"""The admin `serve --dev` makes on a gateway with no users."""


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user as created; `password` is set when the gateway generated it (shown only now)."""

    user: UserInfo
    password: str | None


def check_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not EMAIL.fullmatch(email):
        raise InvalidInputError(f"{email!r} is not an email address", "email")
    return email


def check_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"use at least {MIN_PASSWORD} characters", field)
    if len(password) > 1024:
        raise InvalidInputError("use at most 1024 characters", field)
    return password


def check_role(role: str, tenant: str | None) -> Role:
    try:
        checked = Role(role)
    except ValueError:
        raise InvalidInputError(
            f"unknown role {role!r}: use admin, owner or viewer", "role"
        ) from None
    if checked is Role.ADMIN and tenant:
        raise InvalidInputError("an admin sees every tenant: give no tenant", "tenant")
    if checked is not Role.ADMIN and not tenant:
        raise InvalidInputError(f"an {checked.value} belongs to one tenant: name it", "tenant")
    return checked


async def create_user(
    db: Database, email: str, role: str, tenant: str | None, password: str | None = None
) -> NewUser:
    """A user; without a password, one is generated (and returned, to be shown once)."""
    checked_email = check_email(email)
    checked_role = check_role(role, tenant)
    tenant_id = (await tenants.get_tenant(db, tenant)).id if tenant else None
    generated = None if password is not None else passwords.new_password()
    secret = check_password(password) if password is not None else generated
    assert secret is not None
    user = await users.create_user(
        db,
        checked_email,
        passwords.hash_password(secret),
        checked_role,
        tenant_id,
        secrets.token_urlsafe(24),
        now(),
    )
    return NewUser(user, generated)


async def first_admin(db: Database, email: str) -> NewUser | None:
    """An admin with a generated password, if the gateway has no user yet; None otherwise."""
    if await users.list_users(db):
        return None
    return await create_user(db, email, Role.ADMIN.value, None)


class Logins:
    """Sign-in to the admin panel, throttled per client address and per account, and what ends
    sessions: signing out, a password change."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._hashes = HashCache(0)
        self.throttle = Throttle(db, settings, "web")
        """Its `forget(...)`/`clear()`: failures were recorded by another instance."""

    async def _check(self, email: str, password: str, client: str) -> tuple[UserInfo, str] | None:
        """The user and its session key if `password` is right; one throttled attempt."""
        found = await users.find_login(self._db, email)

        async def verify() -> bool:
            return await self._hashes.verify(found[1] if found else None, password)

        if not await self.throttle.check(client, email, verify) or found is None:
            return None
        return found[0], found[2]

    async def login(self, email: str, password: str, client: str) -> tuple[UserInfo, str]:
        """The user and its session key (shared by its sessions until sign-out);
        `LoginRefused` otherwise (never saying whether the email exists)."""
        email = email.strip().lower()
        checked = await self._check(email, password, client)
        if checked is None:
            raise LoginRefused("wrong email or password")
        user, key = checked
        await users.touch_login(self._db, user.id, now())
        return user, key

    async def new_session(self, user: UserInfo, password_hash: str | None = None) -> str:
        """A new session key for the user, ending every session made with the old one (signing
        out signs the user out everywhere)."""
        key = secrets.token_urlsafe(24)
        await users.set_session_key(self._db, user.id, key, password_hash)
        return key

    async def change_password(self, user: UserInfo, current: str, new: str, client: str) -> str:
        """The new session key (every other session ends); refused if `current` is wrong."""
        check_password(new, "new_password")
        if await self._check(user.email, current, client) is None:
            raise InvalidInputError("this is not your current password", "current_password")
        return await self.new_session(user, passwords.hash_password(new))
