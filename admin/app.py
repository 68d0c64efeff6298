"""The HTTP app (Starlette): the data plane's endpoints (`gateway.endpoints`: liveness,
readiness, SNS, tracking, `/metrics`) with, given `Services`, the panel and the API; and the
metrics listener's app. Every error is a JSON body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.api import api_mount
from admin.ops.context import Services
from admin.panel import panel_routes
from admin.security import SecurityHeaders
from gateway.endpoints.errors import error
from gateway.endpoints.health import Readiness
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.endpoints.sns import SnsEndpoint
from gateway.endpoints.tracking import TrackingEndpoints


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

    return Starlette(
        routes=[
            *readiness.routes(),
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
