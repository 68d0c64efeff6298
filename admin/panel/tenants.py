"""Tenants and users (admins): create, pause and resume, limits."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admin.ops import awsaccounts, tenants
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import ConflictError, InvalidInputError, NotFoundError
from gateway.identity.accounts import LIMITS

pages = Pages()


def _limits(form: dict[str, str]) -> dict[str, str | float | None]:
    """The limit fields of the form, checked by the operation: empty means the default."""
    return {name: form.get(name, "") or None for name in LIMITS}


@pages.page("/tenants", methods=("GET", "POST"))
async def tenant_list(page: Page) -> Response:
    page.ctx.require_admin()
    if page.request.method == "POST":
        try:
            created = await tenants.create_tenant(page.ctx, page.form.get("name", ""))
        except (InvalidInputError, ConflictError) as exc:
            found = await tenants.list_tenants(page.ctx)
            return page.render("tenants.html", 400, tenants=found, errors=field_errors(exc, "name"))
        return page.redirect(f"/tenants/{created.name}", f"Created tenant {created.name}.")
    return page.render("tenants.html", tenants=await tenants.list_tenants(page.ctx))


async def _tenant(page: Page, name: str, status: int = 200, **values: Any) -> Response:
    accounts = [a.name for a in await awsaccounts.list_accounts(page.ctx)]
    view = await tenants.get_tenant(page.ctx, name)
    return page.render("tenant.html", status, view=view, aws_accounts=accounts, **values)


@pages.page("/tenants/{name}", methods=("GET", "POST"))
async def tenant_detail(page: Page) -> Response:
    page.ctx.require_admin()
    name = page.request.path_params["name"]
    if page.request.method == "POST":
        action = page.form.get("action")
        try:
            if action == "pause":
                await tenants.pause_tenant(page.ctx, name, page.form.get("reason", ""))
                return page.redirect(f"/tenants/{name}", f"Paused {name}.")
            if action == "resume":
                await tenants.pause_tenant(page.ctx, name, None)
                return page.redirect(f"/tenants/{name}", f"Resumed {name}.")
            if action == "aws_account":
                account = page.form.get("aws_account", "")
                await awsaccounts.set_tenant_account(page.ctx, name, account)
                return page.redirect(f"/tenants/{name}", f"{name} sends through {account}.")
            await tenants.set_limits(page.ctx, name, _limits(page.form))
            return page.redirect(f"/tenants/{name}", "Limits saved.")
        except (InvalidInputError, ConflictError, NotFoundError) as exc:
            field = {"pause": "reason", "aws_account": "aws_account"}.get(action or "", "")
            status = 409 if isinstance(exc, ConflictError) else 400
            return await _tenant(page, name, status, errors=field_errors(exc, field))
    return await _tenant(page, name)


@pages.page("/users", methods=("GET", "POST"))
async def user_list(page: Page) -> Response:
    page.ctx.require_admin()
    created = None
    if page.request.method == "POST":
        form = page.form
        try:
            created = await tenants.create_user(
                page.ctx,
                form.get("email", ""),
                form.get("role", ""),
                form.get("tenant") or None,
                form.get("password") or None,
            )
        except (InvalidInputError, ConflictError, NotFoundError) as exc:
            field = "tenant" if isinstance(exc, NotFoundError) else "email"
            return page.render(
                "users.html",
                400,
                users=await tenants.list_users(page.ctx),
                tenants=await tenants.list_tenants(page.ctx),
                created=None,
                errors=field_errors(exc, field),
            )
    return page.render(
        "users.html",
        users=await tenants.list_users(page.ctx),
        tenants=await tenants.list_tenants(page.ctx),
        created=created,
    )


@pages.page("/users/{id:int}/remove", methods=("POST",))
async def user_remove(page: Page) -> Response:
    page.ctx.require_admin()
    user_id = page.request.path_params["id"]
    asking = page.confirm(f"Remove user {user_id}? They can no longer sign in.", "Remove")
    if asking is not None:
        return asking
    removed = await tenants.remove_user(page.ctx, user_id)
    return page.redirect("/users", f"Removed {removed.email}.")
