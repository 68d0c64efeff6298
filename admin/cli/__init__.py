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
import sys
from collections.abc import Sequence
from pathlib import Path

from admin.cli import (
    contacts,
    domains,
    events,
    notifications,
    server,
    sns,
    status,
    suppressions,
    tenants,
    users,
    webhooks,
)
from admin.cli.base import Commands
from config import ConfigError, load_settings
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
    webhooks,
    contacts,
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
