"""The JSON API's machinery: endpoints declared with their input and output models, bearer-key
authentication, the per-key rate limit, and one error shape:
`{"error": {"code": ..., "message": ..., "field": ...}}`.

The models that validate a request and shape its answer are the ones the OpenAPI document is
built from (`admin/api/openapi.py`), so the two cannot drift apart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from admin.ops.context import Actor, Context, Services
from config import Settings
from gateway.core.exceptions import (
    GatewayError,
    InvalidInputError,
    LoginRefused,
)
from gateway.core.times import parse_time
from gateway.endpoints.errors import answer, error
from gateway.storage.pages import MAX_LIMIT


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.headers = headers

    def response(self) -> JSONResponse:
        return error(self.status, str(self), self.code, self.field, self.headers)

    @classmethod
    def of(cls, exc: GatewayError) -> ApiError:
        status, code, message = answer(exc)
        return cls(status, code, message, getattr(exc, "field", None))

    @classmethod
    def invalid(cls, exc: ValidationError) -> ApiError:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return cls(400, "invalid_input", f"{where or 'body'}: {first['msg']}", where or None)


def _time(value: object) -> datetime:
    """Text only (pydantic would read a number as seconds since 1970), read as everywhere else
    (`gateway.times.parse_time`)."""
    if not isinstance(value, str):
        raise ValueError("give an ISO date or datetime such as 2026-01-17T14:00:00Z")
    try:
        return parse_time(value)
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None


QueryTime = Annotated[datetime, BeforeValidator(_time)]
"""A time in a query: an ISO date (midnight UTC) or datetime (UTC unless it gives an offset)."""

WHEN = "an ISO date (midnight UTC) or datetime (UTC unless it gives an offset)"
"""How a time given as text is read, for the descriptions of such members."""

NextCursor = Annotated[
    str | None, Field(description="the `cursor` of the next page; null: the last")
]
"""The `next_cursor` of a paged list."""


class TenantFilter(BaseModel):
    """The query of a list of a tenant's records: an admin may name the tenant."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(default="", max_length=63, description="admins: only this tenant's")


class Paging(BaseModel):
    """The members of a paged list's query besides its filters."""

    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    cursor: str = Field(default="", max_length=200, description="the previous page's `next_cursor`")


T = TypeVar("T")


def filters(query: BaseModel, into: Callable[..., T]) -> T:
    """The filters of a list's query (its members but `Paging`'s) as `into`'s arguments."""
    return into(**query.model_dump(exclude=set(Paging.model_fields)))


@dataclass(frozen=True, slots=True)
class Call:
    """One request's validated parts: the path parameters, the query and the JSON body."""

    request: Request
    path: dict[str, Any]
    query: Any
    body: Any


