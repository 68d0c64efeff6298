"""Campaigns: the list with each one's state; the form that makes one (a draft); a campaign's
page with its progress (refreshed by `static/campaign.js` while it sends), figures in all and by
list, recipients (each linking to its message), the buttons that launch, pause, resume or cancel
it, a test send, and its figures as CSV or a workbook; a list's figures across its campaigns,
and the same as CSV or a workbook.

Every change goes through `admin.ops.campaigns`, as the CLI's and the API's do, and a refusal
shows under the field it is about in the same words."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from starlette.responses import JSONResponse, Response

from admin.ops import campaigns, contacts, templates, tenants
from admin.panel.base import Page, Pages, field_errors
from gateway.campaigns.export import COUNTS, Export, figures, written
from gateway.core.exceptions import ConflictError, InvalidInputError, NotFoundError
from gateway.core.types.campaigns import CampaignInfo

pages = Pages()

STEPS = {
    "launch": ("Launch", campaigns.launch),
    "pause": ("Pause", campaigns.pause),
    "resume": ("Resume", campaigns.resume),
    "cancel": ("Cancel", campaigns.cancel),
}
"""The buttons of a campaign's page: the step, its label and its operation."""
ALLOWED = {
    "draft": ("launch", "cancel"),
    "scheduled": ("pause", "cancel"),
    "sending": ("pause", "cancel"),
    "paused": ("resume", "cancel"),
}
ZONES = sorted(available_timezones() | {"UTC"})
"""The time zone picker's choices (the browser's own is chosen by the script)."""


@pages.page("/campaigns")
async def campaign_list(page: Page) -> Response:
    found = await campaigns.list_campaigns(page.ctx, page.query("tenant") or None)
    return page.render("campaigns.html", campaigns=found)


async def _form(page: Page, tenant: str | None, status: int = 200, **values: Any) -> Response:
    """The form, with the choices of the tenant's (an admin chooses the tenant first)."""
    if tenant is None and page.ctx.actor.is_admin:
        choices = await tenants.tenant_choices(page.ctx)
        return page.render("campaign_new.html", status, tenant="", tenants=choices, **values)
    owner = await page.ctx.require_tenant(tenant)
    return page.render(
        "campaign_new.html",
        status,
        tenant=owner.name,
        templates=[t.name for t in await templates.list_templates(page.ctx, owner.name)],
        lists=[found.name for found in await contacts.lists(page.ctx, owner.name)],
        senders=await campaigns.senders(page.ctx, owner.name),
        zones=ZONES,
        **values,
    )


def _given(page: Page) -> campaigns.NewCampaign:
    form = page.form
    at = None
    if form.get("when") == "later":
        if not (form.get("date") and form.get("time")):
            raise InvalidInputError(
                "give the date and the time to send at, or choose now", "send_at"
            )
        at = f"{form['date']}T{form['time']}"
    return campaigns.NewCampaign(
        form.get("name", ""),
        form.get("template", ""),
        [name for name in page.every.get("lists", []) if name],
        form.get("from", ""),
        form.get("exclude") or None,
        form.get("reply_to") or None,
        at,
        form.get("zone") or None,
    )


@pages.page("/campaigns/new", methods=("GET", "POST"))
async def campaign_new(page: Page) -> Response:
    page.ctx.require_write()
    tenant = page.form.get("tenant") if page.request.method == "POST" else page.query("tenant")
    if page.request.method != "POST":
        return await _form(page, tenant or None)
    try:
        created = await campaigns.create_campaign(page.ctx, _given(page), tenant or None)
    except (InvalidInputError, NotFoundError) as exc:
        chosen = page.every.get("lists", [])
        return await _form(page, tenant or None, 400, errors=field_errors(exc), chosen=chosen)
    flash = f"Created the campaign {created.name}, a draft: launch it when ready."
    return page.redirect(f"/campaigns/{created.id}", flash)


