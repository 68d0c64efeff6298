"""The periodic work of a worker process, as one registry of named tasks.

Each task is one round of work (`run`), repeated every `interval` seconds; a failed round is
logged and the next one comes at its time. A task with a `lease` runs in one process at a time
across every instance sharing the database: the round is skipped unless this process holds the
named lease (taken or renewed for `lease_ttl` seconds). Why a registry rather than a loop per
module: what runs, how often and under which lease is read in one place (`worker_tasks` in
`gateway.runtime.roles` builds the list), and every loop stops the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.core.exceptions import DatabaseError
from gateway.storage import leases as lease_store
from gateway.storage.database import Database


@dataclass(frozen=True, slots=True)
class Periodic:
    """A named round of work repeated every `interval` seconds."""

    name: str
    run: Callable[[], Awaitable[object]]
    interval: float
    log: logging.Logger
    failure: str
    """Logged to `log` (with the traceback) when a round fails."""
    lease: str | None = None
    """The named lease that keeps the task to one process at a time; None: every process."""
    lease_ttl: float = 0.0
    busy: Callable[[], bool] | None = None
    """Asked after a round: True (more work is waiting, and nothing paces it) runs the next
    round at once, the lease renewed, not `interval` later."""


class Schedule:
    """Runs the registered tasks until `stop()`."""

    def __init__(
        self, tasks: Iterable[Periodic], db: Database | None = None, owner: str = ""
    ) -> None:
        """`db` and `owner` (this process, as leases name it) are needed for leased tasks."""
        self._db = db
        self._owner = owner
        self.tasks = tuple(tasks)
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = [asyncio.create_task(self._forever(t), name=t.name) for t in self.tasks]

    async def stop(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running = []

    async def _holds_lease(self, task: Periodic) -> bool:
        if task.lease is None:
            return True
        assert self._db is not None, "a leased task needs the database"
        now = datetime.now(UTC)
        until = now + timedelta(seconds=task.lease_ttl)
        return await lease_store.acquire_lease(self._db, task.lease, self._owner, now, until)

    async def _forever(self, task: Periodic) -> None:
        while True:
            try:
                if await self._holds_lease(task):
                    await task.run()
            except DatabaseError as exc:  # the database is away or full: one line says so
                task.log.error("%s: %s", task.failure, exc)
            except Exception:
                task.log.exception(task.failure)
            else:
                if task.busy is not None and task.busy():
                    await asyncio.sleep(0)  # let the rest of the process have its turn
                    continue
            await asyncio.sleep(task.interval)