Handler = Callable[[Context, Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    content_type: str = "application/json"
    """`text/csv` for exports: the handler then returns the text itself."""
    accepts: str | None = None
    """A body of this type (`text/csv` for imports), which the handler reads itself (it may
    stream it: nothing before the handler reads it)."""
    max_body: Callable[[Settings], int] | None = None
    """The largest body taken, in bytes: a longer one is refused (413) before it is read whole."""
    headers: tuple[tuple[str, str], ...] = ()
    """Request header fields the endpoint reads (name, description), for the OpenAPI document."""
    errors: tuple[tuple[int, str], ...] = ()
    """Error statuses of this endpoint besides every endpoint's (status, when)."""


class RateLimit:
    """A token bucket per key: `rate` requests a second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0


@dataclass
class Api:
    """The registry of endpoints; each resource module adds its own with `endpoint`."""

    endpoints: list[Endpoint] = field(default_factory=list)

    def endpoint(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        response: type[BaseModel] | None,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        status: int = 200,
        content_type: str = "application/json",
        accepts: str | None = None,
        max_body: Callable[[Settings], int] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        errors: tuple[tuple[int, str], ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    response,
                    query,
                    body,
                    status,
                    content_type,
                    accepts,
                    max_body,
                    headers,
                    errors,
                )
            )
            return handler

        return register

    def routes(self, services: Services, limit: RateLimit) -> list[Route]:
        """`limit`: the one rate limit of every endpoint of the API."""
        return [
            Route(e.path, _serve(e, services, limit), methods=[e.method]) for e in self.endpoints
        ]


async def authenticate(services: Services, request: Request) -> Actor:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(
            401,
            "unauthorized",
            "send an API key as `Authorization: Bearer <key>` (`ses-gateway apikey create`)",
            **{"WWW-Authenticate": "Bearer"},
        )
    client = request.client.host if request.client else "unknown"
    try:
        found = await services.api_keys.authenticate(key.strip(), client)
    except LoginRefused as exc:
        raise ApiError(
            429, "rate_limited", str(exc), **{"Retry-After": str(int(exc.retry_after) + 1)}
        ) from exc
    if found is None:
        raise ApiError(
            401,
            "unauthorized",
            "this API key is unknown or revoked",
            **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Actor.of_key(found)


def _checked_path(params: dict[str, Any]) -> dict[str, Any]:
    """Path parameters; an integer no database can hold names nothing (404)."""
    for value in params.values():
        if isinstance(value, int) and value >= 2**63:
            raise ApiError(404, "not_found", f"no record with id {value}")
    return params


NUL = "text must not contain NUL characters"


async def _read(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to be longer than `limit` bytes: by its
    Content-Length, else as it comes."""
    too_long = ApiError(413, "too_large", f"the body is too large: at most {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_long
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_long
        chunks.append(chunk)
    return b"".join(chunks)


async def _inputs(endpoint: Endpoint, request: Request, settings: Settings) -> tuple[Any, Any]:
    query = body = None
    for name, value in request.query_params.items():
        if "\x00" in value:
            raise ApiError(400, "invalid_input", f"{name}: {NUL}", name)
    raw = b""
    if endpoint.accepts is None:  # else the handler reads (streams) the body itself
        if endpoint.max_body is None:
            raw = await request.body()
        else:
            raw = await _read(request, endpoint.max_body(settings))
    if b"\\u0000" in raw:
        raise ApiError(400, "invalid_input", NUL)
    try:
        if endpoint.query is not None:
            query = endpoint.query.model_validate(dict(request.query_params))
        if endpoint.body is not None:
            if not raw:
                raise ApiError(400, "invalid_input", "send a JSON object as the body")
            body = endpoint.body.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError.invalid(exc) from exc
    return query, body


def _serve(endpoint: Endpoint, services: Services, limit: RateLimit) -> Callable[..., Any]:
    async def serve(request: Request) -> Response:
        try:
            actor = await authenticate(services, request)
            wait = limit.take(actor.name)
            if wait:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests with this key: retry in {wait:.1f} seconds",
                    **{"Retry-After": str(int(wait) + 1)},
                )
            query, body = await _inputs(endpoint, request, services.settings)
            client = request.client.host if request.client else None
            ctx = Context(services, actor, client)
            call = Call(request, _checked_path(dict(request.path_params)), query, body)
            result = await endpoint.handler(ctx, call)
        except ApiError as exc:
            return exc.response()
        except GatewayError as exc:
            return ApiError.of(exc).response()
        if isinstance(result, Response):  # made by the handler (a replayed answer)
            return result
        if endpoint.content_type != "application/json":
            if isinstance(result, AsyncIterator):  # a large export, written as it is read
                return StreamingResponse(result, media_type=endpoint.content_type)
            return Response(result, media_type=endpoint.content_type)
        if endpoint.response is None:
            return Response(status_code=endpoint.status)
        document = endpoint.response.model_validate(result, from_attributes=True)
        return Response(
            document.model_dump_json(),
            status_code=endpoint.status,
            media_type="application/json",
        )

    return serve
