"""`webhook`: the HTTPS URLs a tenant's events are POSTed to, and what came of each POST."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import webhooks as ops
from config import Settings
from gateway.storage import webhooks as store
from gateway.webhooks.schema import EVENT_TYPES

_WEBHOOK_COLUMNS = ("id", "tenant", "url", "events", "created_at", "disabled")
_ATTEMPT_COLUMNS = (
    "attempted_at",
    "event_type",
    "event_id",
    "status_code",
    "duration_ms",
    "state",
    "error",
)


def _row(webhook: store.WebhookInfo) -> dict[str, Any]:
    return {
        **plain(webhook),
        "events": ",".join(webhook.events) or "(all)",
        "disabled": webhook.disabled_reason,
    }


async def cmd_webhook_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    events = (args.events or "").split(",")
    webhook, secret = await with_ops(
        settings, lambda ctx: ops.add_webhook(ctx, args.url, events, args.tenant)
    )
    text = "\n".join(
        [
            f"webhook {webhook.id} of tenant {webhook.tenant}: {webhook.url}",
            f"events: {','.join(webhook.events) or 'all'}",
            f"signing secret (shown only now): {secret}",
        ]
    )
    return {**plain(webhook), "secret": secret}, text


async def cmd_webhook_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_db(settings, lambda db: store.list_webhooks(db, args.tenant), args.tenant)
    return {"webhooks": plain(found)}, table([_row(w) for w in found], _WEBHOOK_COLUMNS)


async def cmd_webhook_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    webhook = await with_ops(settings, lambda ctx: ops.remove_webhook(ctx, args.id))
    return plain(webhook), f"removed webhook {webhook.id} ({webhook.url}) of {webhook.tenant}"


async def cmd_webhook_attempts(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_db(settings, lambda db: store.list_attempts(db, args.id, args.limit))
    return {"attempts": plain(found)}, table(plain(found), _ATTEMPT_COLUMNS)


async def cmd_webhook_test(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    result = await with_ops(settings, lambda ctx: ops.send_test(ctx, args.id))
    ms = result.attempt.duration_ms
    text = f"test event {result.event_id}: {result.state} ({result.outcome}, {ms} ms)"
    return plain(result), text


def register(cli: Commands) -> None:
    webhook = cli.group("webhook", "HTTPS URLs that a tenant's events are POSTed to")
    added = cli.add(webhook, "add", cmd_webhook_add, "register a URL; prints its signing secret")
    added.add_argument("url", metavar="URL", help="an https:// URL")
    added.add_argument("--tenant", required=True)
    added.add_argument(
        "--events",
        metavar="TYPES",
        help=f"comma-separated, of {','.join(EVENT_TYPES)} (default: all)",
    )
    listed = cli.add(webhook, "list", cmd_webhook_list, "list webhooks")
    listed.add_argument("--tenant", help="only this tenant's (default: all)")
    removed = cli.add(webhook, "remove", cmd_webhook_remove, "delete a webhook and its deliveries")
    removed.add_argument("id", type=int, metavar="ID")
    attempts = cli.add(webhook, "attempts", cmd_webhook_attempts, "latest POSTs, newest first")
    attempts.add_argument("id", type=int, metavar="ID")
    attempts.add_argument("--limit", type=int, default=50)
    tested = cli.add(webhook, "test", cmd_webhook_test, "POST a test event now, once")
    tested.add_argument("id", type=int, metavar="ID")
