"""Checking SMTP credentials without blocking the event loop.

argon2 verification runs in a worker thread. A successful check is remembered for
`AUTH_CACHE_TTL` seconds, keyed by a digest of the stored hash and the password, so that clients
that open a connection per message do not pay for argon2 each time. The credential itself is
looked up on every AUTH, so a revoked credential is refused at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime

from gateway.passwords import DUMMY_HASH, verify_password
from gateway.storage import tenants
from gateway.storage.database import Database
from gateway.types import Principal

_MAX_CACHE = 10_000


class Authenticator:
    def __init__(self, db: Database, cache_ttl: float) -> None:
        self._db = db
        self._ttl = cache_ttl
        self._cache: dict[bytes, float] = {}

    async def authenticate(self, username: str, password: str) -> Principal | None:
        login = await tenants.find_login(self._db, username)
        password_hash = login[1] if login else DUMMY_HASH
        key = hashlib.sha256(f"{password_hash}\0{password}".encode()).digest()
        now = time.monotonic()
        if self._cache.get(key, 0.0) > now:
            valid = True
        else:
            valid = await asyncio.to_thread(verify_password, password_hash, password)
        if login is None or not valid:
            return None
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHE:
                self._cache = {k: t for k, t in self._cache.items() if t > now}
            self._cache[key] = now + self._ttl
        principal = login[0]
        await tenants.touch_credential(self._db, principal.credential_id, datetime.now(UTC))
        return principal
