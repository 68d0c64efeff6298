"""Suppressions: search, add, remove, CSV import and export."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admin.ops import suppressions
from admin.panel.base import Page, Pages, field_errors
from admin.panel.listing import csv_download, query_filters, render_list
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.feedback.suppressions import REASONS, scope

pages = Pages()


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    """The page: the entries the filters find (or what is wrong with the filters), and the
    forms (`errors`: of the form posted)."""
    return await render_list(
        page,
        "suppressions.html",
        "/suppressions",
        query_filters(page, suppressions.Filters),
        suppressions.list_suppressions,
        "search",
        status,
        reasons=REASONS,
        **{"imported": None, **values},
    )


@pages.page("/suppressions", methods=("GET", "POST"))
async def suppression_list(page: Page) -> Response:
    if page.request.method == "POST":
        form = page.form
        try:
            entry, added = await suppressions.add_suppression(
                page.ctx,
                form.get("address", ""),
                form.get("tenant"),
                form.get("reason", "manual"),
                form.get("detail", ""),
                form.get("expires_at", ""),
            )
        except (InvalidInputError, NotFoundError) as exc:
            return await _render(page, 400, errors=field_errors(exc, "address"))
        said = "Suppressed" if added else "Updated the suppression of"
        return page.redirect("/suppressions", f"{said} {entry.address} {scope(entry.tenant)}.")
    return await _render(page)


@pages.page("/suppressions/remove", methods=("POST",))
async def suppression_remove(page: Page) -> Response:
    address, tenant = page.form.get("address", ""), page.form.get("tenant", "")
    page.ctx.require_write()
    asking = page.confirm(
        f"Remove the suppression of {address} {scope(tenant or None)}? Mail to it is sent again.",
        "Remove",
    )
    if asking is not None:
        return asking
    removal = await suppressions.remove_suppression(page.ctx, address, tenant)
    said = (
        f"{removal.address} was not suppressed {scope(removal.tenant)} here."
        if removal.entry is None
        else f"{removal.address} is no longer suppressed {scope(removal.tenant)}."
    )
    at_ses = removal.ses.message
    if at_ses:  # a sentence of its own
        said += f" {at_ses[:1].upper()}{at_ses[1:]}."
    return page.redirect("/suppressions", said)


@pages.page("/suppressions/export")
async def suppression_export(page: Page) -> Response:
    text = await suppressions.export_csv(page.ctx, query_filters(page, suppressions.Filters))
    return csv_download(text, "suppressions.csv")


@pages.page("/suppressions/import", methods=("POST",))
async def suppression_import(page: Page) -> Response:
    page.ctx.require_write()
    data = page.files.get("file")
    try:
        if data is None:
            raise InvalidInputError("choose a CSV file to import", "file")
        report = await suppressions.import_csv(page.ctx, data, page.form.get("tenant"))
    except (InvalidInputError, NotFoundError) as exc:
        return await _render(page, 400, errors=field_errors(exc, "file"))
    return await _render(page, imported=report)
