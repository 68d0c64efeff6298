"""Checking secrets without blocking the event loop, and throttling guessers.

argon2 verification runs in a worker thread. A `HashCache` remembers a successful check for a
while, keyed by a digest of the stored hash and the secret, so that clients that open a
connection per message (or call the API per request) do not pay for argon2 each time. The
credential itself is looked up every time, so a revoked one is refused at once. An unknown name
is checked against a dummy hash, so both failures take the same time.

A `Throttle` counts failures in the database (shared by every instance): past
`AUTH_MAX_FAILURES` within `AUTH_FAILURE_WINDOW` seconds, the client address (or account) is
locked out for `AUTH_LOCKOUT` seconds after its last failure. Each attempt counts as a failure
before its check, so that guesses sent at the same moment cannot all be checked; SMTP AUTH also
checks at most `AUTH_MAX_CONCURRENT` at once per client address (in each instance).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.exceptions import LoginRefused
from gateway.core.types.messages import Principal
from gateway.identity.passwords import DUMMY_HASH, verify_password
from gateway.storage import logins, tenants
from gateway.storage.database import Database

_MAX_CACHE = 10_000
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
"""Each argon2 check takes 64 MiB: two at a time keep memory bounded when clients log in at once."""


class HashCache:
    """argon2 checks off the event loop; a success is remembered for `ttl` seconds (0: never)."""

    def __init__(self, ttl: float, executor: ThreadPoolExecutor = _HASHING) -> None:
        self._ttl = ttl
        self._executor = executor
        self._cache: dict[bytes, float] = {}

    @staticmethod
    def _key(stored: str, secret: str) -> bytes:
        return hashlib.sha256(f"{stored}\0{secret}".encode()).digest()

    def remembers(self, password_hash: str | None, secret: str) -> bool:
        """Whether `secret` was found to match `password_hash` within the last `ttl` seconds."""
        if password_hash is None:
            return False
        return self._cache.get(self._key(password_hash, secret), 0.0) > time.monotonic()

    async def verify(self, password_hash: str | None, secret: str) -> bool:
        """Whether `secret` matches; None (an unknown name) costs the same and is False."""
        if self.remembers(password_hash, secret):
            return True
        stored = password_hash or DUMMY_HASH
        key = self._key(stored, secret)
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        valid = await loop.run_in_executor(self._executor, verify_password, stored, secret)
        if not valid or password_hash is None:
            return False
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHE:
                self._cache = {k: t for k, t in self._cache.items() if t > now}
            self._cache[key] = now + self._ttl
        return True


class Throttle:
    """Failed logins of one service (`smtp` or `web`), per client address and (`per_account`)
    per account."""

    def __init__(
        self, db: Database, settings: Settings, service: str, *, per_account: bool = True
    ) -> None:
        self._db = db
        self._service = service
        self._per_account = per_account
        self._max_failures = settings.auth_max_failures
        self._window = timedelta(seconds=settings.auth_failure_window)
        self._lockout = timedelta(seconds=settings.auth_lockout)

    async def locked_out(
        self, *, client: str | None = None, username: str | None = None, pending: int = 0
    ) -> float:
        """Seconds until the address (or account) may try again; 0 when it may now. `pending`:
        attempts already counted that are still being checked (not failures yet)."""
        now = datetime.now(UTC)
        count, latest = await logins.failures_since(
            self._db, now - self._window, client=client, username=username, service=self._service
        )
        if count - pending < self._max_failures or latest is None:
            return 0.0
        return max(0.0, (latest + self._lockout - now).total_seconds())

    async def failed(self, client: str, username: str) -> None:
        await logins.record_failure(self._db, client, username, datetime.now(UTC), self._service)

    async def _wait(self, client: str, username: str, pending: int) -> float:
        wait = await self.locked_out(client=client, pending=pending)
        if self._per_account:
            wait = max(wait, await self.locked_out(username=username, pending=pending))
        return wait

    async def check(
        self,
        client: str,
        username: str,
        verify: Callable[[], Awaitable[bool]],
        *,
        known: bool = False,
    ) -> bool:
        """Run `verify` (a secret's check) as one attempt of `client` as `username`: counted
        before it runs, so that concurrent guesses cannot pass the limit; `LoginRefused` while
        the address or the account is locked out. A secret `known` to be right (checked a
        moment ago) is no guess: it is not counted, but it does not pass a lockout either."""
        if known:
            wait = await self._wait(client, username, pending=0)
            if wait > 0:
                raise _locked_out(wait)
            return True
        attempt = await logins.start_attempt(
            self._db, client, username, datetime.now(UTC), self._service
        )
        wait = await self._wait(client, username, pending=1)
        if wait > 0:
            await logins.end_attempt(self._db, attempt, False, client, username, self._service)
            raise _locked_out(wait)
        valid = await verify()
        await logins.end_attempt(self._db, attempt, not valid, client, username, self._service)
        return valid


def _locked_out(wait: float) -> LoginRefused:
    return LoginRefused(f"too many failed attempts: try again in {int(wait) + 1} seconds", wait)


class Authenticator:
    """SMTP AUTH: credentials checked with a cache, each attempt counted per client address
    before its check (not per account: anyone could lock a tenant out), and at most
    `AUTH_MAX_CONCURRENT` checks at once per client address: the others wait their turn (an
    application's pool connecting at once is served in order, never refused), and once the
    address is locked out they are refused without a check."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._hashes = HashCache(settings.auth_cache_ttl)
        self._throttle = Throttle(db, settings, "smtp", per_account=False)
        self._max_concurrent = settings.auth_max_concurrent
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()
        """Logins being checked or waiting their turn, per client address."""

    async def locked_out(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        return await self._throttle.locked_out(client=client)

    async def authenticate(self, username: str, password: str, client: str) -> Principal | None:
        """The credential's principal, None for a wrong username or password; `LoginRefused`
        while `client` is locked out."""
        turn = self._turns.setdefault(client, asyncio.Semaphore(self._max_concurrent))
        self._waiting[client] += 1
        try:
            async with turn:
                login = await tenants.find_login(self._db, username)
                stored = login[1] if login else None

                async def verify() -> bool:
                    return await self._hashes.verify(stored, password)

                known = self._hashes.remembers(stored, password)
                valid = await self._throttle.check(client, username, verify, known=known)
                if not valid or not login:
                    return None
        finally:
            self._waiting[client] -= 1
            if not self._waiting[client]:
                del self._waiting[client], self._turns[client]
        principal = login[0]
        assert principal.credential_id is not None
        await tenants.touch_credential(self._db, principal.credential_id, datetime.now(UTC))
        return principal
