"""Signing in and out, and changing one's password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from admin.ops import tenants
from admin.panel.base import Page, Pages, Panel, field_errors, local_path
from admin.panel.session import LOGIN_COOKIE, same_token
from gateway.core.exceptions import InvalidInputError, LoginRefused

pages = Pages()


def login_routes(panel: Panel) -> list[Route]:
    async def login(request: Request) -> Response:
        errors: dict[str, str] = {}
        email = ""
        status = 200
        target = local_path(request.query_params.get("next"))
        if request.method == "POST":
            form = await request.form()
            email = str(form.get("email", "")).strip()
            password = str(form.get("password", ""))
            if not same_token(request.cookies.get(LOGIN_COOKIE), form.get("login_token")):
                errors[""] = "this form has expired: submit it again"
                status = 403
            else:
                client = request.client.host if request.client else "unknown"
                try:
                    user, key = await panel.services.logins.login(email, password, client)
                except LoginRefused as exc:
                    errors[""] = str(exc)
                    status = 429 if exc.retry_after else 400
                else:
                    signed_in = RedirectResponse(target, status_code=303)
                    panel.sessions.start(signed_in, user.id, key)
                    return signed_in
        token = panel.sessions.login_token(request)
        body = panel.env.get_template("login.html").render(
            errors=errors, email=email, login_token=token, next=target
        )
        response = HTMLResponse(body, status)
        panel.sessions.keep_login_token(response, token)
        return response

    return [Route("/login", login, methods=["GET", "POST"])]


@pages.page("/logout", methods=("POST",))
async def logout(page: Page) -> Response:
    """Ends the session for good: the cookie's key no longer opens anything, wherever it is."""
    user = page.ctx.actor.user
    assert user is not None
    await page.panel.services.logins.new_session(user)
    response = RedirectResponse("/login", status_code=303)
    page.panel.sessions.end(response)
    return response


@pages.page("/account", methods=("GET", "POST"))
async def account(page: Page) -> Response:
    user = page.ctx.actor.user
    assert user is not None
    if page.request.method == "POST":
        new, again = page.form.get("new_password", ""), page.form.get("repeat_password", "")
        try:
            if new != again:
                raise InvalidInputError("the two new passwords differ", "repeat_password")
            key = await tenants.change_password(
                page.ctx, page.form.get("current_password", ""), new
            )
        except (InvalidInputError, LoginRefused) as exc:
            return page.render("account.html", 400, errors=field_errors(exc, "current_password"))
        response = page.redirect("/account", "Password changed. Your other sessions have ended.")
        page.panel.sessions.start(response, user.id, key)
        return response
    return page.render("account.html")
