"""The HTTP app (Starlette): liveness, readiness, the SNS endpoint and the tracking endpoints.
Every error is a JSON body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from admin.sns import SnsEndpoint, error
from admin.tracking import TrackingEndpoints
from gateway.exceptions import DatabaseError
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


def create_app(
    readiness: Readiness,
    sns: SnsEndpoint | None = None,
    tracking: TrackingEndpoints | None = None,
) -> Starlette:
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

    handlers: dict[type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_error,
        500: _server_error,
    }
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *([Route("/sns/ses", sns.handle, methods=["POST"])] if sns else []),
            *(tracking.routes() if tracking else []),
        ],
        exception_handlers=handlers,
    )
