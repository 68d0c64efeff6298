"""`suppression`: addresses that must not be mailed."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, plain, table, with_db, with_ops
from admin.ops import sesaccount as ses_ops
from admin.ops import suppressions as ops
from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.core.times import parse_time
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.feedback import suppressions

_SUPPRESSION_COLUMNS = ("address", "tenant", "reason", "detail", "created_at", "expires_at")


async def cmd_suppression_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    expires = parse_time(args.expires, "--expires") if args.expires else None
    entry, added = await with_ops(
        settings,
        lambda ctx: ops.add_suppression(
            ctx, args.address, args.tenant, args.reason, args.detail, expires or ""
        ),
    )
    said = "suppressed" if added else "updated the suppression of"
    until = f" until {entry.expires_at.isoformat()}" if entry.expires_at else ""
    text = f"{said} {entry.address} {suppressions.scope(entry.tenant)} ({entry.reason}){until}"
    return {**plain(entry), "added": added}, text


async def cmd_suppression_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    removal = await with_ops(
        settings, lambda ctx: ops.remove_suppression(ctx, args.address, args.tenant), ses=None
    )
    scope = suppressions.scope(removal.tenant)
    if removal.entry is None:
        lines = [f"{removal.address} was not suppressed {scope} here"]
    else:
        lines = [f"{removal.address} is no longer suppressed {scope}"]
    lines += [removal.ses.message] if removal.ses.message else []
    document = {
        **plain(removal.entry or {"address": removal.address, "tenant": removal.tenant}),
        "ses_account_list": plain(removal.ses),
    }
    return document, "\n".join(lines)


async def cmd_suppression_import_ses(
    settings: Settings, args: argparse.Namespace
) -> tuple[Any, str]:
    since = parse_time(args.since, "--since") if args.since else None
    report = await with_ops(
        settings, lambda ctx: ses_ops.import_from_ses(ctx, since, args.aws_account), ses=True
    )
    skipped = [{"address": address, "error": error} for address, error in report.skipped]
    document = {**plain(report), "skipped": skipped}
    lines = [
        f"SES's account-level suppression list: {report.seen} addresses; added "
        f"{report.added}, already present {report.already_present}, skipped {len(skipped)}"
    ]
    lines += [f"{row['address']}: {row['error']}" for row in skipped]
    return document, "\n".join(lines)


async def cmd_suppression_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(
        await with_db(
            settings,
            lambda db: suppressions.list_entries(
                db, args.tenant, args.reason, args.search, args.limit, args.offset
            ),
        )
    )
    rows = [{**row, "tenant": row["tenant"] or "(all)"} for row in found]
    return {"suppressions": found}, table(rows, _SUPPRESSION_COLUMNS)


async def cmd_suppression_import(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    try:
        source = (
            sys.stdin if str(args.file) == "-" else args.file.open(encoding="utf-8-sig", newline="")
        )
    except OSError as exc:
        raise InvalidInputError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    try:
        report = await with_ops(settings, lambda ctx: ops.import_text(ctx, source, args.tenant))
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{args.file} is not UTF-8 text: {exc.reason}") from exc
    finally:
        if source is not sys.stdin:
            source.close()
    skipped = [{"line": line, "error": error} for line, error in report.errors]
    lines = [f"added {report.added}, updated {report.updated}, skipped {len(skipped)}"]
    lines += [f"line {row['line']}: {row['error']}" for row in skipped]
    document = {"added": report.added, "updated": report.updated, "skipped": skipped}
    return document, "\n".join(lines)


async def cmd_suppression_export(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    entries = await with_db(settings, lambda db: suppressions.list_entries(db, args.tenant))
    if args.file is None or str(args.file) == "-":
        buffer = io.StringIO()
        count = suppressions.write_csv(entries, buffer)
        return {"file": None, "exported": count, "csv": buffer.getvalue()}, buffer.getvalue()[:-1]
    try:
        with args.file.open("w", encoding="utf-8", newline="") as out:
            count = suppressions.write_csv(entries, out)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {args.file}: {exc.strerror or exc}") from exc
    return {"file": str(args.file), "exported": count}, f"exported {count} entries to {args.file}"


def register(cli: Commands) -> None:
    suppression = cli.group("suppression", "addresses that must not be mailed")
    everyone = "(default: every tenant)"
    suppress = cli.add(suppression, "add", cmd_suppression_add, "suppress an address")
    suppress.add_argument("address")
    suppress.add_argument("--tenant", help=f"only for this tenant {everyone}")
    suppress.add_argument("--reason", choices=suppressions.REASONS, default="manual")
    suppress.add_argument("--detail", default="", help="a note: the bounce, the request...")
    suppress.add_argument(
        "--expires", metavar="DATE", help="ISO date or datetime (UTC) when the entry lapses"
    )
    unsuppress = cli.add(
        suppression,
        "remove",
        cmd_suppression_remove,
        "remove an entry (and the address from SES's account-level list)",
    )
    unsuppress.add_argument("address")
    unsuppress.add_argument("--tenant", help=f"the tenant's entry {everyone}")
    listed = cli.add(suppression, "list", cmd_suppression_list, "list entries by address")
    listed.add_argument("--tenant", help="only this tenant's entries (default: all)")
    listed.add_argument("--reason", choices=suppressions.REASONS)
    listed.add_argument("--search", metavar="TEXT", help="addresses containing TEXT")
    listed.add_argument("--limit", type=int, default=100)
    listed.add_argument("--offset", type=int, default=0)
    imported = cli.add(suppression, "import", cmd_suppression_import, "add entries from CSV")
    imported.add_argument("file", type=Path, metavar="FILE", help="a CSV file, or - for stdin")
    imported.add_argument("--tenant", help=f"for rows that name no tenant {everyone}")
    from_ses = cli.add(
        suppression,
        "import-ses",
        cmd_suppression_import_ses,
        "add SES's account-level suppression list (the default account's: for every tenant)",
    )
    from_ses.add_argument(
        "--aws-account",
        default=DEFAULT_ACCOUNT,
        metavar="NAME",
        help="whose list (default: the gateway's own); a stored account's list is added for "
        "the tenants on it",
    )
    from_ses.add_argument(
        "--since", metavar="DATE", help="only addresses SES added or updated since (ISO, UTC)"
    )
    exported = cli.add(suppression, "export", cmd_suppression_export, "write entries as CSV")
    exported.add_argument("file", type=Path, metavar="FILE", nargs="?", help="default: stdout")
    exported.add_argument("--tenant", help="only this tenant's entries (default: all)")
