"""`GET /metrics`: the metrics of this process (`gateway.metrics`) in the Prometheus text format.

One handler, two mounts: on the HTTP app for the bearer of `METRICS_TOKEN`, and without a token on
a listener of its own (`METRICS_HOST`, `METRICS_PORT`), which `serve` starts for any role. With
neither set, the HTTP app answers 404 and names the settings.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from config import Settings
from config.settings import ENV_PREFIX
from gateway.core import metrics
from gateway.core.exceptions import DatabaseError
from gateway.endpoints.errors import error
from gateway.storage import queue
from gateway.storage.database import Database


@dataclass(frozen=True)
class MetricsEndpoint:
    db: Database
    token: str | None = field(default=None, repr=False)
    """`METRICS_TOKEN`: the HTTP app serves the metrics to its bearer; None: not there."""
    listener: str | None = None
    """The URL of the metrics listener, when `METRICS_PORT` starts one."""

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> MetricsEndpoint:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        listener = None
        if settings.metrics_port:
            host = settings.metrics_host
            host = f"[{host}]" if ":" in host else host
            listener = f"http://{host}:{settings.metrics_port}/metrics"
        return cls(db, token, listener)

    async def scrape(self, request: Request) -> Response:
        """The metrics, to whoever reaches this handler (the metrics listener mounts it as is)."""
        try:
            body = await exposition(self.db)
        except DatabaseError as exc:
            return error(503, f"the queue cannot be read: {exc}")
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def guarded(self, request: Request) -> Response:
        """The metrics on the HTTP app: to the bearer of `METRICS_TOKEN` only."""
        if self.token is None:
            return error(404, self._where())
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = self.token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            reply = f"metrics need the header Authorization: Bearer <{ENV_PREFIX}METRICS_TOKEN>"
            return error(401, reply, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return await self.scrape(request)

    def _where(self) -> str:
        if self.listener:
            return (
                f"metrics are served at {self.listener}; "
                f"set {ENV_PREFIX}METRICS_TOKEN to serve them here too (with Authorization: Bearer)"
            )
        return (
            f"metrics are off: set {ENV_PREFIX}METRICS_TOKEN to serve them here (with "
            f"Authorization: Bearer), or {ENV_PREFIX}METRICS_PORT for a listener of their own"
        )


async def exposition(db: Database) -> bytes:
    """Every metric in the text format, the queue's gauges read from `db` now (`DatabaseError`
    when it cannot be read)."""
    waiting, oldest = await queue.pending_summary(db)
    metrics.queue_depth.set(waiting)
    age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    metrics.queue_oldest_age.set(max(0.0, age))
    return metrics.text()
