"""One table of errors: the API and the panel answer each error of ours with the same status,
the error shape the same, and an error not in the table with 500 and no words of its own."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount

from admin.api.base import Api, Call, RateLimit
from admin.ops.context import Context
from admin.panel.base import Page, Pages, Panel
from gateway.core.exceptions import (
    AccessDenied,
    ConflictError,
    DatabaseError,
    DecryptionError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
    SesPermanentError,
    SesSetupError,
)
from tests.support.http import serving
from tests.support.site import Site

INTERNAL = "internal error: the gateway's log has the details"


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [
        (InvalidInputError("bad"), 400, "bad"),
        (AccessDenied("no"), 403, "no"),
        (NotFoundError("none"), 404, "none"),
        (ConflictError("taken"), 409, "taken"),
        (SesPermanentError("MessageRejected", "no"), 502, "MessageRejected: no"),
        (DatabaseError("down"), 503, "down"),
        (DecryptionError("secret key 3f"), 500, INTERNAL),
        (SchemaError("old schema"), 500, INTERNAL),
        (SesSetupError("no region"), 500, INTERNAL),
    ],
)
async def test_the_api_and_the_panel_answer_an_error_alike(
    site: Site,
    raised: GatewayError,
    status: int,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real machinery of both, serving one endpoint and one page that raise `raised`."""
    api = Api()
    pages = Pages()

    @api.endpoint("GET", "/raise", summary="raise", tag="test", response=None)
    async def endpoint(ctx: Context, call: Call) -> None:
        raise raised

    @pages.page("/raise")
    async def page(page: Page) -> Response:
        raise raised

    routes = api.routes(site.services, RateLimit(100, 100))
    app = Starlette(routes=[Mount("/api/v1", routes=routes), *Panel(site.services).routes([pages])])
    async with serving(app) as url:
        from_api = await (await site.api(await site.key())).get(f"{url}/api/v1/raise")
        # the session cookie of 127.0.0.1 goes to the test app's port too
        browser = await site.browser(await site.user("admin"))
        from_panel = await browser.get(f"{url}/raise", headers={"accept": "application/json"})
        from_page = await browser.get(f"{url}/raise")
    assert (from_api.status_code, from_panel.status_code, from_page.status_code) == (status,) * 3
    assert from_api.json()["error"]["message"] == message
    assert from_panel.json()["error"]["message"] == message
    assert message in from_page.text.replace("&#39;", "'")
    logged = [r for r in caplog.records if r.name == "gateway.http"]
    if status == 500:  # a fault of ours: each answer logged with its traceback
        assert len(logged) == 3
        assert all(r.exc_info and r.exc_info[1] is raised for r in logged)
    else:
        assert logged == []
