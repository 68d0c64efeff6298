"""Activity: the notifications (unread ones highlighted, marked read one by one or all at once),
then the audit log with its filters, a page at a time."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from admin.ops import activity, tenants
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import InvalidInputError
from gateway.storage.pages import Paged

pages = Pages()

FILTERS = ("tenant", "kind", "actor", "since", "until")
NOTIFICATIONS_SHOWN = 20


def _filter(page: Page) -> activity.ActivityFilter:
    return activity.ActivityFilter(
        page.query("tenant") or None,
        page.query("kind") or None,
        page.query("actor") or None,
        page.moment("since"),
        page.moment("until"),
    )


@pages.page("/activity")
async def activity_page(page: Page) -> Response:
    ctx = page.ctx
    notes = await activity.list_notifications(ctx, limit=NOTIFICATIONS_SHOWN)
    shown = {name: page.query(name) for name in FILTERS}
    choices = await tenants.tenant_choices(ctx)
    errors: dict[str, str] = {}
    try:
        log = await activity.list_activity(ctx, _filter(page), page.query("cursor") or None)
    except InvalidInputError as exc:
        errors = field_errors(exc, "since")
        log = Paged([], None)
    filtered = {k: v for k, v in shown.items() if v}
    older = (
        "/activity?" + urlencode({**filtered, "cursor": log.next_cursor})
        if log.next_cursor
        else None
    )
    newest = ("/activity?" + urlencode(filtered)) if page.query("cursor") else None
    return page.render(
        "activity.html",
        400 if errors else 200,
        notes=notes,
        log=log,
        shown=shown,
        tenants=choices,
        older=older,
        newest=newest,
        errors=errors,
    )


@pages.page("/activity/notifications/{id:int}/read", methods=("POST",))
async def mark_read(page: Page) -> Response:
    found = await activity.mark_read(page.ctx, page.request.path_params["id"])
    return page.redirect("/activity", f"Marked {found.kind} of {found.subject} read.")


@pages.page("/activity/notifications/read", methods=("POST",))
async def mark_all_read(page: Page) -> Response:
    marked = await activity.mark_all_read(page.ctx)
    return page.redirect("/activity", f"Marked {marked} notifications read.")
