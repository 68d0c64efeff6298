"""Failed logins and lockouts: written to the database for every instance, asked from memory.

A `Throttle` counts the failures of one service (`smtp`, `web`, `api`) per client address and,
for the panel, per account: past `AUTH_MAX_FAILURES` within `AUTH_FAILURE_WINDOW` seconds, the
address (or account) is locked out for `AUTH_LOCKOUT` seconds after its last failure.

Every failure is written to the database, with its `auth.failed` activity event, so that every
instance counts it. But "is this address locked out?" is asked at every EHLO and every AUTH, and
is answered from memory, from three parts:
- the failures this process has recorded (written and committed);
- the attempts it is checking right now: an unknown secret counts as a failure from before its
  check until its outcome, so that guesses sent at the same moment cannot all be checked;
- its view of the database's count, read at most every `SHARED_VIEW_TTL` seconds (once for all
  the connections asking at that moment): failures recorded by other instances lock an address
  out here within that time.
So a login with the right password costs no write, and a connection no read.

`forget(...)` drops the view of one address or account, `clear()` every view: the next question
reads the database again. `heard` does it for the change bus: each failure is announced
(`Topic.LOGIN`), so another instance's failures lock an address out here at once on PostgreSQL
(on SQLite, those of another process within `SHARED_VIEW_TTL`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.core.exceptions import LoginRefused
from gateway.core.types.changes import Change, Topic
from gateway.storage import logins
from gateway.storage.database import Database

SHARED_VIEW_TTL = 5.0
"""Seconds a view of the database's failure count is used: how late another instance's failures
can be seen here."""

_MAX_TALLIES = 10_000


@dataclass(eq=False)
class _Tally:
    """One address's (or account's) failures, as this process knows them."""

    shared: int = 0
    """Failures in the database when the view was read."""
    shared_latest: datetime | None = None
    expires: float = 0.0
    """When the view must be read again (`time.monotonic()`; 0: never read, or forgotten)."""
    own: list[tuple[datetime, float]] = field(default_factory=list)
    """Failures recorded here since the view was read: (when, committed at `monotonic()`)."""
    checking: int = 0
    """Attempts being checked now, each counted as a failure until its outcome."""
    forgotten: float = 0.0
    """When the view was last forgotten (`monotonic()`): a read begun before is stale at once."""
    reading: asyncio.Lock = field(default_factory=asyncio.Lock)


class Throttle:
    """Failed logins of one service (`smtp`, `web` or `api`), per client address and
    (`per_account`) per account."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        service: str,
        *,
        per_account: bool = True,
        shared_ttl: float = SHARED_VIEW_TTL,
    ) -> None:
        self._db = db
        self._service = service
        self._per_account = per_account
        self._max_failures = settings.auth_max_failures
        self._window = timedelta(seconds=settings.auth_failure_window)
        self._lockout = timedelta(seconds=settings.auth_lockout)
        self._shared_ttl = shared_ttl
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def forget(self, *, client: str | None = None, username: str | None = None) -> None:
        """Read the database's count of `client` (and/or `username`) again at the next question:
        a failure was recorded elsewhere, or failures were purged."""
        for key in (("client", client), ("username", username)):
            if key[1] is not None and (tally := self._tallies.get((key[0], key[1]))):
                tally.expires, tally.forgotten = 0.0, time.monotonic()

    def clear(self) -> None:
        """Read the database again for every address and account."""
        now = time.monotonic()
        for tally in self._tallies.values():
            tally.expires, tally.forgotten = 0.0, now

    def heard(self, change: Change) -> None:
        """A subscriber of the change bus: a failure of this service was recorded (by any
        instance, this one too), or anything may have been missed (`RESET`)."""
        if change.topic is Topic.RESET:
            self.clear()
        elif change.topic is Topic.LOGIN:
            service, _, rest = change.key.partition(" ")
            if service == self._service:
                client, _, username = rest.partition(" ")
                self.forget(client=client, username=username if self._per_account else None)

    async def locked_out(self, *, client: str | None = None, username: str | None = None) -> float:
        """Seconds until the address (or account) may try again; 0 when it may now. Attempts
        being checked count as failures."""
        tallies = await self._tallies_of(client, username)
        return self._wait(tallies, mine=0)

    async def failed(self, client: str, username: str) -> None:
        """A failure of `client` as `username`, for the services that do not `check`."""
        await self._record(client, username)

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
        tallies = await self._tallies_of(client, self._account(username))
        if known:
            if wait := self._wait(tallies, mine=0):
                raise _locked_out(wait)
            return True
        for tally in tallies:
            tally.checking += 1
        try:
            if wait := self._wait(tallies, mine=1):
                raise _locked_out(wait)
            valid = await verify()
            if not valid:  # still counted as being checked until it is recorded
                await self._record(client, username)
            return valid
        finally:
            for tally in tallies:
                tally.checking -= 1

    def _account(self, username: str) -> str | None:
        return username if self._per_account else None

    async def _tallies_of(self, client: str | None, username: str | None) -> list[_Tally]:
        keys = [(kind, value) for kind, value in (("client", client), ("username", username))]
        return [await self._tally(kind, value) for kind, value in keys if value is not None]

    async def _tally(self, kind: str, value: str) -> _Tally:
        key = (kind, value)
        tally = self._tallies.get(key)
        if tally is None:
            if len(self._tallies) >= _MAX_TALLIES:
                self._prune()
            tally = self._tallies[key] = _Tally()
        if tally.expires > time.monotonic():
            return tally
        async with tally.reading:  # one read for every connection asking at this moment
            started = time.monotonic()
            if tally.expires > started:
                return tally
            count, latest = await logins.failures_since(
                self._db,
                datetime.now(UTC) - self._window,
                **{kind: value},
                service=self._service,
            )
            # Our failures committed before the read are in its count; later ones may not be
            # (one counted twice for a moment errs on the safe side).
            tally.own = [failure for failure in tally.own if failure[1] > started]
            tally.shared, tally.shared_latest = count, latest
            if tally.forgotten < started:  # else a change was heard meanwhile: read again next
                tally.expires = started + self._shared_ttl
        return tally

    def _prune(self) -> None:
        """Forget the views nobody is using, then (a flood of addresses) those with no failure."""
        now = time.monotonic()
        kept = {k: t for k, t in self._tallies.items() if t.checking or t.expires > now}
        if len(kept) >= _MAX_TALLIES // 2:
            kept = {k: t for k, t in kept.items() if t.checking or t.shared or t.own}
        self._tallies = kept

    def _wait(self, tallies: list[_Tally], *, mine: int) -> float:
        """Seconds of lockout left for the worst of `tallies`; `mine`: attempts among those
        being checked that are the caller's own (not counted against it)."""
        now = datetime.now(UTC)
        since = now - self._window
        wait = 0.0
        for tally in tallies:
            own = [at for at, _ in tally.own if at >= since]
            others = tally.checking - mine
            if tally.shared + len(own) + others < self._max_failures:
                continue
            moments = [*own, *([now] if others else [])]
            if tally.shared_latest is not None:
                moments.append(tally.shared_latest)
            wait = max(wait, (max(moments) + self._lockout - now).total_seconds())
        return max(0.0, wait)

    async def _record(self, client: str, username: str) -> None:
        """Write the failure; count it in the views held here (one not held yet will read it)."""
        moment = datetime.now(UTC)
        await logins.record_failure(self._db, client, username, moment, self._service)
        committed = time.monotonic()
        for key in (("client", client), ("username", self._account(username))):
            if key[1] is not None and (tally := self._tallies.get((key[0], key[1]))):
                tally.own.append((moment, committed))


def _locked_out(wait: float) -> LoginRefused:
    return LoginRefused(f"too many failed attempts: try again in {int(wait) + 1} seconds", wait)
