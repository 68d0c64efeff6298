"""`status` and `message`: the SES account, the queue, one message."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import messages as message_ops
from admin.ops.messages import MessageFilters
from admin.runtime import Parts
from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesAccount
from gateway.core.crypto import Sealer, previous_keys
from gateway.core.secret_key import load_secret_key
from gateway.core.types.aws import DEFAULT_ACCOUNT, AccountQuota
from gateway.core.types.history import MessageDetail
from gateway.delivery.governor import pace, read_quota
from gateway.storage import messages, notifications, queue
from gateway.storage.database import Database

_TRACKING = (
    "address",
    "opens",
    "machine_opens",
    "first_open_at",
    "clicks",
    "machine_clicks",
    "first_click_at",
    "unsubscribed_at",
)


async def cmd_message_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    sealer = Sealer(load_secret_key(settings), previous_keys(settings))

    async def read(db: Database) -> MessageDetail:
        return await messages.message_detail(db, sealer, args.queue_id, None)

    detail = await with_db(settings, read)
    status = detail.message
    document = plain(status)
    document["status"] = detail.status.value
    document["headers"] = detail.headers
    for shown, recipient in zip(document["recipients"], detail.recipients, strict=True):
        shown["timeline"] = plain(recipient.timeline)
    reports = [r.report for r in detail.recipients] + list(detail.strangers)
    document["outcomes"] = [{**plain(report), "outcome": report.outcome} for report in reports]
    document["events"] = plain(detail.events)
    tracked = [r.tracking for r in detail.recipients if r.tracking is not None]
    document["tracking"] = plain(tracked)
    head = (
        f"message {status.id} from {status.mail_from} (tenant {status.tenant}), "
        f"{status.size} bytes\n"
        f"subject: {status.subject}\n"
        f"{detail.status.value}: state {status.state}, {status.attempts} attempts, "
        f"created {document['created_at']}\n"
    )
    columns = ("address", "state", "attempts", "ses_message_id", "last_error")
    outcomes = (
        "address",
        "outcome",
        "delivered_at",
        "bounced_at",
        "bounce_type",
        "diagnostic",
        "complained_at",
        "opens",
        "clicks",
        "unsubscribed_at",
    )
    return document, (
        head
        + table(document["recipients"], columns)
        + "\n\nWhat SES reported:\n"
        + table(document["outcomes"], outcomes)
        + (
            "\n\nTracking (people, and machines apart):\n" + table(document["tracking"], _TRACKING)
            if tracked
            else ""
        )
    )


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def quota_document(quota: AccountQuota) -> dict[str, Any]:
    """The account's state as `--json` gives it (`sandbox`: None when SES did not say)."""
    production = quota.production_access_enabled
    return {**plain(quota), "sandbox": None if production is None else not production}


def quota_lines(quota: AccountQuota) -> list[str]:
    """The account's state for people: `status` and `ses account` say it alike."""
    mode = {None: "unknown", True: "production", False: "SANDBOX"}[quota.production_access_enabled]
    daily = "unlimited" if quota.max_24_hour_send is None else str(quota.max_24_hour_send)
    lines = [
        f"account: {mode}, sending enabled: {_yes_no(quota.sending_enabled)}, "
        f"enforcement: {quota.enforcement_status or 'unknown'} (from {quota.source})",
        f"daily quota: {quota.sent_last_24_hours} sent in the last 24 hours, Max24HourSend {daily}",
        f"MaxSendRate {quota.max_send_rate:g}/s",
    ]
    if quota.review_status:
        lines.append(
            f"production access requested: {quota.review_status} "
            f"(case {quota.review_case_id or 'unknown'})"
        )
    return lines


async def _account(
    provider: SesClientProvider, settings: Settings, name: str
) -> tuple[dict[str, Any], list[str]]:
    """One AWS account's quota and pace, as a document and as lines."""
    account = SesAccount(provider, name)
    quota, error = await read_quota(account)
    rate = pace(quota, settings)
    document: dict[str, Any] = {
        "region": account.region,
        "endpoint": account.endpoint,
        "account": None,
        "account_error": error,
        "pace_per_second": rate,
    }
    lines = [f"SES region {account.region}, endpoint {account.endpoint}"]
    if quota is None:
        lines.append(f"account: could not be read: {error}")
    else:
        document["account"] = quota_document(quota)
        lines += quota_lines(quota)
    lines.append(f"each worker process paces at {rate:g}/s")
    return document, lines


async def cmd_status(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with Parts.open(settings, beside_dev=True) as parts:
        pending = await queue.pending_count(parts.db)
        unread = await notifications.unread_count(parts.db)
        provider = await parts.ses()
        document, lines = await _account(provider, settings, DEFAULT_ACCOUNT)
        others: dict[str, Any] = {}
        for name in sorted(await parts.accounts.in_use() - {DEFAULT_ACCOUNT}):
            others[name], more = await _account(provider, settings, name)
            lines += [f"AWS account {name}:", *(f"  {line}" for line in more)]
    document |= {
        "aws_accounts": others,
        "pending_messages": pending,
        "unread_notifications": unread,
    }
    lines += [
        f"messages pending: {pending}",
        f"unread notifications: {unread} (see `ses-gateway notification list`)",
    ]
    return document, "\n".join(lines)


async def cmd_message_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    filters = MessageFilters(
        sender=args.sender,
        recipient=args.recipient,
        subject=args.subject,
        status=args.status,
        since=args.since,
        until=args.until,
        ses_message_id=args.ses_message_id,
        tenant=args.tenant,
    )
    page = await with_ops(
        settings, lambda ctx: message_ops.search_messages(ctx, filters, args.limit, args.cursor)
    )
    rows = [plain(m) for m in page.data]
    columns = ("id", "tenant", "created_at", "status", "mail_from", "recipient_count", "subject")
    more = f"\nmore: add --cursor {page.next_cursor}" if page.next_cursor else ""
    return {"messages": rows, "next_cursor": page.next_cursor}, table(rows, columns) + more


def register(cli: Commands) -> None:
    cli.add(None, "status", cmd_status, "the SES account's state and quota, the queue depth")

    message = cli.group("message", "queued and sent messages")
    cli.add(message, "show", cmd_message_show, "a message and its recipients").add_argument(
        "queue_id"
    )
    listing = cli.add(
        message, "list", cmd_message_list, "messages, newest first (the panel's filters)"
    )
    for name, meaning in (
        ("sender", "a part of the envelope sender"),
        ("recipient", "a part of a recipient's address"),
        ("subject", "a part of the subject"),
        ("status", "queued, deferred, sent, delivered, bounced, complained, failed, suppressed"),
        ("since", "accepted at or after (ISO date or datetime, UTC)"),
        ("until", "accepted before (ISO date or datetime, UTC)"),
        ("ses-message-id", "SES's message id of a recipient"),
        ("tenant", "one tenant's"),
        ("cursor", "the next page: the cursor the previous page ended with"),
    ):
        listing.add_argument(f"--{name}", default="", help=meaning)
    listing.add_argument("--limit", type=int, default=50, help="rows a page (at most 500)")
