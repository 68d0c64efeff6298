"""`ses-gateway`: run the gateway and manage it from the command line.

Every command takes `--json` and then prints one JSON document with stable keys; errors then
come as `{"error": {"message": ...}}`. Exit status: 0 success, 1 a refused request, 2 a bad
setting or bad arguments. Each command group lives in its own module with a `register`.
Every change goes through the operations of the panel and the API (`admin/ops`), audited as
`cli:<os user>` (`base.with_ops`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from admin.cli import (
    awsaccounts,
    campaigns,
    contacts,
    domains,
    events,
    notifications,
    secrets,
    send,
    server,
    sns,
    status,
    suppressions,
    templates,
    tenants,
    users,
    webhooks,
)
from admin.cli.base import Commands
from config import ConfigError, Settings, load_settings
from config.settings import ENV_PREFIX
from gateway.core.exceptions import GatewayError

GROUPS = (
    server,
    status,
    tenants,
    users,
    domains,
    events,
    suppressions,
    notifications,
    sns,
    awsaccounts,
    secrets,
    webhooks,
    templates,
    send,
    contacts,
    campaigns,
)


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
    cli = Commands(parser.add_subparsers(dest="group", required=True, metavar="COMMAND"), common)
    for group in GROUPS:
        group.register(cli)
    return parser


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"message": message}}))
    else:
        print(f"ses-gateway: {message}", file=sys.stderr)
    return status


MAKE_DATA_DIR = {server.cmd_serve, server.cmd_init, server.cmd_db_upgrade}
"""The commands that may make `DATA_DIR`; the others need it (see `missing_data_dir`)."""


def missing_data_dir(settings: Settings) -> str | None:
    """Why a command other than `serve`, `init` and `db upgrade` must not run: the data folder
    (with the SQLite database and the secret key) is not there, and it is needed: no
    `DATABASE_URL` or no `SECRET_KEY` set. None when it may run."""
    if settings.data_dir.is_dir() or (settings.database_url and settings.secret_key):
        return None
    return (
        f"no gateway here: {settings.data_dir.resolve()} does not exist. Run the command where "
        f"`ses-gateway serve` runs, point {ENV_PREFIX}DATA_DIR (or --config) at its data "
        "folder, or make a new one with `ses-gateway init`"
    )


HYPHENATED_NAME = re.compile(r"-[\w.@+-]*[A-Za-z][\w.@+-]*\.[\w.-]+")
"""`-bad.com`, `-news@example.com`: no option of ours (they are `--long`, or `-h`), and not a
negative number, but argparse would take it for an unknown option and say the name is missing."""


def hyphenated_name(argv: Sequence[str]) -> str | None:
    """Why a command line must be refused before argparse reads it: a domain or address that
    begins with a hyphen. None when there is none."""
    for arg in argv:
        if HYPHENATED_NAME.fullmatch(arg):
            return f"{arg}: not a valid domain name or address (a name cannot begin with a hyphen)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if why := hyphenated_name(argv):
        return _fail(argparse.Namespace(json="--json" in argv), why, 2)
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    try:
        settings = load_settings(getattr(args, "config", None))
        if args.handler not in MAKE_DATA_DIR and (why := missing_data_dir(settings)):
            return _fail(args, why, 2)
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
