"""`user` and `apikey`: people of the admin panel and keys of the JSON API."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import credentials, tenants
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.identity import users
from gateway.storage import tenants as tenant_store
from gateway.storage import users as user_store
from gateway.storage.database import Database


def _prompted_password() -> str | None:
    """Asked twice on a terminal; None (generate one) when not run from a terminal."""
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password (at least 12 characters): ")
    if first != getpass.getpass("Repeat the password: "):
        raise InvalidInputError("the two passwords differ")
    return first


async def cmd_user_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    users.check_email(args.email)
    users.check_role(args.role, args.tenant)
    password = _prompted_password()
    new = await with_ops(
        settings, lambda ctx: tenants.create_user(ctx, args.email, args.role, args.tenant, password)
    )
    document = {**plain(new.user), "password": new.password}
    text = f"created {new.user.role.value} {new.user.email}" + (
        f" of tenant {new.user.tenant}" if new.user.tenant else ""
    )
    if new.password:
        text += f"\npassword: {new.password}\nThe password is shown only now: pass it on safely."
    return document, text


async def cmd_user_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def listed(db: Database) -> Any:
        tenant_id = (await tenant_store.get_tenant(db, args.tenant)).id if args.tenant else None
        return await user_store.list_users(db, tenant_id)

    found = plain(await with_db(settings, listed))
    columns = ("id", "email", "role", "tenant", "created_at", "last_login_at")
    return {"users": found}, table(found, columns)


async def cmd_user_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    await with_ops(settings, lambda ctx: tenants.remove_user(ctx, args.id))
    return {"id": args.id}, f"removed user {args.id}"


async def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if bool(args.tenant) == args.admin:
        raise InvalidInputError("give --tenant NAME for a tenant's key, or --admin")
    new = await with_ops(
        settings,
        lambda ctx: credentials.create_api_key(ctx, args.tenant, args.admin, args.description),
    )
    scope = f"tenant {new.info.tenant}" if new.info.tenant else "admin (every tenant)"
    text = (
        f"API key {new.info.prefix} for {scope}\nkey: {new.key}\n"
        "The key is shown only now: send it as `Authorization: Bearer <key>`."
    )
    return {**plain(new.info), "key": new.key}, text


async def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(await with_ops(settings, lambda ctx: credentials.list_api_keys(ctx, args.tenant)))
    columns = ("id", "prefix", "tenant", "description", "created_at", "revoked_at", "last_used_at")
    return {"api_keys": found}, table(found, columns)


async def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    key = await with_ops(settings, lambda ctx: credentials.revoke_api_key(ctx, args.id))
    return plain(key), f"revoked API key {key.prefix}"


def register(cli: Commands) -> None:
    user = cli.group("user", "people of the admin panel")
    create = cli.add(user, "create", cmd_user_create, "create a user (password prompted)")
    create.add_argument("email")
    create.add_argument("--role", required=True, choices=("admin", "owner", "viewer"))
    create.add_argument("--tenant", help="the tenant of an owner or viewer")
    cli.add(user, "list", cmd_user_list, "list users").add_argument("--tenant")
    cli.add(user, "remove", cmd_user_remove, "delete a user").add_argument("id", type=int)

    apikey = cli.group("apikey", "keys of the JSON API")
    key = cli.add(apikey, "create", cmd_apikey_create, "create a key; prints it once")
    key.add_argument("--tenant", help="a key of this tenant (an owner's rights)")
    key.add_argument("--admin", action="store_true", help="a key for every tenant")
    key.add_argument("--description", default="")
    cli.add(apikey, "list", cmd_apikey_list, "list keys").add_argument("--tenant")
    cli.add(apikey, "revoke", cmd_apikey_revoke, "revoke a key").add_argument("id", type=int)
