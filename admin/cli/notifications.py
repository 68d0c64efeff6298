"""`notification`: the activity events raised to the operators, and which of them are read."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import activity
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.storage import notifications
from gateway.storage.database import Database

_COLUMNS = ("id", "created_at", "tenant", "kind", "subject", "read_at", "detail")


async def cmd_notification_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def listing(db: Database) -> tuple[Any, int]:
        found = await notifications.list_notifications(db, args.tenant, args.unread, args.limit)
        return found, await notifications.unread_count(db, args.tenant)

    found, unread = await with_db(settings, listing, args.tenant)
    rows = plain(found)
    scope = f" for {args.tenant}" if args.tenant else ""
    text = f"{unread} unread{scope}\n" + table(rows, _COLUMNS)
    return {"unread": unread, "notifications": rows}, text


async def cmd_notification_read(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if args.id is not None:
        if args.tenant is not None:
            raise InvalidInputError("--tenant goes with --all, not with an ID")
        found = await with_ops(settings, lambda ctx: activity.mark_read(ctx, args.id))
        return plain(found), f"notification {found.id} is read"
    marked = await with_ops(settings, lambda ctx: activity.mark_all_read(ctx, args.tenant))
    scope = f" of {args.tenant}" if args.tenant else ""
    return {"marked": marked}, f"marked {marked} notifications{scope} read"


def register(cli: Commands) -> None:
    notification = cli.group("notification", "events raised to the operators, read or unread")
    listed = cli.add(
        notification, "list", cmd_notification_list, "newest first, with the unread count"
    )
    listed.add_argument("--tenant", help="only this tenant's (default: all)")
    listed.add_argument("--unread", action="store_true", help="only the unread ones")
    listed.add_argument("--limit", type=int, default=50)
    read = cli.add(notification, "read", cmd_notification_read, "mark one, or all, read")
    which = read.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?", help="the notification to mark read")
    which.add_argument("--all", action="store_true", help="every unread notification")
    read.add_argument("--tenant", help="with --all: only this tenant's")
