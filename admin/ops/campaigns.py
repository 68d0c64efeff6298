"""Campaigns: create (a draft), launch, pause, resume, cancel (each audited), a test send, and
read with their figures, in all and by list (and a list's across its campaigns), each as an
export (`gateway.campaigns.export`) too.

A campaign belongs to one tenant, as its template and lists do: a tenant's people and keys see
only their own, an admin every tenant's (naming the tenant when creating one). Launching checks
what must hold before anything is sent (an https `PUBLIC_URL`, the sender allowed, every
recipient with a value for each required variable), materialises the recipients
(`gateway.campaigns.launch`) and hands the campaign to the campaign sender of the worker role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from admin.ops import contacts, templates
from admin.ops.context import Context
from gateway.campaigns import launch as launching
from gateway.campaigns.export import Export
from gateway.campaigns.sender import principal
from gateway.compose.mime import mailbox
from gateway.core.exceptions import ConflictError, InvalidInputError, NotFoundError
from gateway.core.types.campaigns import CampaignInfo, CampaignRecipient, Report, Share
from gateway.policy.rules import check_account, check_sender
from gateway.policy.senders import Directory
from gateway.storage import campaigns as store
from gateway.storage import domains as domain_store

NAME_LENGTH = 100
MAX_LISTS = 20


def now() -> datetime:
    return datetime.now(UTC)


def zone_of(name: str) -> ZoneInfo:
    """An IANA time zone (`Europe/Paris`, `UTC`)."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"{name!r} is not a time zone: write one such as Europe/Paris or UTC", "zone"
        ) from None


def send_time(text: str | None, zone: str | None = None) -> tuple[datetime | None, str]:
    """An ISO 8601 time with its offset (`2026-12-24T09:00:00+01:00`, `...Z`), or without one
    and a `zone` (an IANA zone: the time is that zone's wall clock, the panel's date, time and
    zone), or None/"now": (the time, or None for at launch; the zone as given, to show it)."""
    if text is None or not text.strip() or text.strip().lower() == "now":
        return None, "UTC"
    local = zone_of(zone) if zone and zone.strip() else None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not an ISO 8601 time: write 2026-12-24T09:00:00+01:00", "send_at"
        ) from None
    if at.tzinfo is None and local is not None:
        return at.replace(tzinfo=local).astimezone(UTC), local.key
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInputError(
            f"{text!r} has no time zone: add one (+01:00, Z) so that it means one moment", "send_at"
        )
    return at.astimezone(UTC), at.tzname() or "UTC"


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """A campaign as given: names of the template and lists, the sender's address."""

    name: str
    template: str
    lists: Sequence[str]
    sender: str
    exclude: str | None = None
    reply_to: str | None = None
    at: str | None = None
    zone: str | None = None
    """An IANA zone `at` is the wall clock of, when `at` has no offset."""


async def create_campaign(
    ctx: Context, given: NewCampaign, tenant: str | None = None
) -> CampaignInfo:
    ctx.require_write()
    owner = await ctx.require_tenant(tenant or None)
    name = given.name.strip()
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise InvalidInputError(
            f"a campaign's name is 1 to {NAME_LENGTH} printable characters", "name"
        )
    if not given.lists or len(given.lists) > MAX_LISTS:
        raise InvalidInputError(f"give 1 to {MAX_LISTS} lists", "lists")
    template = await templates.find_template(ctx, given.template, owner.name)
    list_ids = list(
        dict.fromkeys([(await contacts.find_list(ctx, n, owner.name)).id for n in given.lists])
    )
    exclude = (
        (await contacts.find_list(ctx, given.exclude, owner.name)).id if given.exclude else None
    )
    if exclude is not None and exclude in list_ids:
        raise InvalidInputError(
            "the exclusion list is one of the campaign's lists: exclude another list, or none",
            "exclude",
        )
    sender = mailbox(given.sender.strip(), "from")
    if given.reply_to:
        mailbox(given.reply_to.strip(), "reply_to")
    send_at, zone = send_time(given.at, given.zone)
    if send_at is not None and send_at < now():
        raise InvalidInputError(
            f"{given.at}: that time is past: give a later one, or none to send at launch", "send_at"
        )
    campaign_id = await store.add_campaign(
        ctx.db,
        tenant_id=owner.id,
        name=name,
        template_id=template.id,
        list_ids=list_ids,
        exclude_list_id=exclude,
        sender=given.sender.strip(),
        reply_to=given.reply_to.strip() if given.reply_to else None,
        send_at=send_at,
        time_zone=zone,
        state="draft",
        recipients=0,
        created_at=now(),
    )
    said = f"campaign {campaign_id}: template {template.name}, from {sender.address}"
    await ctx.audit("campaign.created", name, said, tenant=owner.name)
    return await store.get_campaign(ctx.db, campaign_id)


