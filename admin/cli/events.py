"""`event`: what SES (and the gateway's own tracking) reported about recipients, per tenant."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_db
from config import Settings
from gateway.core.times import parse_time
from gateway.core.types.events import EventKind
from gateway.feedback.suppressions import lookup_key
from gateway.storage import events, tenants
from gateway.storage.database import Database

KINDS = tuple(kind.value for kind in EventKind if kind is not EventKind.RECEIVED)

_COLUMNS = (
    "occurred_at",
    "tenant",
    "kind",
    "address",
    "queue_id",
    "bounce_type",
    "subtype",
    "diagnostic",
    "feedback_type",
)


async def _tenant_id(db: Database, name: str | None) -> int | None:
    return None if name is None else (await tenants.get_tenant(db, name)).id


async def cmd_event_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None

    async def listing(db: Database) -> Any:
        return await events.list_events(
            db,
            await _tenant_id(db, args.tenant),
            [EventKind(kind) for kind in args.type or ()],
            lookup_key(args.address) if args.address else None,
            since,
            until,
            args.limit,
            args.offset,
        )

    found = plain(await with_db(settings, listing, args.tenant))
    return {"events": found}, table(found, _COLUMNS)


async def cmd_event_count(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    since = parse_time(args.since, "--since") if args.since else None

    async def counting(db: Database) -> dict[EventKind, int]:
        return await events.count_events(db, await _tenant_id(db, args.tenant), since)

    counts = {str(kind): n for kind, n in (await with_db(settings, counting, args.tenant)).items()}
    rows = [{"kind": kind, "count": n} for kind, n in sorted(counts.items())]
    return {"counts": counts}, table(rows, ("kind", "count"))


def register(cli: Commands) -> None:
    event = cli.group("event", "what happened to recipients (SES events, opens, clicks)")
    listed = cli.add(event, "list", cmd_event_list, "recipient events, newest first")
    listed.add_argument("--tenant", help="only this tenant's (default: all)")
    listed.add_argument(
        "--type", action="append", choices=KINDS, help="only events of this type (repeatable)"
    )
    listed.add_argument("--address", help="only events of this recipient")
    listed.add_argument("--since", metavar="DATE", help="ISO date or datetime (UTC)")
    listed.add_argument("--until", metavar="DATE", help="ISO date or datetime (UTC), excluded")
    listed.add_argument("--limit", type=int, default=100)
    listed.add_argument("--offset", type=int, default=0)
    counted = cli.add(event, "count", cmd_event_count, "recipient events by type")
    counted.add_argument("--tenant", help="only this tenant's (default: all)")
    counted.add_argument("--since", metavar="DATE", help="ISO date or datetime (UTC)")
