"""Which AWS account each tenant's calls go through, as a long-lived process asks it on every
send, domain operation and quota read.

Why a cache of the whole table: the question is asked for every SES call, and the answer
changes only when an operator moves a tenant (`tenant set --aws-account`) or changes an
account. The tenant→account table is read once (one query for every tenant), kept, and dropped
when the change bus says a tenant or an account changed (`Topic.TENANT`, `Topic.AWS_ACCOUNT`),
or after `ttl` seconds (what holds on SQLite for changes made by other processes). An account's
secrets are read only when its clients are made (`spec`), never kept here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from gateway.core.crypto import Sealer
from gateway.core.types.aws import DEFAULT_ACCOUNT, AwsAccountSpec
from gateway.core.types.changes import Change, Topic
from gateway.storage import awsaccounts
from gateway.storage.database import Database

TTL: Final = 10.0
"""Seconds the table is used before it is read again, whatever the change bus says."""


class TenantAccounts:
    """The `AccountResolver` of `gateway.aws.clients`: tenant → account name, cached."""

    TOPICS = (Topic.TENANT, Topic.AWS_ACCOUNT)
    """The topics whose changes `forget` drops the table for."""

    def __init__(self, db: Database, sealer: Callable[[], Sealer], ttl: float = TTL) -> None:
        """`sealer` opens the accounts' secrets (called when clients are made)."""
        self._db = db
        self._sealer = sealer
        self._ttl = ttl
        self._table: dict[str, str] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def _accounts(self) -> dict[str, str]:
        table = self._table
        if table is not None and time.monotonic() - self._read_at < self._ttl:
            return table
        async with self._lock:
            if self._table is None or time.monotonic() - self._read_at >= self._ttl:
                self._table = await awsaccounts.tenant_accounts(self._db)
                self._read_at = time.monotonic()
            return self._table

    async def account_of(self, tenant: str) -> str:
        """The account's name; `default` (the process's own credentials) when it has none."""
        return (await self._accounts()).get(tenant, DEFAULT_ACCOUNT)

    async def in_use(self) -> set[str]:
        """The accounts some tenant sends through, and the default account."""
        return {DEFAULT_ACCOUNT, *(await self._accounts()).values()}

    async def spec(self, name: str) -> AwsAccountSpec:
        return await awsaccounts.account_spec(self._db, self._sealer(), name)

    def forget(self, change: Change) -> None:
        """Drop the table (a subscriber of the change bus): a tenant moved, an account went."""
        self._table = None
