"""Contact lists: the lists, one list's contacts (search, add, export, CSV import with the
upload's progress), an import's report, one contact (edit, unsubscribe, remove)."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.responses import Response, StreamingResponse

from admin.ops import contacts, tenants
from admin.panel.base import Page, Pages, field_errors
from admin.panel.listing import query_filters, render_list
from gateway.core.exceptions import ConflictError, InvalidInputError, NotFoundError
from gateway.core.types.contacts import STATUSES, ImportInfo, ListInfo

pages = Pages()

SHOWN_INVALID = 100
"""Invalid rows an import's page lists (the CSV download has them all)."""


def _download(chunks: Any, name: str) -> Response:
    """A CSV export written as it is read, saved by the browser as `name`."""
    return StreamingResponse(
        chunks,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _fields(text: str) -> dict[str, str]:
    """`name: value` lines (the contact page's text area) as fields."""
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidInputError(f"line {number} of the fields: write name: value", "fields")
        fields[name.strip()] = value.strip()
    return fields


@pages.page("/lists", methods=("GET", "POST"))
async def list_index(page: Page) -> Response:
    errors: dict[str, str] = {}
    status = 200
    if page.request.method == "POST":
        try:
            created = await contacts.create_list(
                page.ctx, page.form.get("name", ""), page.form.get("tenant")
            )
        except (InvalidInputError, NotFoundError, ConflictError) as exc:
            errors, status = field_errors(exc, "name"), 400
        else:
            return page.redirect(f"/lists/{created.id}", f"Created the list {created.name}.")
    return page.render(
        "lists.html",
        status,
        lists=await contacts.lists(page.ctx, page.query("tenant") or None),
        tenants=await tenants.tenant_choices(page.ctx),
        request_tenant=page.query("tenant"),
        errors=errors,
    )


async def _list(page: Page) -> ListInfo:
    return await contacts.get_list(page.ctx, page.request.path_params["id"])


async def _render_list(page: Page, status: int = 200, **values: Any) -> Response:
    found = await _list(page)
    return await render_list(
        page,
        "list.html",
        f"/lists/{found.id}",
        query_filters(page, contacts.Filters),
        partial(_contacts_of, found.id),
        "search",
        status,
        contact_list=found,
        counts=await contacts.list_counts(page.ctx, found.id),
        imports=await contacts.list_imports(page.ctx, found.id),
        statuses=STATUSES,
        **values,
    )


async def _contacts_of(list_id: int, ctx: Any, filters: contacts.Filters, *args: Any) -> Any:
    return await contacts.list_contacts(ctx, list_id, filters, *args)


@pages.page("/lists/{id:int}", methods=("GET", "POST"))
async def list_detail(page: Page) -> Response:
    if page.request.method != "POST":
        return await _render_list(page)
    found = await _list(page)
    try:
        added = await contacts.add_contact(
            page.ctx, found.id, page.form.get("email", ""), _fields(page.form.get("fields", ""))
        )
    except (InvalidInputError, ConflictError) as exc:
        return await _render_list(page, 400, errors=field_errors(exc, "email"))
    return page.redirect(f"/lists/{found.id}", f"Added {added.email}.")


@pages.page("/lists/{id:int}/import", methods=("POST",), streamed=True)
async def list_import(page: Page) -> Response:
    page.ctx.require_write()
    found = await _list(page)
    upload = page.uploads.get("file")
    if upload is None:
        error = InvalidInputError("choose a CSV file to import", "file")
        return await _render_list(page, 400, errors=field_errors(error))

    async def chunks() -> Any:
        while data := await upload.read(64 * 1024):
            yield data

    report = await contacts.import_csv(page.ctx, found.id, chunks(), upload.filename or "")
    return page.redirect(f"/lists/{found.id}/imports/{report.id}")


async def _import(page: Page) -> tuple[ListInfo, ImportInfo]:
    found = await _list(page)
    report = await contacts.get_import(page.ctx, page.request.path_params["import_id"])
    if report.list_id != found.id:
        raise NotFoundError(f"no import {report.id} of this list")
    return found, report


@pages.page("/lists/{id:int}/imports/{import_id:int}")
async def import_report(page: Page) -> Response:
    found, report = await _import(page)
    invalid = await contacts.invalid_rows(page.ctx, report.id, SHOWN_INVALID)
    return page.render("list_import.html", contact_list=found, report=report, invalid=invalid)


@pages.page("/lists/{id:int}/imports/{import_id:int}/invalid")
async def import_invalid(page: Page) -> Response:
    _, report = await _import(page)
    chunks = await contacts.invalid_rows_csv(page.ctx, report.id)
    return _download(chunks, f"import-{report.id}-invalid.csv")


@pages.page("/lists/{id:int}/export")
async def list_export(page: Page) -> Response:
    found = await _list(page)
    export = await contacts.export_csv(page.ctx, found.id, query_filters(page, contacts.Filters))
    return _download(export.chunks(), f"list-{found.id}.csv")


@pages.page("/lists/{id:int}/delete", methods=("POST",))
async def list_delete(page: Page) -> Response:
    page.ctx.require_write()
    found = await _list(page)
    asking = page.confirm(
        f"Delete the list {found.name} and every contact on it? This cannot be undone.", "Delete"
    )
    if asking is not None:
        return asking
    await contacts.delete_list(page.ctx, found.id)
    return page.redirect("/lists", f"Deleted the list {found.name}.")


@pages.page("/lists/{id:int}/contacts/{email}", methods=("GET", "POST"))
async def contact_detail(page: Page) -> Response:
    found = await _list(page)
    address = page.request.path_params["email"]
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            edited = await contacts.edit_contact(
                page.ctx,
                found.id,
                address,
                _fields(page.form.get("fields", "")),
                status=page.form.get("status") or None,
                replace=True,
            )
        except InvalidInputError as exc:
            errors = field_errors(exc, "fields")
        else:
            return page.redirect(
                f"/lists/{found.id}/contacts/{edited.email}", f"Saved {edited.email}."
            )
    contact = await contacts.get_contact(page.ctx, found.id, address)
    return page.render(
        "contact.html", 400 if errors else 200, contact_list=found, contact=contact, errors=errors
    )


@pages.page("/lists/{id:int}/contacts/{email}/remove", methods=("POST",))
async def contact_remove(page: Page) -> Response:
    page.ctx.require_write()
    found = await _list(page)
    address = page.request.path_params["email"]
    asking = page.confirm(f"Remove {address} from the list {found.name}?", "Remove")
    if asking is not None:
        return asking
    removed = await contacts.remove_contact(page.ctx, found.id, address)
    return page.redirect(f"/lists/{found.id}", f"Removed {removed}.")
