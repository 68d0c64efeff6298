"""API keys: `sgw_<prefix>_<secret>`. The prefix finds the key and names it in the audit log;
the secret is stored only as an argon2id hash, checked with a cache (`AUTH_CACHE_TTL`)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from config import Settings
from gateway.core.exceptions import InvalidInputError, LoginRefused
from gateway.core.types.users import ApiKeyInfo
from gateway.identity import passwords
from gateway.identity.accounts import now
from gateway.intake.auth import LAST_USED_EVERY, HashCache
from gateway.intake.lockout import Throttle
from gateway.storage import apikeys, tenants
from gateway.storage.database import Database

_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2-api")


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key as created: the only time its secret is known."""

    info: ApiKeyInfo
    key: str


async def create_api_key(db: Database, tenant: str | None, description: str = "") -> NewApiKey:
    """A key of one tenant, or with no tenant an admin key."""
    if len(description) > 255:
        raise InvalidInputError(
            "the description is too long (at most 255 characters)", "description"
        )
    tenant_id = (await tenants.get_tenant(db, tenant)).id if tenant else None
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    info = await apikeys.create_key(
        db, prefix, passwords.hash_password(secret), tenant_id, description, now()
    )
    return NewApiKey(info, f"sgw_{prefix}_{secret}")


class ApiKeys:
    """Checks bearer keys for the API. Failures are counted per client address (`AUTH_*`
    settings); an unknown prefix costs no hashing, and the hashing of known ones has a thread of
    its own, so that a flood of bad keys cannot hold up SMTP logins."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._hashes = HashCache(settings.auth_cache_ttl, _HASHING)
        self.throttle = Throttle(db, settings, "api")
        """Its `forget(...)`/`clear()`: failures were recorded by another instance."""

    async def authenticate(self, key: str, client: str) -> ApiKeyInfo | None:
        """The key's record, or None for a malformed, unknown, revoked or wrong key;
        `LoginRefused` while the client is locked out."""
        wait = await self.throttle.locked_out(client=client)
        if wait > 0:
            raise LoginRefused(
                f"too many bad API keys from {client}: try again in {int(wait) + 1} seconds", wait
            )
        label, _, rest = key.partition("_")
        prefix, _, secret = rest.partition("_")
        found = await apikeys.find_key(self._db, prefix) if label == "sgw" and secret else None
        if found is None or not await self._hashes.verify(found[1], secret):
            await self.throttle.failed(client, f"apikey:{prefix[:16]}")
            return None
        info = found[0]
        moment = now()
        if info.last_used_at is None or moment - info.last_used_at > LAST_USED_EVERY:
            await apikeys.touch_key(self._db, info.id, moment)
        return info
