"""The panel's machinery: pages declared per module, the session and CSRF checks around every
page, rendering, confirmation of destructive actions, and errors (an HTML page for browsers,
the JSON error shape otherwise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from admin.ops.context import Actor, Context, Services
from admin.panel.render import environment
from admin.panel.session import Session, Sessions, same_token
from gateway.core.crypto import previous_keys
from gateway.core.exceptions import (
    GatewayError,
)
from gateway.core.times import parse_time
from gateway.endpoints.errors import answer, error
from gateway.storage import notifications, users

FLASH = "sgw_flash"

NAV = (
    ("/", "Dashboard", False),
    ("/domains", "Domains", False),
    ("/credentials", "Credentials", False),
    ("/messages", "Messages", False),
    ("/suppressions", "Suppressions", False),
    ("/lists", "Lists", False),
    ("/webhooks", "Webhooks", False),
    ("/templates", "Templates", False),
    ("/campaigns", "Campaigns", False),
    ("/activity", "Activity", False),
    ("/tenants", "Tenants", True),
    ("/users", "Users", True),
    ("/aws-accounts", "AWS accounts", True),
    ("/settings", "Settings", True),
)
"""(path, label, admins only) of the navigation bar."""


@dataclass
class Page:
    """One request to a page: who asks, the submitted form, and how to answer."""

    panel: Panel
    request: Request
    ctx: Context
    session: Session
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, UploadFile] = field(default_factory=dict)
    """On a `streamed` page: the uploaded files, spooled to disk, open while the page runs."""
    unread: int = 0
    """Unread notifications, for the badge in the navigation bar."""

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return self.panel.render(self, template, status, values)

    def redirect(self, url: str, flash: str | None = None) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        if flash:
            response.set_cookie(FLASH, quote(flash), max_age=60, path="/", httponly=True)
        return response

    def confirm(self, question: str, action: str = "Confirm") -> HTMLResponse | None:
        """None once the user confirmed; otherwise the page asking (the script of the panel
        asks in a dialog instead and submits with `confirmed` set)."""
        if self.form.get("confirmed") == "yes":
            return None
        fields = {k: v for k, v in self.form.items() if k not in ("csrf_token", "confirmed")}
        return self.render(
            "confirm.html",
            question=question,
            action=action,
            target=self.request.url.path,
            fields=fields,
            back=local_path(urlsplit(self.request.headers.get("referer", "/")).path),
        )

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def moment(self, name: str) -> datetime | None:
        """A date (`2026-01-17`) or a time (ISO 8601, UTC unless it says) of the query; `until`
        a date: the end of that day."""
        text = self.query(name)
        return parse_time(text, name, name, end_of_day=name == "until") if text else None


PageHandler = Callable[[Page], Awaitable[Response]]


@dataclass
class Pages:
    """A module's pages: `@pages.page("/path", methods=...)`."""

    handlers: list[tuple[str, tuple[str, ...], PageHandler]] = field(default_factory=list)
    streamed: set[str] = field(default_factory=set)
    """Paths whose uploads the handler reads as files (`Page.uploads`), of any size."""

    def page(
        self, path: str, methods: tuple[str, ...] = ("GET",), *, streamed: bool = False
    ) -> Callable[..., PageHandler]:
        """`streamed`: the page takes uploads of any size, kept on disk (not in `Page.files`)."""

        def register(handler: PageHandler) -> PageHandler:
            self.handlers.append((path, methods, handler))
            if streamed:
                self.streamed.add(path)
            return handler

        return register


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def local_path(target: str | None) -> str:
    """Where to go after sign-in: a path of this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


class Panel:
    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.services = services
        self.sessions = Sessions(
            [services.secret_key, *previous_keys(settings)],
            settings.session_lifetime,
            urlsplit(settings.base_url).scheme == "https",
        )
        self.env = environment()

    def routes(self, modules: list[Pages]) -> list[Route]:
        return [
            Route(path, self._serve(handler, path in pages.streamed), methods=list(methods))
            for pages in modules
            for path, methods, handler in pages.handlers
        ]

    def render(
        self, page: Page, template: str, status: int, values: dict[str, Any]
    ) -> HTMLResponse:
        flash = page.request.cookies.get(FLASH)
        context = {
            "actor": page.ctx.actor,
            "csrf_token": page.session.csrf,
            "nav": [(p, label) for p, label, admin in NAV if page.ctx.actor.is_admin or not admin],
            "path": page.request.url.path,
            "flash": flash and unquote(flash),
            "unread": page.unread,
            "errors": {},
            "form": page.form,
            **values,
        }
        response = HTMLResponse(self.env.get_template(template).render(context), status)
        if flash:
            response.delete_cookie(FLASH, path="/")
        return response

    def error_page(self, request: Request, status: int, message: str) -> Response:
        if not wants_html(request):
            return error(status, message)
        body = self.env.get_template("error.html").render(status=status, message=message)
        return HTMLResponse(body, status)

    async def _session(self, request: Request) -> tuple[Session, Actor] | None:
        session = self.sessions.read(request)
        if session is None:
            return None
        user = await users.session_user(self.services.db, session.user_id, session.key)
        return None if user is None else (session, Actor.of_user(user))

    def _serve(
        self, handler: PageHandler, streamed: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            async with AsyncExitStack() as stack:  # a streamed page's uploads stay open
                return await answer_page(request, stack)

        async def answer_page(request: Request, stack: AsyncExitStack) -> Response:
            signed_in = await self._session(request)
            if signed_in is None:
                if request.method != "GET":
                    return self.error_page(request, 401, "sign in first: your session has ended")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            session, actor = signed_in
            if any(isinstance(v, int) and v >= 2**63 for v in request.path_params.values()):
                return self.error_page(request, 404, "no such record")
            if any("\x00" in value for value in request.query_params.values()):
                return self.error_page(request, 400, "text must not contain NUL characters")
            client = request.client.host if request.client else None
            page = Page(self, request, Context(self.services, actor, client), session)
            if request.method == "POST":
                # Uploads (CSV files) are spooled to disk; a page not `streamed` reads them
                # whole. A bounded number of fields, each of up to 16 MiB.
                limits = {"max_files": 2, "max_fields": 200, "max_part_size": 16 * 1024 * 1024}
                form = await stack.enter_async_context(request.form(**limits))
                if not same_token(session.csrf, form.get("csrf_token")):
                    return self.error_page(
                        request,
                        403,
                        "this form has expired or came from another site: reload "
                        "the page and submit it again",
                    )
                for key, value in form.multi_items():
                    if isinstance(value, str) and "\x00" in value:
                        return self.error_page(request, 400, "text must not contain NUL characters")
                    if isinstance(value, str):
                        page.form[key] = value.strip() if key != "password" else value
                    elif value.filename and streamed:
                        page.uploads[key] = value
                    elif value.filename:
                        page.files[key] = await value.read()
            try:
                page.unread = await notifications.unread_count(
                    self.services.db, page.ctx.tenant_name()
                )
                return await handler(page)
            except GatewayError as exc:
                status, _, message = answer(exc)
                return self.error_page(request, status, message)

        return serve


def field_errors(exc: GatewayError, default_field: str = "") -> dict[str, str]:
    """A refusal as the errors of a form: under its field when it names one."""
    return {getattr(exc, "field", None) or default_field: str(exc)}
