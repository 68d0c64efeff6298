"""What `sns setup` stored, as long-lived processes read it: the default configuration set that
sending uses, and the topics `/sns/ses` accepts besides the configured ones.

The command (`eventsetup.py`) runs once, in another process, and writes the shared database; the
workers and the SNS endpoint read it here, cached, so that a setup takes effect without a
restart and costs no query per message.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from gateway.feedback.sns import SnsVerifier
from gateway.storage import snssetups
from gateway.storage.database import Database

CACHE_SECONDS: Final = 30.0
"""How long a process sends with the default configuration set it read before reading it again."""


class StoredSnsSetup:
    """What `sns setup` stored, as a long-lived process reads it from the shared database: the
    default configuration set (read again after `ttl` seconds) and the topics it set up (read
    again when asked about a topic not allowed yet)."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS) -> None:
        self._db = db
        self._ttl = ttl
        self._lock = asyncio.Lock()
        self._default: str | None = None
        self._read_at: float | None = None

    def _stale(self) -> bool:
        return self._read_at is None or time.monotonic() - self._read_at >= self._ttl

    async def configuration_set(self) -> str | None:
        if self._stale():
            async with self._lock:
                if self._stale():
                    self._default = await snssetups.default_configuration_set(self._db)
                    self._read_at = time.monotonic()
        return self._default

    async def allow(self, verifier: SnsVerifier, topic_arn: str) -> None:
        """Add the stored topics to `verifier`'s allowed topics if `topic_arn` is one of them."""
        allowed = verifier.allowed_topics
        if allowed is None or topic_arn in allowed:
            return
        stored = await snssetups.topic_arns(self._db)
        if topic_arn in stored:
            verifier.allowed_topics = allowed | stored
