"""What `sns setup` stored, as long-lived processes read it: the default configuration set that
sending through each AWS account uses, and the topics `/sns/ses` accepts besides the configured
ones, each with the account it was set up in.

The command (`eventsetup.py`) runs once, in another process, and writes the shared database; the
workers and the SNS endpoint read it here, cached, so that a setup takes effect without a
restart and costs no query per message.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.feedback.sns import SnsVerifier
from gateway.storage import snssetups
from gateway.storage.database import Database

CACHE_SECONDS: Final = 30.0
"""How long a process uses what it read (default configuration sets, topics) before reading it
again; a topic not known yet is looked up at once."""


class StoredSnsSetup:
    """What `sns setup` stored, as a long-lived process reads it from the shared database."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS) -> None:
        self._db = db
        self._ttl = ttl
        self._lock = asyncio.Lock()
        self._defaults: dict[str, str] = {}
        self._defaults_at: float | None = None
        self._topics: dict[str, str] = {}
        self._topics_at: float | None = None

    def _stale(self, read_at: float | None) -> bool:
        return read_at is None or time.monotonic() - read_at >= self._ttl

    async def configuration_set(self, account: str = DEFAULT_ACCOUNT) -> str | None:
        """The configuration set sending through `account` uses; None: none was set up."""
        if self._stale(self._defaults_at):
            async with self._lock:
                if self._stale(self._defaults_at):
                    self._defaults = await snssetups.default_configuration_sets(self._db)
                    self._defaults_at = time.monotonic()
        return self._defaults.get(account)

    async def topic_account(self, topic_arn: str) -> str | None:
        """The AWS account the topic was set up in; None when `sns setup` did not set it up
        (or its account was removed since)."""
        if topic_arn not in self._topics or self._stale(self._topics_at):
            async with self._lock:
                self._topics = await snssetups.topic_accounts(self._db)
                self._topics_at = time.monotonic()
        return self._topics.get(topic_arn)

    def forget(self, change: object = None) -> None:
        """Read everything again at the next question (a subscriber of the change bus: an AWS
        account was removed, and its topics are no longer accepted)."""
        self._defaults_at = self._topics_at = None

    async def allow(self, verifier: SnsVerifier, topic_arn: str) -> str | None:
        """Add the topic to `verifier`'s allowed topics if it is a stored one; its account."""
        account = await self.topic_account(topic_arn)
        allowed = verifier.allowed_topics
        if account is not None and allowed is not None and topic_arn not in allowed:
            verifier.allowed_topics = allowed | {topic_arn}
        return account
