"""`/api/v1/campaigns`: tenants' campaigns: create (a draft), list, read with the figures (in all
and by list), launch, pause, resume, cancel, a test send, the recipients, and the figures as CSV
or a workbook; and `/api/v1/lists/{id}/figures` (and `report.csv`, `report.xlsx`), a list's
across its campaigns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call, Handler
from admin.ops import campaigns
from admin.ops.context import Context
from gateway.campaigns.export import FORMATS, Export, figures
from gateway.core.types.campaigns import RECIPIENT_STATES, STATES, CampaignInfo

api = Api()


class Link(BaseModel):
    url: str
    clicked: int = Field(description="recipients who clicked it")
    clicks: int


class Figures(BaseModel):
    recipients: int
    pending: int = Field(description="recipients whose message is not made yet")
    skipped: int = Field(description="unsubscribed or suppressed when their turn came")
    refused: int = Field(description="refused by the policy")
    sent: int = Field(description="messages SES accepted")
    delivered: int
    bounced: int = Field(description="permanent and undetermined bounces")
    complained: int
    opened: int = Field(description="recipients who opened (unique)")
    clicked: int = Field(description="recipients who clicked (unique)")
    unsubscribed: int
    opens: int = Field(description="opens in all")
    clicks: int = Field(description="clicks in all")
    rates: dict[str, float] = Field(description="each count as a share of `sent`")
    links: list[Link]


class Campaign(BaseModel):
    id: int
    tenant: str
    name: str
    template_id: int | None
    list_ids: list[int]
    exclude_list_id: int | None
    sender: str
    reply_to: str | None
    send_at: datetime | None = Field(description="null: at launch")
    time_zone: str
    state: str = Field(description=", ".join(STATES))
    recipients: int
    created_at: datetime
    launched_at: datetime | None
    finished_at: datetime | None


class ListShare(BaseModel):
    id: int = Field(description="the list's")
    name: str
    figures: Figures = Field(description="its recipients' (an address on two lists: the first's)")


class CampaignWithFigures(Campaign):
    figures: Figures
    lists: list[ListShare] = Field(description="the figures broken down by the campaign's lists")


class CampaignShare(BaseModel):
    id: int = Field(description="the campaign's")
    name: str
    state: str
    figures: Figures = Field(description="the list's part of the campaign's figures")


class ListFigures(BaseModel):
    figures: Figures = Field(description="across every campaign sent to the list")
    campaigns: list[CampaignShare]


class CampaignTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=320, description="the address to send the test to")
    contact: str | None = Field(
        default=None,
        max_length=320,
        description="render with this contact's fields (an address on the campaign's lists)",
    )


class Queued(BaseModel):
    queue_id: str


class CampaignList(BaseModel):
    data: list[Campaign]


class CampaignFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(default="", max_length=63, description="admins: only this tenant's")


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=campaigns.NAME_LENGTH)
    template: str = Field(min_length=1, max_length=100, description="the template's name")
    lists: list[str] = Field(min_length=1, max_length=campaigns.MAX_LISTS)
    exclude: str | None = Field(default=None, max_length=100, description="a list left out")
    from_: str = Field(alias="from", max_length=320, description="an address it may send from")
    reply_to: str | None = Field(default=None, max_length=320)
    send_at: str | None = Field(
        default=None,
        max_length=64,
        description="ISO 8601 with its offset (2026-12-24T09:00:00+01:00), or without one and "
        "`time_zone`; null: at launch",
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="the IANA zone (Europe/Paris) whose wall clock a `send_at` without an "
        "offset is",
    )
    tenant: str | None = Field(
        default=None, max_length=63, description="admins: the tenant (required); a key: its own"
    )


class RecipientFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(default="", description=", ".join(RECIPIENT_STATES))
    after: int = Field(default=0, ge=0, lt=2**63, description="the last id of the page before")
    limit: int = Field(default=100, ge=1, le=1000)


class CampaignRecipient(BaseModel):
    id: int
    address: str
    state: str
    queue_id: str | None = Field(description="its message (`/messages/{queue_id}`)")


class RecipientList(BaseModel):
    data: list[CampaignRecipient]


def _shown(campaign: CampaignInfo) -> dict[str, object]:
    return asdict(campaign)


@api.endpoint(
    "GET",
    "/campaigns",
    summary="List campaigns, newest first",
    tag="campaigns",
    query=CampaignFilter,
    response=CampaignList,
)
async def list_campaigns(ctx: Context, call: Call) -> object:
    return {"data": [_shown(c) for c in await campaigns.list_campaigns(ctx, call.query.tenant)]}


@api.endpoint(
    "POST",
    "/campaigns",
    summary="Create a campaign (a draft)",
    tag="campaigns",
    body=CampaignCreate,
    response=Campaign,
    status=201,
)
async def create_campaign(ctx: Context, call: Call) -> object:
    body = call.body
    given = campaigns.NewCampaign(
        body.name,
        body.template,
        body.lists,
        body.from_,
        body.exclude,
        body.reply_to,
        body.send_at,
        body.time_zone,
    )
    return _shown(await campaigns.create_campaign(ctx, given, body.tenant))


@api.endpoint(
    "GET",
    "/campaigns/{id:int}",
    summary="A campaign with its figures",
    tag="campaigns",
    response=CampaignWithFigures,
)
async def get_campaign(ctx: Context, call: Call) -> object:
    campaign = await campaigns.get_campaign(ctx, call.path["id"])
    shares = [
        {"id": s.id, "name": s.name, "figures": figures(s.report)}
        for s in await campaigns.by_list(ctx, campaign.id)
    ]
    report = figures(await campaigns.report(ctx, campaign.id))
    return {**_shown(campaign), "figures": report, "lists": shares}


def _step(verb: str, summary: str) -> None:
    action = getattr(campaigns, verb)

    async def step(ctx: Context, call: Call) -> object:
        return _shown(await action(ctx, call.path["id"]))

    step.__name__ = f"{verb}_campaign"
    api.endpoint(
        "POST", f"/campaigns/{{id:int}}/{verb}", summary=summary, tag="campaigns", response=Campaign
    )(step)


_step("launch", "Launch a draft: check it, make its recipients, send now or at its time")
_step("pause", "Pause a scheduled or sending campaign")
_step("resume", "Resume a paused campaign")
_step("cancel", "Cancel a campaign for good")


@api.endpoint(
    "POST",
    "/campaigns/{id:int}/test",
    summary="Send its template (as it is now) from its sender to one address",
    tag="campaigns",
    body=CampaignTest,
    response=Queued,
    status=202,
)
async def test_campaign(ctx: Context, call: Call) -> object:
    body = call.body
    return {"queue_id": await campaigns.send_test(ctx, call.path["id"], body.to, body.contact)}


@api.endpoint(
    "GET",
    "/lists/{id:int}/figures",
    summary="A list's figures across the campaigns sent to it, and its part of each",
    tag="campaigns",
    response=ListFigures,
)
async def list_figures(ctx: Context, call: Call) -> object:
    shown = await campaigns.list_figures(ctx, call.path["id"])
    return {
        "figures": figures(shown.total),
        "campaigns": [
            {"id": c.id, "name": c.name, "state": c.state, "figures": figures(r)}
            for c, r in shown.campaigns
        ],
    }


@api.endpoint(
    "GET",
    "/campaigns/{id:int}/recipients",
    summary="A page of a campaign's recipients, by id",
    tag="campaigns",
    query=RecipientFilter,
    response=RecipientList,
)
async def campaign_recipients(ctx: Context, call: Call) -> object:
    query = call.query
    found = await campaigns.recipients(
        ctx, call.path["id"], query.state or None, query.limit, query.after
    )
    return {"data": [asdict(r) for r in found]}


Read = Callable[[Context, int], Awaitable[Export]]


def _report(name: str, read: Read, write: Callable[[Export], str | bytes]) -> Handler:
    async def report(ctx: Context, call: Call) -> object:
        return write(await read(ctx, call.path["id"]))

    report.__name__ = name  # the operation's id
    return report


def _reports(path: str, whose: str, read: Read, part: str) -> None:
    """`{path}/report.csv` and `report.xlsx`: the figures `read` finds for the path's id, and
    their parts (each `part`'s)."""
    said = {"csv": "as CSV", "xlsx": f"as an Excel workbook (sheets figures, links, {part}s)"}
    for suffix, (media, write) in FORMATS.items():
        name = f"{whose}_{'report' if suffix == 'csv' else 'workbook'}"
        api.endpoint(
            "GET",
            f"{path}/report.{suffix}",
            summary=f"A {whose}'s figures, and by {part}, {said[suffix]}",
            tag="campaigns",
            response=None,
            content_type=media,
        )(_report(name, read, write))


_reports("/campaigns/{id:int}", "campaign", campaigns.campaign_export, "list")
_reports("/lists/{id:int}", "list", campaigns.list_export, "campaign")