async def _step(page: Page, campaign: CampaignInfo) -> tuple[Response | None, dict[str, str]]:
    """The button pressed: where to go, or the refusal (under `problem`, or the test's field)."""
    action = page.form.get("action", "")
    if action == "test":
        try:
            queue_id = await campaigns.send_test(
                page.ctx, campaign.id, page.form.get("to", ""), page.form.get("contact") or None
            )
        except (InvalidInputError, NotFoundError) as exc:
            return None, field_errors(exc, "to")
        return page.redirect(f"/campaigns/{campaign.id}", f"Test message queued as {queue_id}."), {}
    step = STEPS.get(action)
    if step is None:
        raise InvalidInputError("unknown action", "action")
    label, operation = step
    try:
        done = await operation(page.ctx, campaign.id)
    except (ConflictError, InvalidInputError) as exc:
        return None, {"problem": str(exc)}
    return page.redirect(f"/campaigns/{done.id}", f"{label}: campaign {done.state}."), {}


async def _progress(page: Page, campaign: CampaignInfo) -> dict[str, Any]:
    """What the page shows of a campaign under way (and `campaign.js` refreshes while it is
    scheduled or sending, or while some of its messages wait for SES)."""
    report = await campaigns.report(page.ctx, campaign.id)
    return {
        "state": campaign.state,
        "made": report.recipients - report.pending,
        "waiting": await campaigns.waiting(page.ctx, campaign.id),
        **figures(report),
    }


@pages.page("/campaigns/{id:int}", methods=("GET", "POST"))
async def campaign_detail(page: Page) -> Response:
    campaign = await campaigns.get_campaign(page.ctx, page.request.path_params["id"])
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        page.ctx.require_write()
        answer, errors = await _step(page, campaign)
        if answer is not None:
            return answer
    shares = await campaigns.by_list(page.ctx, campaign.id) if len(campaign.list_ids) > 1 else []
    return page.render(
        "campaign.html",
        422 if errors else 200,
        campaign=campaign,
        progress=await _progress(page, campaign),
        counts=COUNTS,
        shares=[(share.name, figures(share.report)) for share in shares],
        recipients=await campaigns.recipients(page.ctx, campaign.id, limit=50),
        steps=[(s, STEPS[s][0]) for s in ALLOWED.get(campaign.state, ())],
        problem=errors.pop("problem", ""),
        errors=errors,
    )


@pages.page("/campaigns/{id:int}/progress")
async def campaign_progress(page: Page) -> Response:
    """The state and the figures as JSON, for the page's script while the campaign sends."""
    campaign = await campaigns.get_campaign(page.ctx, page.request.path_params["id"])
    return JSONResponse(await _progress(page, campaign))


def _download(export: Export, kind: str) -> Response:
    """The figures as `report.csv` or `report.xlsx`, saved by the browser."""
    body, media = written(export, kind)
    name = f"{export.kind}-{export.id}.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=disposition)


@pages.page("/campaigns/{id:int}/report.{kind:str}")
async def campaign_report(page: Page) -> Response:
    params = page.request.path_params
    return _download(await campaigns.campaign_export(page.ctx, params["id"]), params["kind"])


@pages.page("/lists/{id:int}/report.{kind:str}")
async def list_report(page: Page) -> Response:
    """A list's figures across its campaigns, and by campaign."""
    params = page.request.path_params
    return _download(await campaigns.list_export(page.ctx, params["id"]), params["kind"])


@pages.page("/lists/{id:int}/figures")
async def list_figures(page: Page) -> Response:
    """A list's figures across the campaigns sent to it, and its part of each."""
    found = await contacts.get_list(page.ctx, page.request.path_params["id"])
    shown = await campaigns.list_figures(page.ctx, found.id)
    return page.render(
        "list_figures.html",
        contact_list=found,
        total=figures(shown.total),
        counts=COUNTS,
        rows=[(campaign, figures(report)) for campaign, report in shown.campaigns],
    )
