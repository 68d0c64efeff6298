"""Checking secrets without blocking the event loop; SMTP AUTH.

argon2 verification runs in a worker thread. A `HashCache` remembers a successful check for a
while, keyed by a digest of the stored hash and the secret, so that clients that open a
connection per message (or call the API per request) do not pay for argon2 each time. An unknown
name is checked against a dummy hash, so both failures take the same time.

SMTP AUTH also remembers the logins that succeeded (`LoginCache`: a keyed digest of the username
and password, never the password, to the credential) for `LOGIN_TTL` seconds at most, so that
such clients cost no database read either. A change of the credential (revoked, paused) drops
them as the change bus tells it (`forget`): at once in the process that made the change and, on
PostgreSQL, in every other; from another process on SQLite (the CLI), within `LOGIN_TTL`.

Guessers are locked out by a `lockout.Throttle` (counted before each check, answered from
memory); SMTP AUTH also checks at most `AUTH_MAX_CONCURRENT` at once per client address (in each
instance). A login writes nothing, but for `last_used_at` at most once per `LAST_USED_EVERY`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import Principal
from gateway.identity.passwords import DUMMY_HASH, verify_password
from gateway.intake.lockout import SHARED_VIEW_TTL, Throttle
from gateway.storage import tenants
from gateway.storage.database import Database

LOGIN_TTL = 5.0
"""Seconds a successful SMTP login is remembered (`AUTH_CACHE_TTL` if shorter): how late a
change made by another process is seen where the change bus does not carry it (SQLite)."""

LAST_USED_EVERY = timedelta(minutes=1)
"""`last_used_at` of a credential (or API key) is written at most this often: not once a login."""

_MAX_CACHE = 10_000
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
"""Each argon2 check takes 64 MiB: two at a time keep memory bounded when clients log in at once."""


class HashCache:
    """argon2 checks off the event loop; a success is remembered for `ttl` seconds (0: never).
    Checks of the same secret against the same hash that are asked at the same moment (a pool of
    connections logging in together, a reconnect storm after a restart) share one argon2 run."""

    def __init__(self, ttl: float, executor: ThreadPoolExecutor = _HASHING) -> None:
        self._ttl = ttl
        self._executor = executor
        self._cache: dict[bytes, float] = {}
        self._running: dict[bytes, asyncio.Future[bool]] = {}

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
        check = self._running.get(key)
        if check is None:
            loop = asyncio.get_running_loop()
            check = loop.run_in_executor(self._executor, verify_password, stored, secret)
            self._running[key] = check
            check.add_done_callback(functools.partial(self._checked, key, time.monotonic()))
        # Shielded: a client that goes away does not cancel the check for the others.
        return await asyncio.shield(check) and password_hash is not None

    def _checked(self, key: bytes, started: float, check: asyncio.Future[bool]) -> None:
        del self._running[key]
        if self._ttl <= 0 or check.cancelled() or check.exception() or not check.result():
            return
        if len(self._cache) >= _MAX_CACHE:
            self._cache = {k: t for k, t in self._cache.items() if t > started}
        self._cache[key] = started + self._ttl


Login = tuple[Principal, str, datetime | None]
"""A credential as AUTH finds it: its principal, password hash and last use."""


class LoginCache:
    """Successful logins: the credential of a (username, password) that was found right a
    moment ago, so that it is neither read nor checked again.

    Keyed by HMAC-SHA-256 under a random key of this process (never stored) of the username and
    the password: the cache holds no password, and its keys are useless outside this process.
    Like Dovecot's auth cache or saslauthd's credential cache (`-c`), with a far shorter life,
    and dropped when the credential changes."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, Login]] = {}
        self.generation = 0
        """Counts what was forgotten: a login read before a change is not remembered after it."""

    def _digest(self, username: str, password: str) -> bytes:
        # Length-prefixed: no other (username, password) pair makes the same text.
        text = f"{len(username)}:{username}{password}".encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, text, "sha256")

    def get(self, username: str, password: str) -> Login | None:
        if not self._entries:
            return None
        entry = self._entries.get(self._digest(username, password))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, username: str, password: str, login: Login, generation: int) -> None:
        """Remember a login found right, unless something was forgotten since `generation`
        (read before the login was looked up)."""
        if self._ttl <= 0 or generation != self.generation:
            return
        now = time.monotonic()
        if len(self._entries) >= _MAX_CACHE:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= _MAX_CACHE:
                self._entries.clear()
        self._entries[self._digest(username, password)] = (now + self._ttl, login)

    def touched(self, username: str, password: str, login: Login) -> None:
        """The remembered login, now with the last use just written (for as long as it had)."""
        key = self._digest(username, password)
        if (entry := self._entries.get(key)) is not None:
            self._entries[key] = (entry[0], login)

    def forget(self, credential_id: int | None = None) -> None:
        """Drop the logins of one credential (of every credential when None)."""
        self.generation += 1
        if credential_id is None:
            self._entries.clear()
            return
        stale = [
            k for k, (_, login) in self._entries.items() if login[0].credential_id == credential_id
        ]
        for key in stale:
            del self._entries[key]


