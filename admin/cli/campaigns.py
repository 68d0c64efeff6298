"""`campaign`: tenants' campaigns: create a draft, launch, pause, resume, cancel, list, show with
its figures (in all and by list), a test send, and export them as CSV or a workbook; and `list
figures` and `list export-figures`, a list's figures across its campaigns."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from admin.cli.base import Command, Commands, plain, table, with_ops
from admin.ops import campaigns as ops
from admin.ops import contacts
from admin.ops.context import Context
from config import Settings
from gateway.campaigns.export import COUNTS, Export, figures, written
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.campaigns import CampaignInfo, Share

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
    async def show(ctx: Context) -> tuple[CampaignInfo, dict[str, Any], list[Share]]:
        campaign = await ops.get_campaign(ctx, args.id)
        report = figures(await ops.report(ctx, campaign.id))
        return campaign, report, await ops.by_list(ctx, campaign.id)

    campaign, counts, shares = await with_ops(settings, show)
    by_list = [{"id": s.id, "name": s.name, **figures(s.report)} for s in shares]
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


def export_command(read: Callable[[Context, argparse.Namespace], Awaitable[Export]]) -> Command:
    """A command that writes the figures `read` finds to FILE: an Excel workbook for a FILE
    named `*.xlsx`, else CSV (printed without FILE)."""

    async def command(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
        suffix = "xlsx" if args.file is not None and args.file.suffix.lower() == ".xlsx" else "csv"

        async def export(ctx: Context) -> tuple[Export, str | bytes]:
            found = await read(ctx, args)
            return found, written(found, suffix)[0]

        found, made = await with_ops(settings, export)
        if isinstance(made, str) and args.file is None:
            return {"file": None, "csv": made}, made.removesuffix("\n")
        try:
            if isinstance(made, bytes):
                args.file.write_bytes(made)
            else:
                args.file.write_text(made, encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot write {args.file}: {exc.strerror or exc}") from exc
        said = f"wrote the figures of {found.kind} {found.name} ({found.id}) to {args.file}"
        return {"file": str(args.file)}, said

    return command


async def _campaign_export(ctx: Context, args: argparse.Namespace) -> Export:
    return await ops.campaign_export(ctx, args.id)


async def _list_export(ctx: Context, args: argparse.Namespace) -> Export:
    """`list export-figures NAME`: the list's figures across its campaigns, by campaign."""
    return await ops.list_export(ctx, (await contacts.find_list(ctx, args.name, args.tenant)).id)


cmd_campaign_export = export_command(_campaign_export)
cmd_list_export = export_command(_list_export)


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
    export_file(exported)


def export_file(command: argparse.ArgumentParser) -> None:
    """The FILE of an export's command."""
    command.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="*.xlsx: a workbook (default: print CSV)"
    )
