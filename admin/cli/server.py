"""`serve`, `init` and `db`: run the gateway, make its data folder, manage its schema. These are
the commands that may make the data folder (`DATA_DIR`); the others refuse to run without it, so
that a command run in the wrong directory says so rather than making an empty gateway there."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands
from admin.runtime import Parts
from admin.serve import ROLES, serve
from config import Settings
from gateway.core import logs
from gateway.core.secret_key import load_secret_key
from gateway.storage.migrate import current_revision, head_revision, upgrade


async def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with Parts.open(settings, migrate=False) as parts:
        before = await current_revision(parts.db)
        await upgrade(parts.db)
        after = await current_revision(parts.db)
    text = f"schema at revision {after}" + (
        f" (was {before})" if before != after else " (unchanged)"
    )
    return {"previous": before, "revision": after, "head": head_revision()}, text


async def cmd_init(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    data_dir = settings.data_dir.resolve()
    existed = data_dir.is_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    async with Parts.open(settings, migrate=False) as parts:
        await upgrade(parts.db)
        revision = await current_revision(parts.db)
    load_secret_key(settings)  # made now (unless SECRET_KEY is set), not by the first command
    document = {"data_dir": str(data_dir), "created": not existed, "revision": revision}
    verb = "created" if not existed else "ready"
    return document, f"{data_dir}: {verb}, schema at revision {revision}"


async def cmd_db_current(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with Parts.open(settings, migrate=False) as parts:
        current = await current_revision(parts.db)
    head = head_revision()
    state = "up to date" if current == head else f"needs `ses-gateway db upgrade` to {head}"
    return {"revision": current, "head": head}, f"schema at revision {current or 'none'}: {state}"


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    logs.configure(settings.log_format, settings.log_level)
    await serve(settings, args.role or ROLES, dev=args.dev)
    return None, ""


def register(cli: Commands) -> None:
    serving = cli.add(None, "serve", cmd_serve, "run SMTP, HTTP and delivery workers")
    serving.add_argument(
        "--role", action="append", choices=ROLES, help="run only this part (repeatable)"
    )
    serving.add_argument(
        "--dev", action="store_true", help="start a local SES emulator when no AWS endpoint is set"
    )

    cli.add(None, "init", cmd_init, "make the data folder, its secret key and the schema")

    db = cli.group("db", "database schema")
    cli.add(db, "upgrade", cmd_db_upgrade, "upgrade the schema to this version")
    cli.add(db, "current", cmd_db_current, "show the schema revision")
