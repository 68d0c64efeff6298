"""The refusal log: every command the policy refuses, recorded before its reply goes out.

Refusals come in bursts (a misconfigured client retrying, a spam run against a paused tenant),
so they are written by group commit (`gateway.core.batching`): one transaction for all that
arrive together, however many sessions are refusing at once. The panel and API list and count
them (`gateway.storage.refusals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from gateway.core.batching import Batcher
from gateway.core.types.messages import Principal
from gateway.core.types.tenants import RefusalRecord
from gateway.storage import refusals
from gateway.storage.database import Database


class RefusalLog:
    """Records refusals in batches, between `start()` and `stop()`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._batcher: Batcher[RefusalRecord] = Batcher(self._write)

    async def _write(self, records: Sequence[RefusalRecord]) -> None:
        await refusals.record_refusals(self._db, records)

    def start(self) -> None:
        self._batcher.start()

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        await self._batcher.stop()

    async def record(
        self,
        principal: Principal | None,
        rule: str,
        reply: str,
        client_address: str,
        sender: str | None = None,
        recipient: str | None = None,
    ) -> None:
        """Record a refusal; returns once it is committed."""
        record = RefusalRecord(
            principal.tenant_id if principal else None,
            principal.credential_id if principal else None,
            rule,
            sender,
            recipient,
            client_address,
            reply,
            datetime.now(UTC),
        )
        await self._batcher.submit(record)
