"""The claim loop that delivery workers and the webhook dispatcher share: claim due rows under a
lease, run each in a task of its own, keep at most `concurrency` in flight, claim again as soon
as enough slots are free (or when woken), else poll.

A row claimed again while it is still in flight here (its lease ran out) is not started twice.

Why one helper: the two loops were written twice and drifted (one stopped with a bound, the other
without). The rows are leased by storage (`gateway.storage.leases`), so a process that dies
leaves them to be claimed again when the lease runs out: a duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from gateway.core.exceptions import DatabaseError

T = TypeVar("T")

Claim = Callable[[int], Awaitable[Sequence[T]]]
"""Claim at most that many due rows (leasing them); may raise: logged, tried again shortly."""


class ClaimLoop(Generic[T]):
    """Claims rows with `claim` and hands each to `handle` in its own task, until `stop()`."""

    def __init__(
        self,
        name: str,
        claim: Claim[T],
        handle: Callable[[T], Coroutine[Any, Any, None]],
        key: Callable[[T], str],
        *,
        concurrency: int,
        batch: int,
        poll_interval: float,
        log: logging.Logger,
        enough: int = 1,
        gather: float = 0.0,
    ) -> None:
        """`batch`: the most rows one claim asks for; `enough`: how many slots must be free
        before claiming (under load, a claim per finished row costs more than it gains);
        `gather`: seconds to wait once woken, so that one claim takes the rows that came
        meanwhile rather than one claim each."""
        self.name = name
        self._claim = claim
        self._handle = handle
        self._key = key
        self._concurrency = concurrency
        self._batch = batch
        self._enough = enough
        self._poll_interval = poll_interval
        self._gather = gather
        self._log = log
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._running = False
        self._ended = asyncio.Event()

    def wake(self) -> None:
        """Rows are due: claim now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Claim until `stop()`; then wait for the rows in flight."""
        self._running = True
        try:
            while not self._stopping:
                self._wake.clear()
                free = self._concurrency - len(self.inflight)
                if free >= self._enough:
                    wanted = min(free, self._batch)
                    rows: Sequence[T] = ()
                    try:
                        rows = await self._claim(wanted)
                    except DatabaseError as exc:  # down or full: the cause is enough
                        self._log.error(
                            "%s: claiming failed; trying again shortly: %s", self.name, exc
                        )
                    except Exception:
                        self._log.exception("%s: claiming failed; trying again shortly", self.name)
                    for row in rows:
                        self._start(row)
                    if rows and len(rows) == wanted:
                        continue  # more may be due
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                    if self._gather:
                        await asyncio.sleep(self._gather)
        finally:
            self._ended.set()
        while self.inflight:
            await asyncio.wait(list(self.inflight.values()))

    def _start(self, row: T) -> None:
        key = self._key(row)
        if key in self.inflight:
            # Its lease ran out while this process was still at it (the database was too slow
            # for the renewals), and the claim took it again: it must not be sent twice from here.
            self._log.warning("%s: %s claimed again while in flight here", self.name, key)
            return
        task = asyncio.create_task(self._handle(row), name=f"{self.name}-{key}")
        self.inflight[key] = task
        task.add_done_callback(lambda _: self._done(key))

    def _done(self, key: str) -> None:
        self.inflight.pop(key, None)
        self._wake.set()

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let the rows in flight finish, those still running after `grace`
        seconds (None: no bound) cancelled."""
        self._stopping = True
        self._wake.set()
        if self._running:
            # A claim in progress still starts tasks: wait for it to end, then for them.
            await self._ended.wait()
        pending = list(self.inflight.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
