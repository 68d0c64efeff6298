"""The write turn of a SQLite file: who writes next, decided without SQLite's busy handler.

SQLite has one write lock per file. A transaction that finds it taken waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, however soon the lock is
free: while a campaign keeps the lock busy half the time, an SMTP commit in another process
lost try after try and its client waited up to 180 ms for a `250` (docs/performance.md,
"The write turn"). So every write transaction of the gateway first takes this turn:

- within a process, an asyncio queue in which transactions a client waits for (`urgent`: an
  SMTP or API submission's commit) go before the others (a campaign's chunk, a claim);
- between processes, an advisory `flock` on a file beside the database. The kernel wakes the
  waiters the moment it is released (and releases it when its holder dies, even by kill -9).
  A waiting process only learns in a thread that the lock came free, then tries for it from
  its event loop: the process that gets there first wins, which is the one whose event loop is
  not busy making a campaign (SMTP's own).

SQLite's lock is taken under the turn, at once; its busy handler stays as the fallback for
writers that do not take the turn (the `sqlite3` shell, an older gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

from gateway.core.exceptions import DatabaseError

WAIT = 30.0
"""Seconds a writer waits for the turn before giving up with `DatabaseError`, as SQLite's own
busy timeout (`gateway.storage.database`) makes it give up on the lock."""


class WriteTurn:
    """One per `Database` on a SQLite file. `async with turn.taken(urgent):` around a write
    transaction."""

    def __init__(self, path: Path, wait: float = WAIT) -> None:
        self._path = path
        self._wait = wait
        self._fd: int | None = None
        """Opened by the first writer: a process that only reads never creates the file."""
        self._held = False
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}
        self._released: asyncio.Future[None] | None = None
        """The thread waiting for another process to let go: one at most, shared by the
        writers that wait, and left to finish by one that gave up."""

    @asynccontextmanager
    async def taken(self, urgent: bool) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + self._wait
        await self._in_process(urgent, deadline)
        try:
            fd = await self._across_processes(deadline)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._pass_on()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def _in_process(self, urgent: bool, deadline: float) -> None:
        if not self._held:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[urgent].append(waiter)
        try:
            await self._until(asyncio.shield(waiter), deadline, "a transaction of this process")
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # it was passed on to us: pass it on
                self._pass_on()
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):  # unless `_pass_on` dropped it already
                    self._waiting[urgent].remove(waiter)
            raise

    def _pass_on(self) -> None:
        """The next waiter of this process gets the turn, urgent ones first."""
        for queue in (self._waiting[True], self._waiting[False]):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False

    async def _across_processes(self, deadline: float) -> int:
        """Take the lock between processes; the file descriptor it is held on."""
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise DatabaseError(
                    f"the write turn's file {self._path} cannot be opened ({exc.strerror}): it"
                    " must be a file the gateway can create and write, beside the database"
                ) from exc
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self._released is None or self._released.done():
                    self._released = asyncio.ensure_future(asyncio.to_thread(self._until_released))
                await self._until(
                    asyncio.shield(self._released),
                    deadline,
                    f"another process (`fuser {self._path}` names it)",
                )
            else:
                return self._fd

    def _until_released(self) -> None:
        """Block (in a thread) until the process holding the lock lets it go. Through a file
        description of its own: locks are held per description, and the turn's is this
        process's."""
        fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            os.close(fd)  # and with it the lock, for the event loop to take

    async def _until(self, awaitable: Awaitable[None], deadline: float, holder: str) -> None:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(awaitable, max(remaining, 0))
        except TimeoutError:
            raise DatabaseError(
                f"database is locked: {holder} has held the write turn for longer than"
                f" {self._wait:g} seconds"
            ) from None
