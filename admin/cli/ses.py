"""`ses`: the SES account itself: its state for each AWS account, and the request for
production access (leaving the sandbox) without the AWS console."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, plain, with_ops
from admin.cli.status import quota_document, quota_lines
from admin.ops import sesaccount as ops
from admin.ops.sesaccount import AccountView
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import DEFAULT_ACCOUNT, ProductionRequest


def _account(view: AccountView) -> tuple[dict[str, Any], list[str]]:
    document = {
        "name": view.name,
        "region": view.region,
        "endpoint": view.endpoint,
        "account": None if view.quota is None else quota_document(view.quota),
        "error": view.error,
    }
    lines = [f"AWS account {view.name}: SES region {view.region}, endpoint {view.endpoint}"]
    if view.quota is None:
        lines.append(f"account: could not be read: {view.error}")
    else:
        lines += quota_lines(view.quota)
    return document, lines


async def cmd_ses_account(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    views = await with_ops(settings, ops.accounts, ses=True)
    shown = [_account(view) for view in views]
    text = "\n\n".join("\n".join(lines) for _, lines in shown)
    return {"accounts": [document for document, _ in shown]}, text


async def cmd_ses_request_production(
    settings: Settings, args: argparse.Namespace
) -> tuple[Any, str]:
    try:
        use_case = args.use_case_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise InvalidInputError(
            f"cannot read the use case from {args.use_case_file}: {why or exc}", "use_case"
        ) from exc
    request = ProductionRequest(
        args.mail_type,
        args.website_url,
        use_case,
        args.contact_language,
        tuple(args.additional_contact or ()),
    )
    view = await with_ops(
        settings, lambda ctx: ops.request_production(ctx, request, args.aws_account), ses=True
    )
    document, lines = _account(view)
    said = (
        f"asked AWS for production access for account {view.name} "
        f"({request.mail_type}, {request.website_url.strip()}); AWS answers within a day or "
        "so, by mail and in `ses-gateway ses account`"
    )
    return {**document, "requested": plain(request)}, "\n".join([said, *lines])


def register(cli: Commands) -> None:
    ses = cli.group("ses", "the SES account: its state, leaving the sandbox")
    cli.add(
        ses,
        "account",
        cmd_ses_account,
        "sandbox or production, sending, enforcement, quota and rate of each AWS account",
    )
    request = cli.add(
        ses,
        "request-production",
        cmd_ses_request_production,
        "ask AWS to take the account out of the sandbox (SES PutAccountDetails)",
    )
    request.add_argument(
        "--mail-type", required=True, type=str.upper, help="MARKETING or TRANSACTIONAL"
    )
    request.add_argument(
        "--website-url", required=True, metavar="URL", help="the site the mail is about"
    )
    request.add_argument(
        "--use-case-file",
        required=True,
        type=Path,
        metavar="FILE",
        help="how you send, to whom, how people sign up, how bounces and complaints are handled",
    )
    request.add_argument(
        "--contact-language", type=str.upper, default="EN", help="EN (the default) or JA"
    )
    request.add_argument(
        "--additional-contact",
        action="append",
        metavar="EMAIL",
        help="another address AWS writes to about the request (up to 4; repeat the option)",
    )
    request.add_argument(
        "--aws-account",
        default=DEFAULT_ACCOUNT,
        metavar="NAME",
        help="the AWS account to take out of the sandbox (default: the gateway's own)",
    )
