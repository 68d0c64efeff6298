"""`tenant`, `credential`, `network` and `refusal`: who may send, and what was refused."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import awsaccounts, credentials, tenants
from admin.ops.context import Context
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.identity.accounts import LIMITS, check_limit
from gateway.storage import refusals


async def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await with_ops(settings, lambda ctx: tenants.create_tenant(ctx, args.name))
    return plain(tenant), f"created tenant {tenant.name}"


async def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(await with_ops(settings, tenants.list_tenants))
    return {"tenants": found}, table(found, ("id", "name", "created_at"))


async def cmd_credential_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    new = await with_ops(
        settings,
        lambda ctx: credentials.create_credential(
            ctx, args.tenant, args.description, args.allow or ()
        ),
    )
    allow = list(new.credential.allowed_senders)
    document = {**plain(new.credential), "password": new.password, "allow": allow}
    text = (
        f"credential {new.credential.id} for tenant {new.credential.tenant}\n"
        f"username: {new.credential.username}\n"
        f"password: {new.password}\n"
        "The password is shown only now: store it in your mail client or application."
    )
    return document, text


async def cmd_tenant_pause(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await with_ops(settings, lambda ctx: tenants.pause_tenant(ctx, args.name, args.reason))
    return plain(tenant), f"paused {tenant.name}: {args.reason}"


async def cmd_tenant_resume(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await with_ops(settings, lambda ctx: tenants.pause_tenant(ctx, args.name, None))
    return plain(tenant), f"resumed {tenant.name}"


def _limit(name: str) -> Callable[[str], int | float | None]:
    """A limit on the command line (`accounts.check_limit`), or `default` for the default."""

    def parse(text: str) -> int | float | None:
        if text == "default":
            return None
        try:
            return check_limit(name, text)
        except InvalidInputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


async def cmd_tenant_set(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    changes = {name: getattr(args, name) for name in LIMITS if hasattr(args, name)}
    account = getattr(args, "aws_account", None)

    async def change(ctx: Context) -> tenants.TenantView:
        if account is not None:
            await awsaccounts.set_tenant_account(ctx, args.name, account)
            if not changes:
                return await tenants.get_tenant(ctx, args.name)
        return await tenants.set_limits(ctx, args.name, changes)

    view = await with_ops(settings, change)
    limits = view.limits
    document = {"name": args.name, **plain(limits), "aws_account": view.aws_account}
    text = ", ".join(f"{k.replace('_', '-')} {v or 'default'}" for k, v in plain(limits).items())
    said = f"{args.name}: {text}"
    return document, said if account is None else f"{said}, aws-account {view.aws_account}"


async def cmd_credential_pause(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    reason = args.reason if args.action == "pause" else None
    await with_ops(settings, lambda ctx: credentials.pause_credential(ctx, args.id, reason))
    said = f"paused credential {args.id}: {reason}" if reason else f"resumed credential {args.id}"
    return {"id": args.id, "paused_reason": reason}, said


async def cmd_network_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    network = await with_ops(
        settings, lambda ctx: credentials.add_network(ctx, args.tenant, args.cidr)
    )
    return plain(network), f"clients in {network.cidr} may send without AUTH as {network.tenant}"


async def cmd_network_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(await with_ops(settings, lambda ctx: credentials.list_networks(ctx, args.tenant)))
    return {"networks": found}, table(found, ("cidr", "tenant", "created_at"))


async def cmd_network_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    cidr = await with_ops(settings, lambda ctx: credentials.remove_network(ctx, args.cidr))
    return {"cidr": cidr}, f"{cidr} is no longer trusted"


async def cmd_refusal_count(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    counts = await with_db(
        settings, lambda db: refusals.count_refusals(db, args.tenant), args.tenant
    )
    rows = [{"rule": rule, "count": count} for rule, count in sorted(counts.items())]
    return {"refusals": counts}, table(rows, ("rule", "count"))


async def cmd_credential_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(
        await with_ops(settings, lambda ctx: credentials.list_credentials(ctx, args.tenant))
    )
    columns = (
        "id",
        "tenant",
        "username",
        "description",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
    return {"credentials": found}, table(found, columns)


async def cmd_credential_revoke(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    revoked = await with_ops(settings, lambda ctx: credentials.revoke_credential(ctx, args.id))
    return plain(revoked), f"revoked credential {revoked.id} ({revoked.username})"


def register(cli: Commands) -> None:
    tenant = cli.group("tenant", "tenants")
    cli.add(tenant, "create", cmd_tenant_create, "create a tenant").add_argument("name")
    cli.add(tenant, "list", cmd_tenant_list, "list tenants")
    pause = cli.add(tenant, "pause", cmd_tenant_pause, "refuse the tenant's mail at MAIL")
    pause.add_argument("name")
    pause.add_argument("--reason", required=True, help="shown to senders in the refusal")
    cli.add(tenant, "resume", cmd_tenant_resume, "lift a pause").add_argument("name")
    limits = cli.add(
        tenant, "set", cmd_tenant_set, "the tenant's limits and AWS account ('default' resets)"
    )
    limits.add_argument("name")
    limits.add_argument(
        "--aws-account",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the AWS account its mail and identities go through (default: the process's own)",
    )
    for name in LIMITS:
        flag = "--" + name.replace("_", "-")
        limits.add_argument(flag, type=_limit(name), default=argparse.SUPPRESS, metavar="N")

    credential = cli.group("credential", "SMTP credentials")
    create = cli.add(credential, "create", cmd_credential_create, "create an SMTP credential")
    create.add_argument("--tenant", required=True)
    create.add_argument("--description", default="")
    create.add_argument(
        "--allow",
        action="append",
        metavar="DOMAIN|ADDRESS",
        help="narrow the credential to this sender domain or address (repeatable)",
    )
    cli.add(credential, "list", cmd_credential_list, "list credentials").add_argument("--tenant")
    cli.add(credential, "revoke", cmd_credential_revoke, "revoke a credential").add_argument(
        "id", type=int
    )
    paused = cli.add(credential, "pause", cmd_credential_pause, "refuse its mail at MAIL")
    paused.add_argument("id", type=int)
    paused.add_argument("--reason", required=True, help="shown to senders in the refusal")
    cli.add(credential, "resume", cmd_credential_pause, "lift a pause").add_argument("id", type=int)

    network = cli.group("network", "trusted networks")
    trust = cli.add(network, "add", cmd_network_add, "let a network send without AUTH")
    trust.add_argument("cidr", help="e.g. 10.1.2.0/24 or 2001:db8::/64")
    trust.add_argument("--tenant", required=True)
    cli.add(network, "list", cmd_network_list, "list trusted networks").add_argument("--tenant")
    cli.add(network, "remove", cmd_network_remove, "stop trusting a network").add_argument("cidr")

    refusal = cli.group("refusal", "refused commands")
    cli.add(refusal, "count", cmd_refusal_count, "refusals per rule").add_argument("--tenant")
