"""Every HTTP error of the gateway as one JSON shape:
`{"error": {"status": 404, "code": "not_found", "message": "...", "field": "..."}}`
(`field` only when one input is at fault); and the one table of which of our errors is answered
with which status, for the API and the panel alike."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.responses import JSONResponse

from gateway.core.exceptions import (
    AccessDenied,
    ConflictError,
    DatabaseError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    Route53Error,
    SesError,
)

log = logging.getLogger("gateway.http")

ERRORS: tuple[tuple[type[GatewayError], int, str], ...] = (
    (InvalidInputError, 400, "invalid_input"),
    (AccessDenied, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (SesError, 502, "ses_error"),
    (Route53Error, 502, "route53_error"),
    (DatabaseError, 503, "unavailable"),
)
"""Each error of ours, the HTTP status and the `code` it is answered with (first match wins)."""

INTERNAL = (500, "internal_server_error", "internal error: the gateway's log has the details")
"""The answer to any other error: a fault of the gateway, whose words are not for clients."""


def answer(exc: GatewayError) -> tuple[int, str, str]:
    """(status, code, message) of an error raised while serving the API or the panel. One not
    in the table is a fault of ours: logged with its traceback, as the answer promises."""
    for kind, status, code in ERRORS:
        if isinstance(exc, kind):
            return status, code, str(exc)
    log.error("an HTTP request failed: %s", type(exc).__name__, exc_info=exc)
    return INTERNAL


def error(
    status: int,
    message: str,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {
        "status": status,
        "code": code or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
        "message": message,
    }
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)
