"""Domains: the list with status badges and the add form; a domain's page with the DNS records
to publish, the live DNS check, sync with SES, its addresses, its settings and removal."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from admin.ops import domains, tenants
from admin.ops.publish import Published, publish_domain, step_rows
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import ConflictError, InvalidInputError, Route53Error
from gateway.core.types.domains import CheckStatus, DomainInfo, RecordCheck
from gateway.endpoints.errors import answer

pages = Pages()

CHECKS = {
    CheckStatus.OK: ("found", "ok"),
    CheckStatus.MISSING: ("missing", "missing"),
    CheckStatus.WRONG: ("mismatch", "mismatch"),
    CheckStatus.CONFLICT: ("conflict", "mismatch"),
    CheckStatus.UNCHECKED: ("no answer", "pending"),
}
"""A DNS check's status as (word, badge class)."""

ACTIONS = {
    "create": ("create", "pending"),
    "update": ("update", "pending"),
    "present": ("there", "ok"),
    "conflict": ("left alone", "mismatch"),
}
"""A publish step's action as (word, badge class)."""

PUBLISH_WAIT = 60.0
"""Seconds the panel waits for Route 53's INSYNC before it answers (then: still pending)."""


def status_word(status: str | None) -> str:
    """An SES status in one word: verified, pending or failed ("" when SES has none)."""
    if status is None:
        return ""
    if status == "SUCCESS":
        return "verified"
    if status in ("FAILED", "TEMPORARY_FAILURE", "NOT_FOUND"):
        return "failed"
    return "pending"


def badges(domain: DomainInfo) -> dict[str, str]:
    """The words of a domain's badges: sending, DKIM and MAIL FROM."""
    state = domain.state
    failed = status_word(state.verification_status) == "failed"
    return {
        "sending": "verified" if state.verified_for_sending else "failed" if failed else "pending",
        "dkim": status_word(state.dkim_status),
        "mail_from": status_word(state.mail_from_status) if state.mail_from_domain else "",
    }


def _url(domain: str, action: str = "") -> str:
    return f"/domains/{quote(domain)}" + (f"/{action}" if action else "")


async def _list(page: Page, status: int = 200, errors: dict[str, str] | None = None) -> Response:
    ctx = page.ctx
    tenant = page.query("tenant") if ctx.actor.is_admin else ""
    found = await domains.list_domains(ctx, tenant or None)
    names = await tenants.tenant_choices(ctx)
    return page.render(
        "domains.html",
        status,
        domains=found,
        tenants=names,
        tenant=tenant,
        badges=badges,
        errors=errors or {},
    )


async def _detail(
    page: Page,
    status: int = 200,
    errors: dict[str, str] | None = None,
    check: list[RecordCheck] | None = None,
    published: Published | None = None,
) -> Response:
    view = await domains.get_domain(page.ctx, page.request.path_params["name"])
    return page.render(
        "domain.html",
        status,
        view=view,
        url=_url(view.domain.name),
        badges=badges(view.domain),
        check=check,
        checks=CHECKS,
        errors=errors or {},
        published=published,
        steps=step_rows(published.change_set) if published else [],
        actions=ACTIONS,
    )


@pages.page("/domains", methods=("GET", "POST"))
async def domain_list(page: Page) -> Response:
    if page.request.method == "POST":
        form = page.form
        try:
            view = await domains.add_domain(
                page.ctx,
                form.get("tenant") or None,
                form.get("name", ""),
                form.get("dkim", "easy"),
                form.get("mail_from") or None,
            )
        except (InvalidInputError, ConflictError) as exc:
            return await _list(page, 400, field_errors(exc, "name"))
        added = view.domain.display_name
        return page.redirect(_url(view.domain.name), f"Added {added}: publish these DNS records.")
    return await _list(page)


@pages.page("/domains/{name}")
async def domain_detail(page: Page) -> Response:
    return await _detail(page)


