"""Message templates: the list, the editor (rich text, with the HTML source beside it), a preview
with given fields or a contact's (an address on the tenant's lists, and its list when it is on
several) in a sandboxed frame, a test send, removal.

The editor is Quill (`static/vendor/quill/`), driven by `static/template-editor.js`; without
script the HTML source is a plain text area, and the pages work alike. The rendered HTML is
shown only in `/templates/{id}/frame`, inside an `<iframe sandbox>`, and that answer carries
its own policy (`FRAME_CSP`): no script, an opaque origin, inline styles allowed (an email has
them), so the tenant's HTML can neither run nor read the panel.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, Response

from admin.ops import contacts, templates, tenants
from admin.panel.base import Page, Pages, field_errors
from gateway.compose.templates import Rendered
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.storage.templates import TemplateInfo

pages = Pages()

FRAME_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "font-src https: data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
VAR = "var_"
"""The prefix of a variable's input in the preview and test forms: `var_name`."""


def _fields(values: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix(VAR): v for k, v in values.items() if k.startswith(VAR)}


def _html_of(page: Page) -> str:
    """The uploaded HTML file, else the editor's (or the source view's) HTML."""
    upload = page.files.get("html_file")
    if upload is None:
        return page.form.get("html", "")
    try:
        return upload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("the uploaded file is not UTF-8 HTML", "html") from None


async def _editor(
    page: Page, template: TemplateInfo | None, status: int = 200, **values: Any
) -> Response:
    return page.render(
        "template.html",
        status,
        tmpl=template,
        tenants=await tenants.tenant_choices(page.ctx) if template is None else [],
        **values,
    )


@pages.page("/templates")
async def template_list(page: Page) -> Response:
    found = await templates.list_templates(page.ctx, page.query("tenant") or None)
    return page.render("templates.html", templates=found)


@pages.page("/templates/new", methods=("GET", "POST"))
async def template_new(page: Page) -> Response:
    if page.request.method != "POST":
        return await _editor(page, None)
    form = page.form
    try:
        created = await templates.create_template(
            page.ctx,
            form.get("name", ""),
            form.get("subject", ""),
            _html_of(page),
            form.get("text") or None,
            form.get("tenant"),
        )
    except (InvalidInputError, NotFoundError) as exc:
        return await _editor(page, None, 400, errors=field_errors(exc, "name"))
    return page.redirect(f"/templates/{created.id}", f"Created the template {created.name}.")


@pages.page("/templates/{id:int}", methods=("GET", "POST"))
async def template_edit(page: Page) -> Response:
    template = await templates.get_template(page.ctx, page.request.path_params["id"])
    if page.request.method != "POST":
        return await _editor(page, template, form=_form_of(template))
    form = page.form
    try:
        saved = await templates.update_template(
            page.ctx,
            template.id,
            name=form.get("name", ""),
            subject=form.get("subject", ""),
            html=_html_of(page),
            text=form.get("text", ""),
        )
    except InvalidInputError as exc:
        return await _editor(page, template, 400, errors=field_errors(exc, "html"))
    return page.redirect(f"/templates/{saved.id}", f"Saved the template {saved.name}.")


def _form_of(template: TemplateInfo) -> dict[str, str]:
    return {
        "name": template.name,
        "subject": template.subject,
        "html": template.html,
        "text": template.text or "",
    }


def _chosen(values: Mapping[str, str]) -> dict[str, str]:
    """What the preview renders with, as its form gives it: the `var_` fields, and the contact
    (an address on the tenant's lists) with its list, when given."""
    chosen = {k: v for k, v in values.items() if k.startswith(VAR)}
    return chosen | {k: values[k].strip() for k in ("contact", "list") if values.get(k, "").strip()}


async def _rendered(page: Page, template: TemplateInfo, chosen: dict[str, str]) -> Rendered:
    fields = _fields(chosen)
    contact, list_name = chosen.get("contact"), chosen.get("list")
    return await templates.preview(page.ctx, template.id, fields, contact, list_name)


@pages.page("/templates/{id:int}/preview")
async def template_preview(page: Page) -> Response:
    template = await templates.get_template(page.ctx, page.request.path_params["id"])
    parsed = templates.compiled(template)
    chosen = _chosen(page.request.query_params)
    errors: dict[str, str] = {}
    rendered = None
    try:
        rendered = await _rendered(page, template, chosen)
    except (InvalidInputError, NotFoundError) as exc:
        errors = field_errors(exc, "contact" if isinstance(exc, NotFoundError) else "variables")
    lists = await contacts.lists(page.ctx, template.tenant)
    return page.render(
        "template_preview.html",
        tmpl=template,
        variables=parsed.variables,
        required=parsed.required,
        values=_fields(chosen),
        chosen=chosen,
        lists=[("", "any list")] + [(found.name, found.name) for found in lists],
        rendered=rendered,
        errors=errors,
        frame=f"/templates/{template.id}/frame?{urlencode(chosen)}",
    )


@pages.page("/templates/{id:int}/frame")
async def template_frame(page: Page) -> Response:
    """The rendered HTML alone, for the preview's sandboxed frame, under `FRAME_CSP`."""
    template = await templates.get_template(page.ctx, page.request.path_params["id"])
    try:
        body = (await _rendered(page, template, _chosen(page.request.query_params))).html
        status = 200
    except (InvalidInputError, NotFoundError) as exc:
        body, status = f"<p>{html.escape(str(exc))}</p>", 400
    headers = {"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"}
    return HTMLResponse(body, status, headers=headers)


@pages.page("/templates/{id:int}/test", methods=("POST",))
async def template_test(page: Page) -> Response:
    template = await templates.get_template(page.ctx, page.request.path_params["id"])
    chosen = _chosen(page.form)
    back = f"/templates/{template.id}/preview?{urlencode(chosen)}"
    try:
        queue_id = await templates.send_test(
            page.ctx,
            template.id,
            page.form.get("to", ""),
            page.form.get("from", ""),
            _fields(chosen),
            chosen.get("contact"),
            chosen.get("list"),
        )
    except (InvalidInputError, NotFoundError) as exc:
        return page.redirect(back, f"Not sent: {exc}")
    return page.redirect(back, f"Test message queued as {queue_id}.")


@pages.page("/templates/{id:int}/remove", methods=("POST",))
async def template_remove(page: Page) -> Response:
    page.ctx.require_write()
    template = await templates.get_template(page.ctx, page.request.path_params["id"])
    asking = page.confirm(f"Delete the template {template.name}?", "Delete")
    if asking is not None:
        return asking
    await templates.delete_template(page.ctx, template.id)
    return page.redirect("/templates", f"Deleted the template {template.name}.")
