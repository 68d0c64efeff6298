"""The admin panel: server-rendered pages (Jinja2) that work without JavaScript. One module per
area, each with its own `pages` registry; the operations behind them are in `admin/ops/`."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from admin.ops.context import Services
from admin.panel import (
    account,
    activity,
    awsaccounts,
    campaigns,
    contacts,
    credentials,
    dashboard,
    domains,
    messages,
    settings,
    suppressions,
    templates,
    tenants,
    webhooks,
)
from admin.panel.base import Panel

AREAS = (
    account,
    tenants,
    credentials,
    domains,
    activity,
    settings,
    suppressions,
    webhooks,
    awsaccounts,
    templates,
    messages,
    dashboard,
    contacts,
    campaigns,
)


def panel_routes(services: Services) -> list[BaseRoute]:
    panel = Panel(services)
    static = StaticFiles(directory=Path(__file__).parent / "static")
    return [
        *account.login_routes(panel),
        *panel.routes([area.pages for area in AREAS]),
        Mount("/static", static, name="static"),
    ]
