"""Checking SMTP credentials without blocking the event loop, and locking out guessers.

argon2 verification runs in a worker thread. A successful check is remembered for
`AUTH_CACHE_TTL` seconds, keyed by a digest of the stored hash and the password, so that clients
that open a connection per message do not pay for argon2 each time. The credential itself is
looked up on every AUTH, so a revoked credential is refused at once. An unknown username is
checked against a dummy hash, so both failures take the same time.

Failures are counted per client address in the database (shared by every instance): past
`AUTH_MAX_FAILURES` within `AUTH_FAILURE_WINDOW` seconds, the address is locked out for
`AUTH_LOCKOUT` seconds after its last failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.passwords import DUMMY_HASH, verify_password
from gateway.storage import logins, tenants
from gateway.storage.database import Database
from gateway.types import Principal

_MAX_CACHE = 10_000
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
"""Each argon2 check takes 64 MiB: two at a time keep memory bounded when clients log in at once."""


class Authenticator:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._ttl = settings.auth_cache_ttl
        self._max_failures = settings.auth_max_failures
        self._window = timedelta(seconds=settings.auth_failure_window)
        self._lockout = timedelta(seconds=settings.auth_lockout)
        self._cache: dict[bytes, float] = {}

    async def locked_out(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        now = datetime.now(UTC)
        count, latest = await logins.failures_since(self._db, client, now - self._window)
        if count < self._max_failures or latest is None:
            return 0.0
        return max(0.0, (latest + self._lockout - now).total_seconds())

    async def authenticate(self, username: str, password: str, client: str) -> Principal | None:
        login = await tenants.find_login(self._db, username)
        password_hash = login[1] if login else DUMMY_HASH
        key = hashlib.sha256(f"{password_hash}\0{password}".encode()).digest()
        now = time.monotonic()
        if self._cache.get(key, 0.0) > now:
            valid = True
        else:
            loop = asyncio.get_running_loop()
            valid = await loop.run_in_executor(_HASHING, verify_password, password_hash, password)
        if login is None or not valid:
            await logins.record_failure(self._db, client, username[:255], datetime.now(UTC))
            return None
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHE:
                self._cache = {k: t for k, t in self._cache.items() if t > now}
            self._cache[key] = now + self._ttl
        principal = login[0]
        assert principal.credential_id is not None
        await tenants.touch_credential(self._db, principal.credential_id, datetime.now(UTC))
        return principal