@pages.page("/domains/{name}/check", methods=("POST",))
async def domain_check(page: Page) -> Response:
    checked = await domains.check_domain(page.ctx, page.request.path_params["name"])
    return await _detail(page, check=checked.records)


@pages.page("/domains/{name}/publish", methods=("POST",))
async def domain_publish(page: Page) -> Response:
    """The change set first; applied once confirmed (the one shown: its fingerprint)."""
    confirmed = page.form.get("confirmed") == "yes"
    try:
        published = await publish_domain(
            page.ctx,
            page.request.path_params["name"],
            page.form.get("zone_id") or None,
            dry_run=not confirmed,
            expect=page.form.get("fingerprint", "") if confirmed else None,
            wait=PUBLISH_WAIT,
        )
    except (InvalidInputError, Route53Error) as exc:
        return await _detail(page, answer(exc)[0], field_errors(exc, "zone_id"))
    return await _detail(page, check=published.check, published=published)


@pages.page("/domains/{name}/sync", methods=("POST",))
async def domain_sync(page: Page) -> Response:
    synced = await domains.sync_domain(page.ctx, page.request.path_params["name"])
    word = (
        "verified for sending" if synced.domain.state.verified_for_sending else "not verified yet"
    )
    said = "".join(f" {detail}." for _, detail in synced.events) or " Nothing changed."
    return page.redirect(_url(synced.domain.name), f"SES says: {word}.{said}")


@pages.page("/domains/{name}/settings", methods=("POST",))
async def domain_settings(page: Page) -> Response:
    form = page.form
    try:
        view = await domains.update_domain(
            page.ctx,
            page.request.path_params["name"],
            restrict_to_addresses="restrict_to_addresses" in form,
            open_tracking="open_tracking" in form,
            click_tracking="click_tracking" in form,
            unsubscribe="unsubscribe" in form,
            tracking_host=form.get("tracking_host", ""),
        )
    except InvalidInputError as exc:
        return await _detail(page, 400, field_errors(exc, "tracking_host"))
    return page.redirect(_url(view.domain.name), "Settings saved.")


@pages.page("/domains/{name}/mail-from", methods=("POST",))
async def domain_mail_from(page: Page) -> Response:
    try:
        view = await domains.update_domain(
            page.ctx, page.request.path_params["name"], mail_from=page.form.get("mail_from", "")
        )
    except InvalidInputError as exc:
        return await _detail(page, 400, field_errors(exc, "mail_from"))
    said = f"MAIL FROM is now {view.domain.state.mail_from_domain}: publish its MX and TXT records."
    return page.redirect(_url(view.domain.name), said)


@pages.page("/domains/{name}/remove", methods=("POST",))
async def domain_remove(page: Page) -> Response:
    name = page.request.path_params["name"]
    asking = page.confirm(
        f"Remove {name}? Its SES identity is deleted and its queued mail fails.", "Remove"
    )
    if asking is not None:
        return asking
    domain, failed = await domains.remove_domain(page.ctx, name)
    return page.redirect(
        "/domains", f"Removed {domain.display_name}; {failed} queued messages failed."
    )


@pages.page("/domains/{name}/addresses", methods=("POST",))
async def address_add(page: Page) -> Response:
    try:
        added = await domains.add_address(
            page.ctx,
            page.request.path_params["name"],
            page.form.get("address", ""),
            "verify_email" in page.form,
        )
    except (InvalidInputError, ConflictError) as exc:
        return await _detail(page, 400, field_errors(exc, "address"))
    said = "; SES emailed it a confirmation link" if added.ses_identity else ""
    return page.redirect(_url(added.domain), f"Added {added.address}{said}.")


@pages.page("/domains/{name}/addresses/remove", methods=("POST",))
async def address_remove(page: Page) -> Response:
    address = page.form.get("address", "")
    asking = page.confirm(f"Remove the sender address {address}?", "Remove")
    if asking is not None:
        return asking
    removed = await domains.remove_address(page.ctx, page.request.path_params["name"], address)
    return page.redirect(_url(removed.domain), f"Removed {removed.address}.")
