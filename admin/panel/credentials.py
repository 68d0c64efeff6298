"""`/credentials`: SMTP credentials, API keys (each secret shown once, right after creating it)
and, for admins, the trusted networks."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from admin.ops import credentials, tenants
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import ConflictError, GatewayError, InvalidInputError

pages = Pages()

_SEPARATORS = re.compile(r"[\s,;]+")
ADMIN_KEY = "*"
"""The tenant choice of an admin key in the form (no tenant can be named `*`)."""


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    """The page with its three sections (the fields of the key and network forms are named
    `key_*` and `network_*`, so that each form keeps its own values and errors)."""
    ctx = page.ctx
    admin = ctx.actor.is_admin
    return page.render(
        "credentials.html",
        status,
        credentials=await credentials.list_credentials(ctx),
        keys=await credentials.list_api_keys(ctx),
        networks=await credentials.list_networks(ctx) if admin else [],
        tenants=await tenants.tenant_choices(ctx),
        settings=ctx.services.settings,
        admin_key=ADMIN_KEY,
        **{"created": None, "created_key": None, **values},
    )


def _errors(exc: GatewayError, form: str, default_field: str) -> dict[str, str]:
    """`field_errors` for a form whose fields are named `<form>_<field>`."""
    return {f"{form}_{name}": text for name, text in field_errors(exc, default_field).items()}


@pages.page("/credentials", methods=("GET", "POST"))
async def credential_list(page: Page) -> Response:
    if page.request.method == "GET":
        return await _render(page)
    form = page.form
    allow = [entry for entry in _SEPARATORS.split(form.get("allow", "")) if entry]
    try:
        created = await credentials.create_credential(
            page.ctx, form.get("tenant") or None, form.get("description", ""), allow
        )
    except InvalidInputError as exc:
        return await _render(page, 400, errors=field_errors(exc, "tenant"))
    return await _render(page, created=created, form={})


@pages.page("/credentials/{id:int}/revoke", methods=("POST",))
async def credential_revoke(page: Page) -> Response:
    page.ctx.require_write()
    found = await credentials.get_credential(page.ctx, page.request.path_params["id"])
    asking = page.confirm(
        f"Revoke credential {found.username}? Clients using it can no longer send.", "Revoke"
    )
    if asking is not None:
        return asking
    await credentials.revoke_credential(page.ctx, found.id)
    return page.redirect("/credentials", f"Revoked credential {found.username}.")


@pages.page("/credentials/{id:int}/pause", methods=("POST",))
async def credential_pause(page: Page) -> Response:
    page.ctx.require_write()
    found = await credentials.get_credential(page.ctx, page.request.path_params["id"])
    asking = page.confirm(
        f"Pause credential {found.username}? Its mail is refused at MAIL FROM until you resume it.",
        "Pause",
    )
    if asking is not None:
        return asking
    try:
        await credentials.pause_credential(page.ctx, found.id, page.form.get("reason", ""))
    except InvalidInputError as exc:
        return await _render(page, 400, errors={"": str(exc)})
    return page.redirect("/credentials", f"Paused credential {found.username}.")


@pages.page("/credentials/{id:int}/resume", methods=("POST",))
async def credential_resume(page: Page) -> Response:
    resumed = await credentials.pause_credential(page.ctx, page.request.path_params["id"], None)
    return page.redirect("/credentials", f"Resumed credential {resumed.username}.")


@pages.page("/credentials/api-keys", methods=("POST",))
async def api_key_create(page: Page) -> Response:
    form = page.form
    tenant = form.get("key_tenant", "")
    admin = tenant == ADMIN_KEY
    try:
        created = await credentials.create_api_key(
            page.ctx, None if admin else tenant or None, admin, form.get("key_description", "")
        )
    except InvalidInputError as exc:
        return await _render(page, 400, errors=_errors(exc, "key", "tenant"))
    return await _render(page, created_key=created, form={})


@pages.page("/credentials/api-keys/{id:int}/revoke", methods=("POST",))
async def api_key_revoke(page: Page) -> Response:
    page.ctx.require_write()
    found = await credentials.get_api_key(page.ctx, page.request.path_params["id"])
    asking = page.confirm(
        f"Revoke API key {found.prefix}? Programs using it are refused from then on.", "Revoke"
    )
    if asking is not None:
        return asking
    await credentials.revoke_api_key(page.ctx, found.id)
    return page.redirect("/credentials", f"Revoked API key {found.prefix}.")


@pages.page("/credentials/networks", methods=("POST",))
async def network_add(page: Page) -> Response:
    form = page.form
    try:
        added = await credentials.add_network(
            page.ctx, form.get("network_tenant"), form.get("network_cidr", "")
        )
    except (InvalidInputError, ConflictError) as exc:
        return await _render(page, 400, errors=_errors(exc, "network", "cidr"))
    return page.redirect(
        "/credentials", f"Clients in {added.cidr} may now send without AUTH as {added.tenant}."
    )


@pages.page("/credentials/networks/remove", methods=("POST",))
async def network_remove(page: Page) -> Response:
    page.ctx.require_admin()
    cidr = page.form.get("cidr", "")
    asking = page.confirm(
        f"Stop trusting {cidr}? Its clients must then authenticate to send.", "Remove"
    )
    if asking is not None:
        return asking
    removed = await credentials.remove_network(page.ctx, cidr)
    return page.redirect("/credentials", f"{removed} is no longer trusted.")
