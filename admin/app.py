"""The HTTP app (Starlette): liveness, readiness, the SNS endpoint, the tracking endpoints and
`/metrics`; and the metrics listener's app. Every error is a JSON body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from admin.api import api_mount
from admin.ops.context import Services
from admin.panel import panel_routes
from admin.security import SecurityHeaders
from gateway.core.exceptions import DatabaseError
from gateway.endpoints.errors import error
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.endpoints.sns import SnsEndpoint
from gateway.endpoints.tracking import TrackingEndpoints
from gateway.storage.database import Database


@dataclass(frozen=True)
class Readiness:
    """What `/readyz` checks: the database, and the SES client when this process sends."""

    db: Database
    ses_ready: Callable[[], bool] | None = None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error(500, "internal error: the gateway's log has the details")


_HANDLERS: dict[type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]] = {
    HTTPException: _http_error,
    500: _server_error,
}


def create_app(
    readiness: Readiness,
    sns: SnsEndpoint | None = None,
    tracking: TrackingEndpoints | None = None,
    metrics: MetricsEndpoint | None = None,
    services: Services | None = None,
) -> Starlette:
    """`services`: serve the admin panel and the JSON API too."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await readiness.db.ping()
            checks["database"] = "ok"
        except DatabaseError as exc:
            checks["database"] = str(exc)
        if readiness.ses_ready is not None:
            checks["ses"] = "ok" if readiness.ses_ready() else "SES client not open"
        failing = {k: v for k, v in checks.items() if v != "ok"}
        if failing:
            message = "; ".join(f"{k}: {v}" for k, v in failing.items())
            return JSONResponse(
                {
                    "status": "unavailable",
                    "checks": checks,
                    "error": {"status": 503, "message": message},
                },
                status_code=503,
            )
        return JSONResponse({"status": "ready", "checks": checks})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *([Route("/sns/ses", sns.handle, methods=["POST"])] if sns else []),
            *(tracking.routes() if tracking else []),
            *([Route("/metrics", metrics.guarded)] if metrics else []),
            *([api_mount(services), *panel_routes(services)] if services else []),
        ],
        exception_handlers=_HANDLERS,
        middleware=[Middleware(SecurityHeaders)],
    )


def create_metrics_app(metrics: MetricsEndpoint) -> Starlette:
    """The metrics listener's app: `/metrics` without a token, nothing else."""
    return Starlette(routes=[Route("/metrics", metrics.scrape)], exception_handlers=_HANDLERS)
