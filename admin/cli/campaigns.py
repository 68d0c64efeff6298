"""`campaign`: tenants' campaigns: create a draft, launch, pause, resume, cancel, list, show with
its figures (in all and by list), a test send, and export them as CSV; and `list figures`, a
list's figures across its campaigns."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, plain, table, with_ops
from admin.ops import campaigns as ops
from admin.ops import contacts
from admin.ops.context import Context
from config import Settings
from gateway.campaigns.export import COUNTS, figures, report_csv, report_workbook
from gateway.core.types.campaigns import CampaignInfo

_COLUMNS = ("id", "tenant", "name", "state", "recipients", "send_at", "created_at")
_HIDDEN = ("subject", "html", "text")
"""The template's parts as copied at launch: `template show` shows them."""


def summary(campaign: CampaignInfo) -> dict[str, Any]:
    document: dict[str, Any] = plain(campaign)
    for name in _HIDDEN:
        document.pop(name)
    return document


async def cmd_campaign_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    given = ops.NewCampaign(
        args.name,
        args.template,
        args.list,
        args.sender,
        args.exclude,
        args.reply_to,
        args.at,
        args.zone,
    )
    campaign = await with_ops(settings, lambda ctx: ops.create_campaign(ctx, given, args.tenant))
    return summary(campaign), f"created campaign {campaign.name} ({campaign.id}), a draft"


async def cmd_campaign_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_ops(settings, lambda ctx: ops.list_campaigns(ctx, args.tenant))
    rows = [{k: v for k, v in summary(c).items() if k in _COLUMNS} for c in found]
    return {"campaigns": rows}, table(rows, _COLUMNS)


def figure_lines(counts: dict[str, Any]) -> list[str]:
    """The figures (`figures()`), one a line, with their rates and the links clicked."""
    return [
        *(
            f"{name}: {counts[name]}"
            + (f" ({counts['rates'][name]:.1%})" if name in counts["rates"] else "")
            for name in COUNTS
        ),
        f"opens: {counts['opens']}, clicks: {counts['clicks']}",
        *(f"  {link['url']}: {link['clicked']} ({link['clicks']})" for link in counts["links"]),
    ]


def _share(label: str, counts: dict[str, Any]) -> str:
    """One line of a list's or a campaign's part: its recipients and counts."""
    shown = ", ".join(f"{n} {counts[n]}" for n in COUNTS)
    return f"  {label}: {counts['recipients']} recipients, {shown}"


async def cmd_campaign_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def show(ctx: Context) -> tuple[CampaignInfo, dict[str, Any], list[ops.ListShare]]:
        campaign = await ops.get_campaign(ctx, args.id)
        report = figures(await ops.report(ctx, campaign.id))
        return campaign, report, await ops.by_list(ctx, campaign.id)

    campaign, counts, shares = await with_ops(settings, show)
    by_list = [{"id": s.list_id, "name": s.name, **figures(s.report)} for s in shares]
    lines = [
        f"campaign {campaign.name} ({campaign.id}) of {campaign.tenant}: {campaign.state}",
        f"from {campaign.sender}, {counts['recipients']} recipients, {counts['pending']} to make,"
        f" {counts['skipped']} skipped, {counts['refused']} refused",
        *figure_lines(counts),
        *(
            ["by list:", *(_share(f"list {s['name']}", s) for s in by_list)]
            if len(by_list) > 1
            else []
        ),
    ]
    return {**summary(campaign), **counts, "lists": by_list}, "\n".join(lines)


