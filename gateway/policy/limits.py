"""Per-tenant rate and connection limits within one process.

The daily cap is shared by every instance through the database (`usage`). The per-second rate
and the concurrent connections (per tenant, and per client address) are counted here, per
process: with N SMTP instances a tenant can reach at most N times its rate and its connection
limit (documented as such).
"""

from __future__ import annotations

import time
from collections import Counter

from config import Settings
from gateway.core.types.tenants import Account, Limits


def effective(account: Account, settings: Settings) -> Limits:
    """The limits in force for the account: its own, else the global defaults."""
    own = account.limits or Limits()
    return Limits(
        max_per_second=own.max_per_second or settings.default_max_per_second,
        max_per_day=own.max_per_day or settings.default_max_per_day,
        max_recipients=min(own.max_recipients or settings.max_recipients, settings.max_recipients),
        max_connections=own.max_connections or settings.default_max_connections,
        max_size=min(own.max_size or settings.message_size_limit, settings.message_size_limit),
    )


class RateLimiter:
    """A token bucket per tenant: `rate` messages a second, bursts up to one second's worth."""

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, tenant_id: int, rate: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be."""
        now = time.monotonic()
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(tenant_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[tenant_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[tenant_id] = (tokens, now)
        return (1.0 - tokens) / rate


class ConnectionCounter:
    """Open sessions per key, in this process: per tenant (authenticated sessions) and per client
    address (every connection)."""

    def __init__(self) -> None:
        self._open: Counter[int | str] = Counter()

    def open(self, key: int | str, limit: int | None) -> bool:
        if limit is not None and self._open[key] >= limit:
            return False
        self._open[key] += 1
        return True

    def close(self, key: int | str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]
