"""The change bus of a process: what was changed, here or (on PostgreSQL) by any process sharing
the database, handed to the parts that care, at once.

Why: a delivery worker in another process used to find a new message at its next poll, and the
policy's cached facts (pauses, limits, credentials, suppressions) used to go stale for up to
their time to live. Storage announces each change in the transaction that makes it
(`gateway.storage.changes`); this process hears its own at the commit and, on PostgreSQL, the
others' through one listening connection, kept up with backoff. Each time that connection is
made again, notifications may have been missed: every subscriber hears `Topic.RESET` (drop every
cached fact, claim now).

Subscribing: `bus.subscribe(callback, Topic.CREDENTIAL, ...)`. The callback runs on the event
loop for each change of those topics (every topic when none is given) and for every `RESET`;
it must be quick (drop entries, set an event) and should not raise (an error is logged, the
others still hear). A cache hooked up this way keeps a short time to live as well: it is what
holds on SQLite for changes made by other processes, and while the listener is reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from gateway.core.exceptions import DatabaseError
from gateway.core.logs import log_event
from gateway.core.types.changes import Change, Topic
from gateway.storage.changes import Listener
from gateway.storage.database import Database

log = logging.getLogger("gateway.changes")

Subscriber = Callable[[Change], None]

KEEPALIVE = 10.0
"""Seconds between two checks of a silent listening connection (a lost one that the network
does not report); a connection closed by the server is noticed at once."""
FIRST_RETRY = 0.1
LAST_RETRY = 5.0
"""Seconds before connecting again: from the first, doubling, at most the last (jittered)."""


class ChangeBus:
    """Subscribers by topic; on PostgreSQL, one listening connection while the bus is started
    (`start()` and `stop()` may be called by several roles: the connection is shared)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._subscribers: list[tuple[frozenset[Topic], Subscriber]] = []
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while the listening connection is up (on PostgreSQL)."""
        db.on_change = self.dispatch  # this process's own changes, at their commit

    def subscribe(self, callback: Subscriber, *topics: Topic) -> None:
        """`callback` hears every change of `topics` (of any topic when none) and every RESET."""
        self._subscribers.append((frozenset(topics), callback))

    def dispatch(self, change: Change) -> None:
        for topics, callback in self._subscribers:
            if change.topic is Topic.RESET or not topics or change.topic in topics:
                try:
                    callback(change)
                except Exception:
                    log.exception("a subscriber to changes failed on %s", change)

    def start(self) -> None:
        self._users += 1
        if self._task is None and not self._db.is_sqlite:
            self._task = asyncio.create_task(self._listen(), name="changes")

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users > 0 or self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _listen(self) -> None:
        """Listen; when the connection is lost, connect again (after 0.1 s, then doubling up to
        5 s), and tell every subscriber that anything may have changed meanwhile."""
        listener = Listener(self._db, self.dispatch)
        retry = FIRST_RETRY
        try:
            while True:
                connected = time.monotonic()
                try:
                    await listener.connect()
                    self.listening.set()
                    log_event(log, "changes-listening")
                    self.dispatch(Change(Topic.RESET))
                    await listener.until_lost(KEEPALIVE)
                    problem = "the connection was lost"
                except DatabaseError as exc:
                    problem = str(exc)
                except Exception as exc:  # never give up listening: the caches depend on it
                    log.exception("listening for changes failed")
                    problem = repr(exc)
                finally:
                    self.listening.clear()
                    await listener.close()
                if time.monotonic() - connected > LAST_RETRY:
                    retry = FIRST_RETRY  # it had been up for a while: not a flapping server
                wait = random.uniform(retry / 2, retry)
                log_event(
                    log,
                    "changes-lost",
                    level=logging.WARNING,
                    problem=problem,
                    retry_in=round(wait, 2),
                    note="cached facts last at most their time to live meanwhile",
                )
                await asyncio.sleep(wait)
                retry = min(retry * 2, LAST_RETRY)
        finally:
            await listener.dispose()
