"""`ses-gateway`: run the gateway and manage it from the command line.

Every command takes `--json` and then prints one JSON document with stable keys; errors then
come as `{"error": {"message": ...}}`. Exit status: 0 success, 1 a refused request, 2 a bad
setting or bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from admin.serve import ROLES, serve
from config import ConfigError, Settings, load_settings
from gateway import accounts, logs
from gateway.exceptions import GatewayError
from gateway.storage import queue, tenants
from gateway.storage.database import Database
from gateway.storage.migrate import current_revision, ensure_schema, head_revision, upgrade

Command = Callable[[Settings, argparse.Namespace], Awaitable[Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [
        [str(_plain(row.get(c)) if row.get(c) is not None else "-") for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


async def _with_db(settings: Settings, action: Callable[[Database], Awaitable[Any]]) -> Any:
    db = Database(settings.database)
    try:
        await ensure_schema(db, settings.auto_migrate)
        return await action(db)
    finally:
        await db.close()


# -- commands: each returns (document for --json, text for people) --------------------------


async def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    db = Database(settings.database)
    try:
        before = await current_revision(db)
        await upgrade(db)
        after = await current_revision(db)
    finally:
        await db.close()
    text = f"schema at revision {after}" + (
        f" (was {before})" if before != after else " (unchanged)"
    )
    return {"previous": before, "revision": after, "head": head_revision()}, text


async def cmd_db_current(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    db = Database(settings.database)
    try:
        current = await current_revision(db)
    finally:
        await db.close()
    head = head_revision()
    state = "up to date" if current == head else f"needs `ses-gateway db upgrade` to {head}"
    return {"revision": current, "head": head}, f"schema at revision {current or 'none'}: {state}"


async def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await _with_db(settings, lambda db: accounts.create_tenant(db, args.name))
    return _plain(tenant), f"created tenant {tenant.name}"


async def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(await _with_db(settings, tenants.list_tenants))
    return {"tenants": found}, _table(found, ("id", "name", "created_at"))


async def cmd_credential_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    new = await _with_db(
        settings, lambda db: accounts.create_credential(db, args.tenant, args.description)
    )
    document = {**_plain(new.credential), "password": new.password}
    text = (
        f"credential {new.credential.id} for tenant {new.credential.tenant}\n"
        f"username: {new.credential.username}\n"
        f"password: {new.password}\n"
        "The password is shown only now: store it in your mail client or application."
    )
    return document, text


async def cmd_credential_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(await _with_db(settings, lambda db: tenants.list_credentials(db, args.tenant)))
    columns = (
        "id",
        "tenant",
        "username",
        "description",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
    return {"credentials": found}, _table(found, columns)


async def cmd_credential_revoke(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    revoked = await _with_db(
        settings, lambda db: tenants.revoke_credential(db, args.id, accounts.now())
    )
    return _plain(revoked), f"revoked credential {revoked.id} ({revoked.username})"


async def cmd_message_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    status = await _with_db(settings, lambda db: queue.message_status(db, args.queue_id))
    document = _plain(status)
    head = (
        f"message {status.id} from {status.mail_from} (tenant {status.tenant}), "
        f"{status.size} bytes\n"
        f"state {status.state}, {status.attempts} attempts, created {document['created_at']}\n"
    )
    columns = ("address", "state", "attempts", "ses_message_id", "last_error")
    return document, head + _table(document["recipients"], columns)


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    logs.configure(settings.log_format, settings.log_level)
    await serve(settings, args.role or ROLES, dev=args.dev)
    return None, ""


# -- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the command is not reset by the command's own parser.
    common.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="a TOML settings file",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    parser = argparse.ArgumentParser(
        prog="ses-gateway", description="A multi-tenant SMTP relay to Amazon SES.", parents=[common]
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, handler: Command, help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    serve_parser = command(groups, "serve", cmd_serve, "run SMTP, HTTP and delivery workers")
    serve_parser.add_argument(
        "--role", action="append", choices=ROLES, help="run only this part (repeatable)"
    )
    serve_parser.add_argument(
        "--dev", action="store_true", help="start a local SES emulator when no AWS endpoint is set"
    )

    db = groups.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True
    )
    command(db, "upgrade", cmd_db_upgrade, "upgrade the schema to this version")
    command(db, "current", cmd_db_current, "show the schema revision")

    tenant = groups.add_parser("tenant", help="tenants").add_subparsers(
        dest="action", required=True
    )
    command(tenant, "create", cmd_tenant_create, "create a tenant").add_argument("name")
    command(tenant, "list", cmd_tenant_list, "list tenants")

    credential = groups.add_parser("credential", help="SMTP credentials").add_subparsers(
        dest="action", required=True
    )
    create = command(credential, "create", cmd_credential_create, "create an SMTP credential")
    create.add_argument("--tenant", required=True)
    create.add_argument("--description", default="")
    command(credential, "list", cmd_credential_list, "list credentials").add_argument("--tenant")
    command(credential, "revoke", cmd_credential_revoke, "revoke a credential").add_argument(
        "id", type=int
    )

    message = groups.add_parser("message", help="queued and sent messages").add_subparsers(
        dest="action", required=True
    )
    command(message, "show", cmd_message_show, "a message and its recipients").add_argument(
        "queue_id"
    )
    return parser


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"message": message}}))
    else:
        print(f"ses-gateway: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    try:
        settings = load_settings(getattr(args, "config", None))
        document, text = asyncio.run(args.handler(settings, args))
    except ConfigError as exc:
        return _fail(args, str(exc), 2)
    except GatewayError as exc:
        return _fail(args, str(exc), 1)
    except OSError as exc:
        return _fail(args, f"{exc.strerror or exc}", 1)
    except KeyboardInterrupt:
        return 130
    if args.json and document is not None:
        print(json.dumps(document, indent=2))
    elif text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
