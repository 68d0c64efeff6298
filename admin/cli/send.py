"""`send`: one message from the command line, by the send API's path (`admin/ops/emails.py`):
the same checks, the same policy and refusals, the same spool, the same templates
(`--template NAME --var k=v`). A running worker delivers it."""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, pairs, with_ops
from admin.cli.templates import add_variables, variables
from admin.ops import emails, templates
from admin.ops.context import Context
from config import Settings
from gateway.compose.mime import Attachment
from gateway.compose.submit import Submitted
from gateway.core.exceptions import InvalidInputError
from gateway.core.times import parse_time


def _read(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise InvalidInputError(f"{option}: cannot read {path}: {exc}") from exc


def _attachment(path: Path) -> Attachment:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"--attach: cannot read {path}: {exc.strerror or exc}") from exc
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Attachment(path.name, kind, data)


async def cmd_send(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    text = args.text if args.text is not None else _read(args.text_file, "--text-file")
    html = _read(args.html_file, "--html-file")
    attachments = [_attachment(path) for path in args.attach]
    given_headers = pairs(args.header, "--header", "headers", ":")
    headers = {name: value.strip() for name, value in given_headers.items()}
    given = variables(args.var)
    at = parse_time(args.at, "--at", "at") if args.at else None

    async def send(ctx: Context) -> Submitted:
        rendered = await templates.rendered(ctx, args.template, given, args.tenant)
        draft = emails.draft(
            args.sender,
            args.to,
            args.cc,
            args.bcc,
            args.reply_to,
            args.subject,
            html,
            text,
            headers,
            attachments=attachments,
            template=rendered,
        )
        return await emails.send(ctx, emails.Email(draft, at), args.tenant)

    submitted = await with_ops(settings, send, sends=True)
    refused = [{"address": r.address, "reply": r.refusal.reply} for r in submitted.refused]
    if submitted.queue_id is None:
        raise InvalidInputError("; ".join(r.refusal.reply for r in submitted.refused))
    document = {
        "id": submitted.queue_id,
        "recipients": list(submitted.recipients),
        "refused": refused,
        "scheduled_at": submitted.scheduled_at.isoformat() if submitted.scheduled_at else None,
    }
    when = f", not before {document['scheduled_at']}" if submitted.scheduled_at else ""
    lines = [f"queued as {submitted.queue_id} to {len(submitted.recipients)} recipients{when}"]
    lines += [f"refused {r['address']}: {r['reply']}" for r in refused]
    return document, "\n".join(lines)


def register(cli: Commands) -> None:
    send = cli.add(None, "send", cmd_send, "send a message through the policy and the spool")
    send.add_argument("--tenant", required=True)
    send.add_argument("--from", dest="sender", required=True, metavar="ADDRESS")
    for name in ("to", "cc", "bcc", "reply-to"):
        send.add_argument(f"--{name}", action="append", default=[], metavar="ADDRESS")
    send.add_argument("--subject", help="(not with --template)")
    send.add_argument(
        "--template", metavar="NAME", help="the tenant's template: its subject, HTML and text"
    )
    add_variables(send)
    send.add_argument("--text", help="the text part")
    send.add_argument("--text-file", type=Path, metavar="FILE", help="the text part, UTF-8")
    send.add_argument("--html-file", type=Path, metavar="FILE", help="the HTML part, UTF-8")
    send.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'")
    send.add_argument("--attach", action="append", default=[], type=Path, metavar="FILE")
    send.add_argument(
        "--at", metavar="TIME", help="deliver not before: ISO 8601 (UTC unless it has an offset)"
    )
