"""The tracking endpoints: the open pixel, tracked links and one-click unsubscribe.

- `GET /t/o/<token>.gif`: always the 1x1 transparent GIF, never cached; a genuine token's open
  is recorded.
- `GET /t/c/<token>`: records the click and redirects (302) to the URL signed into the token;
  an unknown or altered token gets 404 (only links the gateway wrote redirect).
- `GET /u/<token>`: a confirmation page with a button; changes nothing.
- `POST /u/<token>`: unsubscribes the recipient's contacts on the tenant's lists and suppresses
  it for the tenant (RFC 8058 one-click, or the button: the same request), 200.

A token is genuine only on the host it was written for (the request's `Host`): elsewhere it is
unknown. `HEAD` (which Starlette answers for every GET route) gets the same answer as `GET` and
records nothing.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from config import Settings
from gateway.core.exceptions import InvalidTokenError
from gateway.endpoints.errors import error
from gateway.storage import tracking as store
from gateway.storage.database import Database
from gateway.tracking.events import Hit, record
from gateway.tracking.tokens import LinkKind, Token, signing_keys, verify

log = logging.getLogger("gateway.tracking")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
"""A 1x1 transparent GIF."""
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
PAGE_HEADERS = {
    **NO_CACHE,
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p>{form}</main></body>
</html>
"""
BUTTON = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit">Unsubscribe</button></form>'
)


def page(title: str, text: str, button: bool = False) -> HTMLResponse:
    """A small HTML page; every value is escaped."""
    body = PAGE.format(
        title=html.escape(title), text=html.escape(text), form=BUTTON if button else ""
    )
    return HTMLResponse(body, headers=PAGE_HEADERS)


class TrackingEndpoints:
    def __init__(self, db: Database, settings: Settings, keys: Sequence[bytes]) -> None:
        self._db = db
        self._settings = settings
        self._keys = tuple(keys)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> TrackingEndpoints:
        return cls(db, settings, signing_keys(settings))

    def routes(self) -> list[Route]:
        return [
            Route("/t/o/{token}.gif", self.open, methods=["GET"]),
            Route("/t/c/{token}", self.click, methods=["GET"]),
            Route("/u/{token}", self.unsubscribe_page, methods=["GET"]),
            Route("/u/{token}", self.unsubscribe, methods=["POST"]),
        ]

    def _verify(self, request: Request, kind: LinkKind) -> Token:
        host = request.headers.get("host", "")
        return verify(self._keys, request.path_params["token"], kind, host)

    def _hit(self, request: Request, token: Token) -> Hit:
        return Hit(
            token,
            datetime.now(UTC),
            request.headers.get("user-agent", ""),
            request.client.host if request.client else "",
        )

    async def open(self, request: Request) -> Response:
        try:
            token = self._verify(request, LinkKind.OPEN)
            if request.method == "GET":
                await record(self._db, self._settings, self._hit(request, token))
        except InvalidTokenError:
            pass
        except Exception:
            log.exception("recording an open failed")
        return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)

    async def click(self, request: Request) -> Response:
        try:
            token = self._verify(request, LinkKind.CLICK)
        except InvalidTokenError as exc:
            return error(404, str(exc))
        try:
            if request.method == "GET":
                await record(self._db, self._settings, self._hit(request, token))
        except Exception:
            log.exception("recording a click failed; redirecting all the same")
        return RedirectResponse(token.url, status_code=302, headers=NO_CACHE)

    def _unsubscribe_token(self, request: Request) -> Token | Response:
        try:
            return self._verify(request, LinkKind.UNSUBSCRIBE)
        except InvalidTokenError as exc:
            return error(404, str(exc))

    async def unsubscribe_page(self, request: Request) -> Response:
        token = self._unsubscribe_token(request)
        if isinstance(token, Response):
            return token
        found = await store.find_recipient(self._db, token.queue_id, token.recipient_id)
        if found is None:
            return error(404, "this link's message is no longer known")
        text = f"Stop sending mail to {found.address}?"
        return page("Unsubscribe", text, button=True)

    async def unsubscribe(self, request: Request) -> Response:
        token = self._unsubscribe_token(request)
        if isinstance(token, Response):
            return token
        recipient = await record(self._db, self._settings, self._hit(request, token))
        if recipient is None:
            return error(404, "this link's message is no longer known")
        text = f"{recipient.address} will get no more mail from this sender."
        return page("Unsubscribed", text)
