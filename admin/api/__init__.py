"""The JSON API under `/api/v1`: one module per resource, each with its own `api` registry."""

from __future__ import annotations

from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from admin.api import (
    activity,
    awsaccounts,
    campaigns,
    contacts,
    credentials,
    domains,
    emails,
    messages,
    settings,
    stats,
    suppressions,
    templates,
    tenants,
    webhooks,
)
from admin.api.base import Endpoint, RateLimit
from admin.api.openapi import openapi
from admin.ops.context import Services

RESOURCES = (
    tenants,
    credentials,
    domains,
    activity,
    settings,
    suppressions,
    webhooks,
    awsaccounts,
    messages,
    emails,
    stats,
    templates,
    contacts,
    campaigns,
)


def endpoints() -> list[Endpoint]:
    return [e for module in RESOURCES for e in module.api.endpoints]


def api_mount(services: Services) -> Mount:
    document = openapi(endpoints(), version("ses-gateway"))

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    limit = RateLimit(services.settings.api_rate_limit, services.settings.api_rate_burst)
    routes: list[BaseRoute] = [Route("/openapi.json", openapi_json)]
    for module in RESOURCES:
        routes += module.api.routes(services, limit)
    return Mount("/api/v1", routes=routes)
