"""`/healthz` (the process answers) and `/readyz` (it can do its work: the database answers, and
the SES client is open where this process sends), for load balancers and orchestrators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core.exceptions import DatabaseError
from gateway.storage.database import Database


@dataclass(frozen=True)
class Readiness:
    """What `/readyz` checks: the database, and the SES client when this process sends."""

    db: Database
    ses_ready: Callable[[], bool] | None = None

    def routes(self) -> list[Route]:
        return [Route("/healthz", healthz), Route("/readyz", self.readyz)]

    async def readyz(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except DatabaseError as exc:
            checks["database"] = str(exc)
        if self.ses_ready is not None:
            checks["ses"] = "ok" if self.ses_ready() else "SES client not open"
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


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
