"""Campaigns: the list with each one's state, and a campaign's page with its progress, figures,
recipients (each linking to its message), the buttons that launch, pause, resume or cancel it,
and its figures as CSV or a workbook. Campaigns are created with the CLI or the API
(docs/campaigns.md)."""

from __future__ import annotations

from starlette.responses import Response

from admin.ops import campaigns
from admin.panel.base import Page, Pages
from gateway.campaigns.export import COUNTS, XLSX, figures, report_csv, report_workbook
from gateway.core.exceptions import ConflictError, InvalidInputError

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


@pages.page("/campaigns")
async def campaign_list(page: Page) -> Response:
    found = await campaigns.list_campaigns(page.ctx, page.query("tenant") or None)
    return page.render("campaigns.html", campaigns=found)


@pages.page("/campaigns/{id:int}", methods=("GET", "POST"))
async def campaign_detail(page: Page) -> Response:
    campaign = await campaigns.get_campaign(page.ctx, page.request.path_params["id"])
    problem = ""
    if page.request.method == "POST":
        page.ctx.require_write()
        step = STEPS.get(page.form.get("action", ""))
        if step is None:
            raise InvalidInputError("unknown action", "action")
        label, operation = step
        try:
            done = await operation(page.ctx, campaign.id)
        except (ConflictError, InvalidInputError) as exc:
            problem = str(exc)
        else:
            return page.redirect(f"/campaigns/{done.id}", f"{label}: campaign {done.state}.")
    report = await campaigns.report(page.ctx, campaign.id)
    shown = await campaigns.recipients(page.ctx, campaign.id, limit=50)
    made = report.recipients - report.pending
    return page.render(
        "campaign.html",
        422 if problem else 200,
        campaign=campaign,
        figures=figures(report),
        counts=COUNTS,
        made=made,
        recipients=shown,
        steps=[(s, STEPS[s][0]) for s in ALLOWED.get(campaign.state, ())],
        problem=problem,
    )


@pages.page("/campaigns/{id:int}/report.{kind:str}")
async def campaign_report(page: Page) -> Response:
    """The figures as `report.csv` or `report.xlsx`, saved by the browser."""
    campaign = await campaigns.get_campaign(page.ctx, page.request.path_params["id"])
    report = await campaigns.report(page.ctx, campaign.id)
    kind = page.request.path_params["kind"]
    if kind == "csv":
        body: str | bytes = report_csv(campaign, report)
        media = "text/csv"
    elif kind == "xlsx":
        body, media = report_workbook(campaign, report), XLSX
    else:
        raise InvalidInputError("the figures are report.csv or report.xlsx", "kind")
    name = f"campaign-{campaign.id}.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=disposition)
