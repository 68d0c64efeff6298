"""`domain`, `address` and `activity`: sending domains and addresses, what happened to them."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.cli.progress import Progress
from admin.ops import domains
from admin.ops.context import Context
from admin.ops.domains import DomainView
from admin.ops.publish import INSYNC_WAIT, Published, publish_domain, step_rows
from config import Settings
from gateway.core.exceptions import InvalidInputError, Route53Error
from gateway.core.types.domains import DomainInfo
from gateway.domains.identities import DomainSync, parse_address
from gateway.storage import activity as activity_store
from gateway.storage import domains as domain_store


def _domain_document(view: DomainView) -> dict[str, Any]:
    document: dict[str, Any] = plain(view.domain)
    document["records"] = plain(view.records)
    return document


def _domain_text(view: DomainView) -> str:
    domain = view.domain
    state = domain.state
    sending = "yes" if state.verified_for_sending else "not yet"
    name = (
        domain.name
        if domain.display_name == domain.name
        else f"{domain.display_name} ({domain.name})"
    )
    lines = [
        f"domain {name}, tenant {domain.tenant}, SES region {domain.region}"
        + (", only listed addresses may send" if domain.restrict_to_addresses else ""),
        f"verified for sending: {sending} (verification {state.verification_status}, "
        f"DKIM {state.dkim_status or '-'} [{domain.dkim_mode}]"
        + (
            f", MAIL FROM {state.mail_from_domain} {state.mail_from_status}"
            if state.mail_from_domain
            else ""
        )
        + ")",
        _tracking_text(domain),
        "",
        "Publish these DNS records:",
        table(
            [
                {**plain(r), "required": "required" if r.required else "recommended"}
                for r in view.records
            ],
            ("type", "name", "value", "required", "purpose"),
        ),
    ]
    return "\n".join(lines)


def _tracking_text(domain: DomainInfo) -> str:
    kinds = [
        name
        for name, on in (
            ("opens", domain.open_tracking),
            ("clicks", domain.click_tracking),
            ("unsubscribe header", domain.unsubscribe),
        )
        if on
    ]
    host = f" through {domain.tracking_host}" if domain.tracking_host and kinds else ""
    return f"tracking: {', '.join(kinds) or 'off'}{host}"


async def cmd_domain_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    progress = Progress("", shown=False if args.json else None)

    async def add(ctx: Context) -> tuple[DomainView, Published | str | None]:
        view = await domains.add_domain(ctx, args.tenant, args.domain, args.dkim, args.mail_from)
        if not args.publish:
            return view, None
        try:  # the domain is added whatever becomes of its publishing
            return view, await publish_domain(ctx, view.domain.name, progress=progress.say)
        except (InvalidInputError, Route53Error) as exc:
            return view, f"not published to Route 53: {exc}"

    try:
        view, published = await with_ops(settings, add, ses=True)
    finally:
        progress.finish()
    document, text = _domain_document(view), _domain_text(view)
    if isinstance(published, str):
        document["published"] = {"error": published}
        text += f"\n\n{published}"
    elif published is not None:
        document["published"], said = _published(published)
        text += f"\n\n{said}"
    return document, text


def _published(published: Published) -> tuple[dict[str, Any], str]:
    """What `domain publish` (and `domain add --publish`) prints: the change set, what became
    of it, and the live DNS check."""
    change_set = published.change_set
    zone = change_set.zone
    steps = step_rows(change_set)
    document = {
        "domain": published.domain.name,
        "zone": plain(zone),
        "dry_run": published.dry_run,
        "fingerprint": change_set.fingerprint,
        "steps": steps,
        "change_id": published.change_id,
        "status": published.status,
        "check": None if published.check is None else plain(published.check),
    }
    kind = "private" if zone.private else "public"
    lines = [f"Route 53 hosted zone {zone.name} ({zone.id}, {kind}):"]
    lines.append(table(steps, ("action", "type", "name", "value", "detail")))
    if published.dry_run:
        lines.append(f"dry run: nothing sent ({len(change_set.changes)} changes to make)")
    elif published.change_id is None:
        lines.append("nothing to change")
    elif published.status == "INSYNC":
        lines.append(f"change {published.change_id} sent as one batch: INSYNC")
    else:
        lines.append(
            f"change {published.change_id} sent as one batch, still {published.status}: "
            f"Route 53 applies it within minutes; check later with `domain check {zone.name}`"
        )
    if change_set.conflicts:
        lines.append(f"{len(change_set.conflicts)} left alone: see their detail above")
    if published.check is not None:
        rows = [{**c, "found": ", ".join(c["found"]) or "-"} for c in plain(published.check)]
        lines += ["", "DNS check:", table(rows, ("status", "type", "name", "found", "detail"))]
    return document, "\n".join(lines)


async def cmd_domain_publish(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    progress = Progress("", shown=False if args.json else None)
    try:
        published = await with_ops(
            settings,
            lambda ctx: publish_domain(
                ctx,
                args.domain,
                args.zone_id,
                dry_run=args.dry_run,
                wait=args.wait,
                progress=progress.say,
            ),
            ses=True,
        )
    finally:
        progress.finish()
    return _published(published)


async def cmd_domain_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    view = await with_ops(settings, lambda ctx: domains.get_domain(ctx, args.domain), ses=True)
    if args.format == "zone":
        return _domain_document(view), "\n".join(view.zone)
    return _domain_document(view), _domain_text(view)


async def cmd_domain_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_db(
        settings, lambda db: domain_store.list_domains(db, args.tenant), args.tenant
    )
    rows = [
        {
            "name": d.display_name,
            "tenant": d.tenant,
            "region": d.region,
            "sending": "verified" if d.state.verified_for_sending else "pending",
            "dkim": d.state.dkim_status,
            "checked_at": d.checked_at,
        }
        for d in found
    ]
    columns = ("name", "tenant", "region", "sending", "dkim", "checked_at")
    return {"domains": plain(found)}, table(rows, columns)


async def cmd_domain_check(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    checked = await with_ops(settings, lambda ctx: domains.check_domain(ctx, args.domain), ses=True)
    domain = checked.domain
    found = plain(checked.records)
    rows = [{**c, "found": ", ".join(c["found"]) or "-"} for c in found]
    text = f"DNS check of {domain.name}:\n" + table(
        rows, ("status", "type", "name", "expected", "found", "detail", "nameserver")
    )
    return {"domain": domain.name, "records": found}, text


async def _sync(ctx: Context, name: str | None) -> list[DomainSync]:
    """The domain named, or every domain, synced one after the other."""
    names = [name] if name else [d.name for d in await domains.list_domains(ctx)]
    return [await domains.sync_domain(ctx, each) for each in names]


def _synced(synced_domains: list[DomainSync]) -> tuple[Any, str]:
    """What `domain sync` and `domain verify` print: each domain's state and SES's changes."""
    results: list[dict[str, Any]] = []
    lines: list[str] = []
    for synced in synced_domains:
        name = synced.domain.name
        verified = synced.domain.state.verified_for_sending
        results.append(
            {
                "domain": name,
                "verified_for_sending": verified,
                "events": [{"kind": kind, "detail": detail} for kind, detail in synced.events],
            }
        )
        said = "".join(f"; {kind} ({detail})" for kind, detail in synced.events)
        lines.append(f"{name}: {'verified' if verified else 'pending'}{said}")
    return {"domains": results}, "\n".join(lines) or "(no domains)"


async def cmd_domain_sync(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    return _synced(await with_ops(settings, lambda ctx: _sync(ctx, args.domain), ses=True))


async def cmd_domain_verify(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    synced = await with_ops(settings, lambda ctx: domains.verify_domain(ctx, args.domain), ses=True)
    return _synced([synced])


async def cmd_domain_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if not args.yes:
        raise InvalidInputError(
            f"removing {args.domain} deletes its SES identity and fails its queued mail: "
            "add --yes to confirm"
        )
    domain, failed = await with_ops(
        settings, lambda ctx: domains.remove_domain(ctx, args.domain), ses=True
    )
    return {"domain": domain.name, "failed_messages": failed}, (
        f"removed {domain.name} from SES and the gateway; {failed} queued messages failed"
    )


def _on(value: str | None) -> bool | None:
    return None if value is None else value == "on"


async def cmd_domain_set(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tracking = (args.open_tracking, args.click_tracking, args.unsubscribe, args.tracking_host)
    if args.restrict_to_addresses is None and args.mail_from is None and tracking == (None,) * 4:
        raise InvalidInputError(
            "give --restrict-to-addresses yes|no, --mail-from SUBDOMAIN, --open-tracking on|off, "
            "--click-tracking on|off, --unsubscribe on|off and/or --tracking-host HOST"
        )
    restricted = args.restrict_to_addresses
    view = await with_ops(
        settings,
        lambda ctx: domains.update_domain(
            ctx,
            args.domain,
            restrict_to_addresses=None if restricted is None else restricted == "yes",
            mail_from=args.mail_from,
            open_tracking=_on(args.open_tracking),
            click_tracking=_on(args.click_tracking),
            unsubscribe=_on(args.unsubscribe),
            tracking_host=args.tracking_host,
        ),
        ses=True,
    )
    return _domain_document(view), _domain_text(view)


def _domain_of(address: str) -> str:
    """The domain an address is added under, or removed from."""
    return parse_address(address).domain.ascii


async def cmd_address_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    name = _domain_of(args.address)
    address = await with_ops(
        settings,
        lambda ctx: domains.add_address(ctx, name, args.address, args.verify_email),
        ses=True,
    )
    text = f"added {address.address} under {address.domain}"
    if address.ses_identity:
        text += "; SES emailed a confirmation link to it"
    return plain(address), text


async def cmd_address_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(
        await with_db(
            settings,
            lambda db: domain_store.list_addresses(db, args.tenant, args.domain),
            args.tenant,
        )
    )
    columns = ("address", "tenant", "domain", "ses_identity", "verified_for_sending")
    return {"addresses": found}, table(found, columns)


async def cmd_address_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    name = _domain_of(args.address)
    address = await with_ops(
        settings, lambda ctx: domains.remove_address(ctx, name, args.address), ses=True
    )
    return plain(address), f"removed {address.address}"


async def cmd_activity_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(
        await with_db(
            settings,
            lambda db: activity_store.list_activity(db, args.tenant, limit=args.limit),
            args.tenant,
        )
    )
    columns = ("created_at", "tenant", "kind", "subject", "detail")
    return {"activity": found}, table(found, columns)


def register(cli: Commands) -> None:
    domain = cli.group("domain", "sending domains")
    add = cli.add(domain, "add", cmd_domain_add, "register a domain with SES")
    add.add_argument("domain")
    add.add_argument("--tenant", required=True)
    add.add_argument("--dkim", choices=("easy", "byodkim"), default="easy")
    add.add_argument("--mail-from", metavar="SUBDOMAIN", help="custom MAIL FROM, e.g. mail")
    add.add_argument(
        "--publish",
        action="store_true",
        help="then publish the records to the Route 53 hosted zone that holds the domain",
    )
    show = cli.add(domain, "show", cmd_domain_show, "status and the DNS records to publish")
    show.add_argument("domain")
    show.add_argument("--format", choices=("table", "zone"), default="table")
    cli.add(domain, "list", cmd_domain_list, "list domains").add_argument("--tenant")
    cli.add(domain, "check", cmd_domain_check, "check the DNS records now").add_argument("domain")
    publish = cli.add(
        domain, "publish", cmd_domain_publish, "publish the DNS records to Route 53, then check"
    )
    publish.add_argument("domain")
    publish.add_argument("--zone-id", help="the hosted zone (default: the one that holds it)")
    publish.add_argument("--dry-run", action="store_true", help="show the change set only")
    publish.add_argument(
        "--wait",
        type=float,
        default=INSYNC_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for INSYNC (default {INSYNC_WAIT:g})",
    )
    cli.add(domain, "sync", cmd_domain_sync, "ask SES for the status now").add_argument(
        "domain", nargs="?"
    )
    cli.add(
        domain,
        "verify",
        cmd_domain_verify,
        "serve --dev: the emulator takes the DNS records as published now",
    ).add_argument("domain")
    remove = cli.add(domain, "remove", cmd_domain_remove, "delete from SES and the gateway")
    remove.add_argument("domain")
    remove.add_argument("--yes", action="store_true", help="confirm")
    settable = cli.add(domain, "set", cmd_domain_set, "change a domain's options")
    settable.add_argument("domain")
    settable.add_argument(
        "--restrict-to-addresses", choices=("yes", "no"), help="only listed addresses may send"
    )
    settable.add_argument("--mail-from", metavar="SUBDOMAIN", help="custom MAIL FROM, e.g. mail")
    for flag, meaning in (
        ("--open-tracking", "add an open-tracking pixel to HTML parts"),
        ("--click-tracking", "send HTML links through the gateway"),
        ("--unsubscribe", "add a one-click List-Unsubscribe header"),
    ):
        settable.add_argument(flag, choices=("on", "off"), help=meaning)
    settable.add_argument(
        "--tracking-host",
        metavar="HOST",
        help='host of tracking links, a CNAME to the gateway; "" for PUBLIC_URL\'s',
    )

    address = cli.group("address", "sender addresses")
    add_address = cli.add(address, "add", cmd_address_add, "add a sender address")
    add_address.add_argument("address")
    add_address.add_argument(
        "--verify-email", action="store_true", help="verify it with SES by email (no DNS needed)"
    )
    listing = cli.add(address, "list", cmd_address_list, "list sender addresses")
    listing.add_argument("--tenant")
    listing.add_argument("--domain")
    cli.add(address, "remove", cmd_address_remove, "remove a sender address").add_argument(
        "address"
    )

    activity = cli.group("activity", "what happened")
    recent = cli.add(activity, "list", cmd_activity_list, "recent events, newest first")
    recent.add_argument("--tenant")
    recent.add_argument("--limit", type=int, default=50)
