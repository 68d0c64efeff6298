"""The durable spool: a message is committed to the database before the client hears `250`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from gateway.core.batching import Batcher
from gateway.core.crypto import Sealer
from gateway.core.types.messages import NewMessage
from gateway.storage import queue
from gateway.storage.database import Database


def new_queue_id() -> str:
    """Sortable by time (milliseconds), then 40 random bits: `0193A5C1F2B47C3E9D01A2`."""
    return f"{time.time_ns() // 1_000_000:012X}{secrets.token_hex(5).upper()}"


class Spool:
    """Stores messages with group commit, their content sealed. Each commit announces that
    messages are due (`Topic.QUEUED`): the workers of every process claim them at once. It
    closes the `SpillFile` of each large message it is given once the message is written (or
    could not be), whether or not its session still waits."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer
        self._batcher: Batcher[NewMessage] = Batcher(self._write)

    async def _write(self, messages: Sequence[NewMessage]) -> None:
        try:
            await queue.insert_messages(self._db, self._sealer, messages)
        finally:  # stored or not, the large ones' files are done with
            for message in messages:
                if message.rest is not None:
                    message.rest.file.close()

    def start(self) -> None:
        self._batcher.start()

    async def store(self, message: NewMessage) -> None:
        """Return once the message is durable; raise if it could not be stored."""
        await self._batcher.submit(message)

    async def store_all(self, messages: Sequence[NewMessage]) -> None:
        """`store` for messages made together (a campaign's chunk): in one transaction."""
        await self._batcher.submit_all(messages)

    async def stop(self) -> None:
        await self._batcher.stop()
