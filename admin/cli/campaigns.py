"""`campaign`: tenants' campaigns: create a draft, launch, pause, resume, cancel, list, show with
its figures, and export them as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, plain, table, with_ops
from admin.ops import campaigns as ops
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
        args.name, args.template, args.list, args.sender, args.exclude, args.reply_to, args.at
    )
    campaign = await with_ops(settings, lambda ctx: ops.create_campaign(ctx, given, args.tenant))
    return summary(campaign), f"created campaign {campaign.name} ({campaign.id}), a draft"


async def cmd_campaign_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_ops(settings, lambda ctx: ops.list_campaigns(ctx, args.tenant))
    rows = [{k: v for k, v in summary(c).items() if k in _COLUMNS} for c in found]
    return {"campaigns": rows}, table(rows, _COLUMNS)


async def cmd_campaign_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def show(ctx: Context) -> tuple[CampaignInfo, dict[str, Any]]:
        campaign = await ops.get_campaign(ctx, args.id)
        return campaign, figures(await ops.report(ctx, campaign.id))

    campaign, counts = await with_ops(settings, show)
    lines = [
        f"campaign {campaign.name} ({campaign.id}) of {campaign.tenant}: {campaign.state}",
        f"from {campaign.sender}, {counts['recipients']} recipients, {counts['pending']} to make,"
        f" {counts['skipped']} skipped, {counts['refused']} refused",
        *(
            f"{name}: {counts[name]}"
            + (f" ({counts['rates'][name]:.1%})" if name in counts["rates"] else "")
            for name in COUNTS
        ),
        f"opens: {counts['opens']}, clicks: {counts['clicks']}",
        *(f"  {link['url']}: {link['clicked']} ({link['clicks']})" for link in counts["links"]),
    ]
    return {**summary(campaign), **counts}, "\n".join(lines)


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
        help="with its offset: 2026-12-24T09:00+01:00 (default: at launch)",
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
    exported = cli.add(campaign, "export", cmd_campaign_export, "its figures as CSV or .xlsx")
    exported.add_argument("id", type=int, metavar="ID")
    exported.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="*.xlsx: a workbook (default: print CSV)"
    )