async def cmd_campaign_test(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    queue_id = await with_ops(
        settings, lambda ctx: ops.send_test(ctx, args.id, args.to, args.contact), sends=True
    )
    return {"queue_id": queue_id}, f"test message of campaign {args.id} queued as {queue_id}"


async def cmd_list_figures(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    """`list figures NAME`: the list's figures across its campaigns, and its part of each."""

    async def read(ctx: Context) -> tuple[str, ops.ListFigures]:
        found = await contacts.find_list(ctx, args.name, args.tenant)
        return found.name, await ops.list_figures(ctx, found.id)

    name, shown = await with_ops(settings, read)
    total = figures(shown.total)
    rows = [
        {"id": c.id, "name": c.name, "state": c.state, **figures(r)} for c, r in shown.campaigns
    ]
    lines = [
        f"list {name}: {len(rows)} campaigns, {total['recipients']} recipients",
        *figure_lines(total),
        *(_share(f"campaign {row['name']} ({row['id']})", row) for row in rows),
    ]
    return {**total, "campaigns": rows}, "\n".join(lines)


def _step(verb: str) -> Any:
    async def command(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
        action = getattr(ops, verb)
        campaign = await with_ops(settings, lambda ctx: action(ctx, args.id))
        return summary(campaign), f"campaign {campaign.name} ({campaign.id}): {campaign.state}"

    return command


async def cmd_campaign_export(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    """CSV, or an Excel workbook for a FILE named `*.xlsx`."""
    workbook = args.file is not None and args.file.suffix.lower() == ".xlsx"

    async def export(ctx: Context) -> str | bytes:
        campaign = await ops.get_campaign(ctx, args.id)
        report = await ops.report(ctx, campaign.id)
        return report_workbook(campaign, report) if workbook else report_csv(campaign, report)

    made = await with_ops(settings, export)
    if isinstance(made, bytes):
        args.file.write_bytes(made)
    elif args.file is None:
        return {"file": None, "csv": made}, made.removesuffix("\n")
    else:
        args.file.write_text(made, encoding="utf-8")
    return {"file": str(args.file)}, f"wrote campaign {args.id}'s figures to {args.file}"


def register(cli: Commands) -> None:
    campaign = cli.group("campaign", "campaigns: a template mailed to contact lists")
    created = cli.add(campaign, "create", cmd_campaign_create, "make a campaign (a draft)")
    created.add_argument("name", metavar="NAME")
    created.add_argument("--tenant", required=True)
    created.add_argument("--template", required=True, metavar="NAME")
    created.add_argument(
        "--list", action="append", required=True, metavar="NAME", help="again for each list"
    )
    created.add_argument("--exclude", metavar="NAME", help="a list whose contacts are left out")
    created.add_argument("--from", dest="sender", required=True, metavar="ADDRESS")
    created.add_argument("--reply-to", metavar="ADDRESS")
    created.add_argument(
        "--at",
        metavar="ISO-8601-TIME",
        help="with its offset: 2026-12-24T09:00+01:00, or without and --zone (default: at launch)",
    )
    created.add_argument(
        "--zone", metavar="ZONE", help="the IANA time zone of an --at without an offset"
    )
    for name in ("list", "ls"):
        listed = cli.add(campaign, name, cmd_campaign_list, "list campaigns")
        listed.add_argument("--tenant", help="only this tenant's (default: all)")
    shown = cli.add(campaign, "show", cmd_campaign_show, "a campaign with its figures")
    shown.add_argument("id", type=int, metavar="ID")
    for verb, said in (
        ("launch", "check, make the recipients, and send (or schedule)"),
        ("pause", "stop making its messages"),
        ("resume", "go on with a paused campaign"),
        ("cancel", "stop for good"),
    ):
        cli.add(campaign, verb, _step(verb), said).add_argument("id", type=int, metavar="ID")
    tested = cli.add(campaign, "test", cmd_campaign_test, "send its template to an address")
    tested.add_argument("id", type=int, metavar="ID")
    tested.add_argument("--to", required=True, metavar="ADDRESS")
    tested.add_argument(
        "--contact", metavar="ADDRESS", help="with the fields of this contact of its lists"
    )
    exported = cli.add(campaign, "export", cmd_campaign_export, "its figures as CSV or .xlsx")
    exported.add_argument("id", type=int, metavar="ID")
    exported.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="*.xlsx: a workbook (default: print CSV)"
    )