async def get_campaign(ctx: Context, campaign_id: int) -> CampaignInfo:
    found = await store.get_campaign(ctx.db, campaign_id)
    ctx.owns(found.tenant, f"campaign {campaign_id}")
    return found


async def list_campaigns(ctx: Context, tenant: str | None = None) -> list[CampaignInfo]:
    """The actor's tenant's campaigns, newest first; an admin's: every tenant's, or one's."""
    return await store.list_campaigns(ctx.db, await ctx.tenant_id(tenant or None))


async def report(ctx: Context, campaign_id: int) -> Report:
    return await store.report(ctx.db, (await get_campaign(ctx, campaign_id)).id)


async def waiting(ctx: Context, campaign_id: int) -> int:
    """Its messages made and not yet delivered to SES (or failed)."""
    return await store.waiting(ctx.db, (await get_campaign(ctx, campaign_id)).id)


async def recipients(
    ctx: Context, campaign_id: int, state: str | None = None, limit: int = 100, after: int = 0
) -> list[CampaignRecipient]:
    found = await get_campaign(ctx, campaign_id)
    return await store.recipients(ctx.db, found.id, state or None, limit, after)


def _deleted_template() -> InvalidInputError:
    return InvalidInputError(
        "the campaign's template was deleted: "
        "create the campaign again with a template that exists",
        "template",
    )


async def _check_sender(ctx: Context, campaign: CampaignInfo) -> None:
    """The sender's check of the policy, now, so that a launch does not end in refusals."""
    directory = Directory(ctx.db)
    account = await directory.account(principal(campaign))
    address = mailbox(campaign.sender, "from").address
    refusal = check_account(account) or check_sender(account, await directory.sender(address))
    if refusal is not None:
        sentence = refusal.reply.split(" ", 2)[-1]
        raise InvalidInputError(f"the sender is refused ({refusal.rule}): {sentence}", "from")


async def launch(ctx: Context, campaign_id: int) -> CampaignInfo:
    """Check, materialise the recipients, and schedule the campaign (or start it)."""
    ctx.require_write()
    campaign = await get_campaign(ctx, campaign_id)
    if campaign.state != "draft":
        raise ConflictError(f"campaign {campaign.id} is {campaign.state}: only a draft launches")
    launching.check_public_url(ctx.services.settings)
    if campaign.template_id is None:
        raise _deleted_template()
    template = await templates.get_template(ctx, campaign.template_id)
    await _check_sender(ctx, campaign)
    at = now()
    count = await launching.materialize(ctx.db, campaign, templates.compiled(template), at)
    later = campaign.send_at is not None and campaign.send_at > at
    state = "scheduled" if later else "sending"
    launched = await store.change_state(
        ctx.db,
        campaign.id,
        ("draft",),
        state,
        subject=template.subject,
        html=template.html,
        text=template.text,
        recipients=count,
        launched_at=at,
    )
    if not launched:
        raise ConflictError(
            f"campaign {campaign.id} was launched meanwhile, by another request: "
            f"`campaign show {campaign.id}` says how it goes"
        )
    when = campaign.send_at.isoformat() if later and campaign.send_at else "now"
    said = f"campaign {campaign.id}: {count} recipients, {state} ({when})"
    await ctx.audit("campaign.launched", campaign.name, said, tenant=campaign.tenant)
    return await store.get_campaign(ctx.db, campaign.id)


async def _move(
    ctx: Context, campaign_id: int, before: tuple[str, ...], after: str, verb: str
) -> CampaignInfo:
    ctx.require_write()
    campaign = await get_campaign(ctx, campaign_id)
    if after == "sending" and campaign.send_at is not None and campaign.send_at > now():
        after = "scheduled"
    values = {"finished_at": now()} if after == "cancelled" else {}
    if not await store.change_state(ctx.db, campaign.id, before, after, **values):
        current = (await store.get_campaign(ctx.db, campaign.id)).state
        raise ConflictError(
            f"campaign {campaign.id} is {current}: it {verb}s only when {' or '.join(before)}"
        )
    said = f"campaign {campaign.id}: {campaign.state} -> {after}"
    await ctx.audit(f"campaign.{verb}d", campaign.name, said, tenant=campaign.tenant)
    return await store.get_campaign(ctx.db, campaign.id)


