"""`list` and `contact`: tenants' contact lists, their contacts and CSV imports."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from admin.cli.base import Commands, pairs, plain, table, with_ops
from admin.cli.campaigns import cmd_list_export, cmd_list_figures, export_file
from admin.cli.progress import Progress
from admin.ops import contacts as ops
from admin.ops.context import Context
from config import Settings
from gateway.audience import imports
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.contacts import STATUSES, ContactInfo, ImportInfo

_LIST_COLUMNS = ("id", "tenant", "name", "created_at")
_CONTACT_COLUMNS = ("email", "status", "fields", "unsubscribed_at", "created_at")
SHOWN_INVALID = 20
"""Invalid rows the text output of an import lists (`--invalid FILE` writes them all)."""


async def _list_id(ctx: Context, args: argparse.Namespace) -> int:
    return (await ops.find_list(ctx, args.list, args.tenant)).id


def _contact(contact: ContactInfo) -> Any:
    return plain(contact)


def _contact_text(contact: ContactInfo) -> str:
    lines = [f"{contact.email}: {contact.status}"]
    if contact.unsubscribed_at:
        lines.append(
            f"unsubscribed {contact.unsubscribed_at.isoformat()} ({contact.unsubscribed_how})"
        )
    lines += [f"{name}: {value}" for name, value in sorted(contact.fields.items())]
    return "\n".join(lines)


async def _write(path: Path, chunks: AsyncIterator[str]) -> None:
    """Write CSV text chunks to `path`."""
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            async for chunk in chunks:
                out.write(chunk)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from exc


async def cmd_list_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    created = await with_ops(settings, lambda ctx: ops.create_list(ctx, args.name, args.tenant))
    return plain(created), f"list {created.name} (id {created.id}) of tenant {created.tenant}"


async def cmd_list_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def show(ctx: Context) -> tuple[Any, Any, list[ImportInfo]]:
        found = await ops.find_list(ctx, args.name, args.tenant)
        return found, await ops.list_counts(ctx, found.id), await ops.list_imports(ctx, found.id)

    found, counts, recent = await with_ops(settings, show)
    document = {**plain(found), "counts": plain(counts), "imports": plain(recent)}
    text = (
        f"list {found.name} (id {found.id}) of tenant {found.tenant}: {counts.total} contacts, "
        f"{counts.subscribed} subscribed, {counts.unsubscribed} unsubscribed, "
        f"{counts.suppressed} suppressed"
    )
    return document, text


async def cmd_list_delete(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def delete(ctx: Context) -> Any:
        return await ops.delete_list(ctx, (await ops.find_list(ctx, args.name, args.tenant)).id)

    gone = await with_ops(settings, delete)
    return plain(gone), f"deleted list {gone.name} of tenant {gone.tenant} and its contacts"


async def cmd_list_ls(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = plain(await with_ops(settings, lambda ctx: ops.lists(ctx, args.tenant)))
    return {"lists": found}, table(found, _LIST_COLUMNS)


async def cmd_contact_import(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    source: BinaryIO
    try:
        source = sys.stdin.buffer if str(args.file) == "-" else args.file.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {args.file}: {exc.strerror or exc}") from exc

    name = Path(str(args.file)).name
    total = None if source is sys.stdin.buffer else os.fstat(source.fileno()).st_size
    progress = Progress(f"reading {name}", total, shown=None if not args.json else False)

    async def run(ctx: Context) -> tuple[ImportInfo, list[tuple[int, str]]]:
        list_id = await _list_id(ctx, args)
        chunks = progress.counting(imports.file_chunks(source))
        report = await ops.import_csv(ctx, list_id, chunks, name)
        progress.finish()
        if args.invalid is not None:
            await _write(args.invalid, await ops.invalid_rows_csv(ctx, report.id))
        return report, await ops.invalid_rows(ctx, report.id, SHOWN_INVALID)

    try:
        report, invalid = await with_ops(settings, run)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if report.state != "done":
        raise InvalidInputError(f"import {report.id} of {args.file} refused: {report.error}")
    lines = [
        f"import {report.id}: {report.rows} rows, added {report.added}, updated "
        f"{report.updated}, duplicates {report.duplicates}, invalid {report.invalid}"
    ]
    lines += [f"line {line}: {reason}" for line, reason in invalid]
    if report.invalid > len(invalid):
        lines.append(f"... {report.invalid - len(invalid)} more (--invalid FILE writes them all)")
    return plain(report), "\n".join(lines)


async def cmd_contact_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def add(ctx: Context) -> ContactInfo:
        return await ops.add_contact(
            ctx, await _list_id(ctx, args), args.email, pairs(args.field, "--field", "fields")
        )

    added = await with_ops(settings, add)
    return _contact(added), f"added {added.email} to list {args.list}"


async def cmd_contact_edit(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def edit(ctx: Context) -> ContactInfo:
        return await ops.edit_contact(
            ctx,
            await _list_id(ctx, args),
            args.email,
            pairs(args.field, "--field", "fields"),
            tuple(args.unset or ()),
            args.status,
        )

    edited = await with_ops(settings, edit)
    return _contact(edited), _contact_text(edited)


async def cmd_contact_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def show(ctx: Context) -> ContactInfo:
        return await ops.get_contact(ctx, await _list_id(ctx, args), args.email)

    found = await with_ops(settings, show)
    return _contact(found), _contact_text(found)


async def cmd_contact_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def remove(ctx: Context) -> str:
        return await ops.remove_contact(ctx, await _list_id(ctx, args), args.email)

    removed = await with_ops(settings, remove)
    return {"email": removed, "removed": True}, f"removed {removed} from list {args.list}"


async def cmd_contact_ls(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    filters = ops.Filters(args.search or "", args.status or "")

    async def listed(ctx: Context) -> Any:
        return await ops.list_contacts(ctx, await _list_id(ctx, args), filters, args.limit)

    found = await with_ops(settings, listed)
    rows = [_contact(c) for c in found.data]
    shown = [
        {**row, "fields": ", ".join(f"{k}={v}" for k, v in sorted(row["fields"].items()))}
        for row in rows
    ]
    return {"contacts": rows}, table(shown, _CONTACT_COLUMNS)


async def cmd_contact_export(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    filters = ops.Filters(args.search or "", args.status or "")
    to_stdout = args.file is None or str(args.file) == "-"

    async def export(ctx: Context) -> tuple[int, str]:
        export = await ops.export_csv(ctx, await _list_id(ctx, args), filters)
        if to_stdout:
            text = "".join([chunk async for chunk in export.chunks()])
            return export.rows, text
        progress = Progress(f"writing {args.file}", shown=None if not args.json else False)
        await _write(args.file, progress.counting(export.chunks()))
        progress.finish()
        return export.rows, ""

    count, text = await with_ops(settings, export)
    if to_stdout:
        return {"file": None, "exported": count, "csv": text}, text.removesuffix("\n")
    return {"file": str(args.file), "exported": count}, f"exported {count} contacts to {args.file}"


def register(cli: Commands) -> None:
    lists = cli.group("list", "contact lists")
    tenant_help = "the list's tenant"
    created = cli.add(lists, "create", cmd_list_create, "create a list")
    created.add_argument("name")
    created.add_argument("--tenant", required=True, help=tenant_help)
    shown = cli.add(lists, "show", cmd_list_show, "a list's counts and latest imports")
    shown.add_argument("name")
    shown.add_argument("--tenant", required=True, help=tenant_help)
    deleted = cli.add(lists, "delete", cmd_list_delete, "delete a list and its contacts")
    deleted.add_argument("name")
    deleted.add_argument("--tenant", required=True, help=tenant_help)
    figured = cli.add(lists, "figures", cmd_list_figures, "its campaigns' figures")
    figured.add_argument("name")
    figured.add_argument("--tenant", required=True, help=tenant_help)
    exported = cli.add(
        lists, "export-figures", cmd_list_export, "its campaigns' figures as CSV or .xlsx"
    )
    exported.add_argument("name")
    export_file(exported)
    exported.add_argument("--tenant", required=True, help=tenant_help)
    listed = cli.add(lists, "ls", cmd_list_ls, "the lists")
    listed.add_argument("--tenant", help="only this tenant's (default: every tenant's)")

    contact = cli.group("contact", "the contacts of a list")

    def of_list(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = cli.add(contact, name, handler, help_text)
        sub.add_argument("list", metavar="LIST", help="the list's name")
        return sub

    imported = of_list("import", cmd_contact_import, "import a CSV file (an `email` column)")
    imported.add_argument("file", type=Path, metavar="FILE", help="a CSV file, or - for stdin")
    imported.add_argument("--tenant", required=True, help=tenant_help)
    imported.add_argument(
        "--invalid", type=Path, metavar="FILE", help="write the invalid rows there as CSV"
    )
    for name, handler, help_text in (
        ("add", cmd_contact_add, "add a contact"),
        ("edit", cmd_contact_edit, "change a contact's fields or status"),
        ("show", cmd_contact_show, "a contact"),
        ("remove", cmd_contact_remove, "remove a contact"),
    ):
        sub = of_list(name, handler, help_text)
        sub.add_argument("email")
        sub.add_argument("--tenant", required=True, help=tenant_help)
        if name in ("add", "edit"):
            sub.add_argument(
                "--field", action="append", metavar="NAME=VALUE", help="set a field (repeat)"
            )
        if name == "edit":
            sub.add_argument("--unset", action="append", metavar="NAME", help="remove a field")
            sub.add_argument("--status", choices=STATUSES[:2])
    for name, handler, help_text in (
        ("ls", cmd_contact_ls, "the list's contacts, newest first"),
        ("export", cmd_contact_export, "write the list's contacts as CSV"),
    ):
        sub = of_list(name, handler, help_text)
        if name == "export":
            sub.add_argument("file", type=Path, metavar="FILE", nargs="?", help="default: stdout")
        sub.add_argument("--tenant", required=True, help=tenant_help)
        sub.add_argument("--search", metavar="TEXT", help="addresses containing TEXT")
        sub.add_argument("--status", choices=STATUSES)
        if name == "ls":
            sub.add_argument("--limit", type=int, default=100)
