"""Webhooks: add (the signing secret shown once), test-send, recent attempts, remove."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admin.ops import tenants, webhooks
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.webhooks.schema import EVENT_TYPES

pages = Pages()


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    ctx = page.ctx
    names = await tenants.tenant_choices(ctx)
    return page.render(
        "webhooks.html",
        status,
        webhooks=await webhooks.list_webhooks(ctx),
        tenants=names,
        event_types=EVENT_TYPES,
        **{"created": None, **values},
    )


@pages.page("/webhooks", methods=("GET", "POST"))
async def webhook_list(page: Page) -> Response:
    if page.request.method != "POST":
        return await _render(page)
    chosen = [t for t in EVENT_TYPES if page.form.get(f"event_{t}")]
    try:
        created = await webhooks.add_webhook(
            page.ctx, page.form.get("url", ""), chosen, page.form.get("tenant")
        )
    except (InvalidInputError, NotFoundError) as exc:
        return await _render(page, 400, errors=field_errors(exc, "url"))
    return await _render(page, created=created)


@pages.page("/webhooks/{id:int}")
async def webhook_detail(page: Page) -> Response:
    webhook_id = page.request.path_params["id"]
    return page.render(
        "webhook.html",
        webhook=await webhooks.get_webhook(page.ctx, webhook_id),
        attempts=await webhooks.list_attempts(page.ctx, webhook_id),
    )


@pages.page("/webhooks/{id:int}/test", methods=("POST",))
async def webhook_test(page: Page) -> Response:
    webhook_id = page.request.path_params["id"]
    result = await webhooks.send_test(page.ctx, webhook_id)
    ms = result.attempt.duration_ms
    said = f"Test event {result.state}: {result.outcome} in {ms} ms."
    return page.redirect(f"/webhooks/{webhook_id}", said)


@pages.page("/webhooks/{id:int}/remove", methods=("POST",))
async def webhook_remove(page: Page) -> Response:
    page.ctx.require_write()
    webhook = await webhooks.get_webhook(page.ctx, page.request.path_params["id"])
    asking = page.confirm(
        f"Remove the webhook {webhook.url}? Its pending events are dropped.", "Remove"
    )
    if asking is not None:
        return asking
    await webhooks.remove_webhook(page.ctx, webhook.id)
    return page.redirect("/webhooks", f"Removed the webhook {webhook.url}.")