async def pause(ctx: Context, campaign_id: int) -> CampaignInfo:
    """Stop making its messages (those stored already are delivered)."""
    return await _move(ctx, campaign_id, ("scheduled", "sending"), "paused", "pause")


async def resume(ctx: Context, campaign_id: int) -> CampaignInfo:
    """Go on (scheduled again when its time is still ahead)."""
    return await _move(ctx, campaign_id, ("paused",), "sending", "resume")


async def cancel(ctx: Context, campaign_id: int) -> CampaignInfo:
    """Make no more of its messages, for good (those stored already are delivered)."""
    before = ("draft", "scheduled", "sending", "paused")
    return await _move(ctx, campaign_id, before, "cancelled", "cancel")


@dataclass(frozen=True, slots=True)
class Senders:
    """What a tenant's campaign may be sent from: its addresses verified for sending (their own
    or by their domain's verification), and its verified domains any of whose addresses may
    send (those not restricted to their listed addresses)."""

    addresses: list[str]
    domains: list[str]


async def senders(ctx: Context, tenant: str | None = None) -> Senders:
    owner = await ctx.require_tenant(tenant or None)
    found = await domain_store.list_domains(ctx.db, owner.name)
    verified = {d.name for d in found if d.state.verified_for_sending}
    listed = await domain_store.list_addresses(ctx.db, owner.name)
    return Senders(
        [a.address for a in listed if a.verified_for_sending or a.domain in verified],
        [d.name for d in found if d.name in verified and not d.restrict_to_addresses],
    )


async def send_test(ctx: Context, campaign_id: int, to: str, contact: str | None = None) -> str:
    """The campaign's template (as it is now) sent to `to` from the campaign's sender, by the
    template test's path (`templates.send_test`), with the fields of `contact` (an address on
    one of the campaign's lists: the first that has it) when named: the queue id."""
    campaign = await get_campaign(ctx, campaign_id)
    if campaign.template_id is None:
        raise _deleted_template()
    list_name = None
    if contact and contact.strip():
        list_name = await _first_list_of(ctx, campaign, contact.strip())
    return await templates.send_test(
        ctx, campaign.template_id, to, campaign.sender, {}, contact, list_name
    )


async def _first_list_of(ctx: Context, campaign: CampaignInfo, address: str) -> str:
    """The name of the first of the campaign's lists that has `address` (whose fields its
    message would have)."""
    for list_id in campaign.list_ids:
        try:
            found = await contacts.get_list(ctx, list_id)
            await contacts.get_contact(ctx, found.id, address)
        except NotFoundError:
            continue
        return found.name
    raise InvalidInputError(f"{address} is on none of the campaign's lists", "contact")


async def by_list(ctx: Context, campaign_id: int) -> list[Share]:
    """The campaign's figures broken down by its lists (a deleted list is left out)."""
    campaign = await get_campaign(ctx, campaign_id)
    shares = []
    for found in await contacts.lists(ctx, campaign.tenant):
        if found.id in campaign.list_ids:
            report = await store.list_report(ctx.db, found.id, campaign.id)
            shares.append(Share(found.id, found.name, report))
    return sorted(shares, key=lambda share: campaign.list_ids.index(share.id))


@dataclass(frozen=True, slots=True)
class ListFigures:
    """A list's figures across the campaigns sent to it (launched), and its part of each."""

    total: Report
    campaigns: list[tuple[CampaignInfo, Report]]


async def list_figures(ctx: Context, list_id: int) -> ListFigures:
    found = await contacts.get_list(ctx, list_id)
    sent_to = [
        c
        for c in await list_campaigns(ctx, found.tenant)
        if found.id in c.list_ids and c.launched_at is not None
    ]
    return ListFigures(
        await store.list_report(ctx.db, found.id),
        [(c, await store.list_report(ctx.db, found.id, c.id)) for c in sent_to],
    )


async def campaign_export(ctx: Context, campaign_id: int) -> Export:
    """A campaign's figures and its lists' parts, to write as CSV or a workbook."""
    campaign = await get_campaign(ctx, campaign_id)
    figures = await store.report(ctx.db, campaign.id)
    return Export("campaign", campaign.id, campaign.name, figures, await by_list(ctx, campaign.id))


async def list_export(ctx: Context, list_id: int) -> Export:
    """A list's figures across its campaigns and its part of each, to write as CSV or a
    workbook."""
    found = await contacts.get_list(ctx, list_id)
    shown = await list_figures(ctx, found.id)
    parts = [Share(campaign.id, campaign.name, report) for campaign, report in shown.campaigns]
    return Export("list", found.id, found.name, shown.total, parts)