class Authenticator:
    """SMTP AUTH: credentials checked with a cache, each attempt counted per client address
    before its check (not per account: anyone could lock a tenant out), and at most
    `AUTH_MAX_CONCURRENT` checks at once per client address: the others wait their turn (an
    application's pool connecting at once is served in order, never refused), and once the
    address is locked out they are refused without a check."""

    def __init__(
        self, db: Database, settings: Settings, *, shared_ttl: float = SHARED_VIEW_TTL
    ) -> None:
        self._db = db
        self._hashes = HashCache(settings.auth_cache_ttl)
        self._logins = LoginCache(min(settings.auth_cache_ttl, LOGIN_TTL))
        self.throttle = Throttle(db, settings, "smtp", per_account=False, shared_ttl=shared_ttl)
        """Its `forget(client=...)`/`clear()`: a failure was recorded by another instance."""
        self._max_concurrent = settings.auth_max_concurrent
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()
        """Logins being checked or waiting their turn, per client address."""

    TOPICS = (Topic.CREDENTIAL, Topic.LOGIN)
    """The topics whose changes `heard` acts on."""

    def heard(self, change: Change) -> None:
        """A subscriber of the change bus: a credential changed (its remembered logins are
        dropped), or a login failed elsewhere (the lockout reads that address's count again)."""
        if change.topic is Topic.CREDENTIAL:
            self._logins.forget(int(change.key) if change.key.isdigit() else None)
        elif change.topic is Topic.RESET:
            self._logins.forget()
        self.throttle.heard(change)

    async def locked_out(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        return await self.throttle.locked_out(client=client)

    async def authenticate(self, username: str, password: str, client: str) -> Principal | None:
        """The credential's principal, None for a wrong username or password; `LoginRefused`
        while `client` is locked out."""
        turn = self._turns.setdefault(client, asyncio.Semaphore(self._max_concurrent))
        self._waiting[client] += 1
        try:
            async with turn:
                login = await self._check(username, password, client)
                if login is None:
                    return None
        finally:
            self._waiting[client] -= 1
            if not self._waiting[client]:
                del self._waiting[client], self._turns[client]
        principal, stored, last_used = login
        assert principal.credential_id is not None
        moment = datetime.now(UTC)
        if last_used is None or moment - last_used > LAST_USED_EVERY:
            await tenants.touch_credential(self._db, principal.credential_id, moment)
            self._logins.touched(username, password, (principal, stored, moment))
        return principal

    async def _check(self, username: str, password: str, client: str) -> Login | None:
        """The credential if the password is right, as one attempt of `client`."""
        remembered = self._logins.get(username, password)
        if remembered is not None:  # no guess, but it does not pass a lockout either
            await self.throttle.check(client, username, _never, known=True)
            return remembered
        generation = self._logins.generation
        login = await tenants.find_login(self._db, username)
        stored = login[1] if login else None

        async def verify() -> bool:
            return await self._hashes.verify(stored, password)

        known = self._hashes.remembers(stored, password)
        if not await self.throttle.check(client, username, verify, known=known) or not login:
            return None
        self._logins.put(username, password, login, generation)
        return login


async def _never() -> bool:
    raise AssertionError("a login already known right is not checked again")
