"""`aws-account`: the AWS accounts tenants send through (`tenant set T --aws-account NAME`).

A secret access key is never taken from the command line (where `ps` and the shell's history
would keep it): it is asked for at a prompt on a terminal, else read from the first line of
standard input (`... < secret-file`, or a secrets manager's output piped in).
"""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, read_secret, table, with_ops
from admin.ops import awsaccounts as ops
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import AccountQuota, AwsAccountInfo

_COLUMNS = ("name", "region", "kind", "credentials", "tenants", "checked_at", "check")


def _document(account: AwsAccountInfo) -> dict[str, Any]:
    """The account as shown: its key id or role, never a secret."""
    return {**plain(account), "kind": account.kind, "tenants": list(account.tenants)}


def _row(account: AwsAccountInfo) -> dict[str, Any]:
    return {
        **_document(account),
        "credentials": account.role_arn or account.access_key_id,
        "tenants": ",".join(account.tenants) or None,
        "check": "failed" if account.check_error else "ok",
    }


def _quota(quota: AccountQuota) -> str:
    daily = "unlimited" if quota.max_24_hour_send is None else str(quota.max_24_hour_send)
    said = f"{daily} a day, {quota.max_send_rate:g} a second ({quota.source})"
    if quota.production_access_enabled is False:
        said += ", in the sandbox"
    return said


async def cmd_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if args.access_key_id is None and args.role_arn is None:
        raise InvalidInputError("give --role-arn ARN (preferred) or --access-key-id ID", "role_arn")
    secret = read_secret("secret access key", "secret_access_key") if args.access_key_id else None
    checked = await with_ops(
        settings,
        lambda ctx: ops.add_account(
            ctx,
            args.name,
            args.region,
            access_key_id=args.access_key_id,
            secret_access_key=secret,
            role_arn=args.role_arn,
            external_id=args.external_id,
        ),
        ses=True,  # beside `serve --dev`, its emulator answers the check
    )
    document = {**_document(checked.account), "quota": plain(checked.quota)}
    return document, f"added AWS account {args.name}: SES answered {_quota(checked.quota)}"


async def cmd_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_ops(settings, ops.list_accounts)
    return {"aws_accounts": [_document(a) for a in found]}, table(
        [_row(a) for a in found], _COLUMNS
    )


async def cmd_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    account = await with_ops(settings, lambda ctx: ops.get_account(ctx, args.name))
    lines = [
        f"name: {account.name}",
        f"region: {account.region}",
        f"role: {account.role_arn}" if account.role_arn else "",
        f"external id: {'set' if account.has_external_id else 'none'}" if account.role_arn else "",
        f"access key id: {account.access_key_id}" if account.access_key_id else "",
        f"tenants: {', '.join(account.tenants) or 'none'}",
        f"added: {account.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"checked: {account.checked_at:%Y-%m-%d %H:%M:%S} UTC" if account.checked_at else "",
        f"check: {account.check_error or 'passed'}" if account.checked_at else "",
    ]
    return _document(account), "\n".join(line for line in lines if line)


async def cmd_test(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    checked = await with_ops(settings, lambda ctx: ops.test_account(ctx, args.name), ses=True)
    document = {**_document(checked.account), "quota": plain(checked.quota)}
    return document, f"AWS account {args.name} works: SES answered {_quota(checked.quota)}"


async def cmd_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    await with_ops(settings, lambda ctx: ops.remove_account(ctx, args.name))
    return {"name": args.name, "removed": True}, f"removed AWS account {args.name}"


def register(cli: Commands) -> None:
    group = cli.group("aws-account", "AWS accounts tenants send through (a role, or keys)")
    added = cli.add(
        group, "add", cmd_add, "check an account with SES, then store it (the secret sealed)"
    )
    added.add_argument("name", metavar="NAME")
    added.add_argument("--region", required=True, help="the SES region, e.g. eu-west-1")
    added.add_argument(
        "--role-arn", metavar="ARN", help="a role to assume with STS (preferred over keys)"
    )
    added.add_argument("--external-id", metavar="X", help="the role's sts:ExternalId condition")
    added.add_argument(
        "--access-key-id",
        metavar="ID",
        help="an access key pair; its secret is asked for (or read from standard input)",
    )
    cli.add(group, "list", cmd_list, "list AWS accounts")
    cli.add(group, "show", cmd_show, "one AWS account (never its secret)").add_argument("name")
    cli.add(group, "test", cmd_test, "call SES with it again and record the result").add_argument(
        "name"
    )
    cli.add(group, "remove", cmd_remove, "remove an account no tenant uses").add_argument("name")
