"""Every HTTP error of the gateway as one JSON shape:
`{"error": {"status": 404, "code": "not_found", "message": "...", "field": "..."}}`
(`field` only when one input is at fault)."""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse


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
