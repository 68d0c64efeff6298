"""`template`: tenants' message templates (subject, HTML, text with `{{variables}}`): create,
list, show, edit, delete, preview with given fields or a contact's, and a test send."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from admin.cli.base import Commands, pairs, plain, table, with_ops
from admin.ops import templates as ops
from admin.ops.context import Context
from config import Settings
from gateway.compose.templates import Rendered
from gateway.core.exceptions import InvalidInputError
from gateway.storage.templates import TemplateInfo

_COLUMNS = ("id", "tenant", "name", "subject", "updated_at")


def _read(path: Path | None, field: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason})", field) from None


def variables(given: list[str] | None) -> dict[str, str]:
    """`--var NAME=VALUE`, given again for each variable."""
    return pairs(given, "--var", "var")


def _summary(template: TemplateInfo) -> dict[str, Any]:
    document: dict[str, Any] = plain(template)
    document["variables"] = list(ops.compiled(template).variables)
    return document


def _rendered_text(rendered: Rendered) -> str:
    head = f"Subject: {rendered.subject}\n"
    return "\n".join([head, "--- text ---", rendered.text, "--- html ---", rendered.html])


async def _named(ctx: Context, args: argparse.Namespace) -> TemplateInfo:
    return await ops.find_template(ctx, args.name, args.tenant)


async def cmd_template_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    html = _read(args.html_file, "html") or ""
    text = _read(args.text_file, "text")
    template = await with_ops(
        settings,
        lambda ctx: ops.create_template(ctx, args.name, args.subject, html, text, args.tenant),
    )
    return _summary(
        template
    ), f"created template {template.name} ({template.id}) of {template.tenant}"


async def cmd_template_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await with_ops(settings, lambda ctx: ops.list_templates(ctx, args.tenant))
    rows = [{k: v for k, v in plain(t).items() if k in _COLUMNS} for t in found]
    return {"templates": rows}, table(rows, _COLUMNS)


async def cmd_template_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    template = await with_ops(settings, lambda ctx: _named(ctx, args))
    parsed = ops.compiled(template)
    text = template.text if template.text is not None else "(made from the HTML)"
    lines = [
        f"template {template.name} ({template.id}) of {template.tenant}",
        f"subject: {template.subject}",
        f"variables: {', '.join(parsed.variables) or '(none)'}",
        f"required: {', '.join(parsed.required) or '(none)'}",
        "--- html ---",
        template.html,
        "--- text ---",
        text,
    ]
    return _summary(template), "\n".join(lines)


async def cmd_template_edit(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    html = _read(args.html_file, "html")
    text = "" if args.text_from_html else _read(args.text_file, "text")

    async def edit(ctx: Context) -> TemplateInfo:
        found = await _named(ctx, args)
        return await ops.update_template(
            ctx, found.id, name=args.rename, subject=args.subject, html=html, text=text
        )

    template = await with_ops(settings, edit)
    return _summary(template), f"updated template {template.name} ({template.id})"


async def cmd_template_delete(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async def delete(ctx: Context) -> TemplateInfo:
        return await ops.delete_template(ctx, (await _named(ctx, args)).id)

    template = await with_ops(settings, delete)
    said = f"deleted template {template.name} ({template.id}) of {template.tenant}"
    return plain(template), said


async def cmd_template_preview(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    fields = variables(args.var)

    async def preview(ctx: Context) -> Rendered:
        found = await _named(ctx, args)
        return await ops.preview(ctx, found.id, fields, args.contact, args.list)

    rendered = await with_ops(settings, preview)
    return plain(rendered), _rendered_text(rendered)


async def cmd_template_test(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    fields = variables(args.var)

    async def send(ctx: Context) -> str:
        found = await _named(ctx, args)
        return await ops.send_test(
            ctx, found.id, args.to, args.sender, fields, args.contact, args.list
        )

    queue_id = await with_ops(settings, send, sends=True)
    return {"queue_id": queue_id}, f"test message queued as {queue_id}"


def _identified(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--tenant", required=True)


def add_variables(parser: argparse.ArgumentParser) -> None:
    """`--var NAME=VALUE` (read by `variables`)."""
    parser.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="a contact's field, for {{NAME}} (again for each)",
    )


def _rendered_as(parser: argparse.ArgumentParser) -> None:
    """The values to render with: `--var`s over the fields of a contact."""
    add_variables(parser)
    parser.add_argument(
        "--contact", metavar="EMAIL", help="render with the fields of this contact of the tenant"
    )
    parser.add_argument("--list", metavar="LIST", help="the contact's list (when it is on several)")


def register(cli: Commands) -> None:
    template = cli.group("template", "message templates with {{variables}}")
    created = cli.add(template, "create", cmd_template_create, "add a template")
    _identified(created)
    created.add_argument("--subject", required=True)
    created.add_argument("--html-file", type=Path, required=True, metavar="FILE")
    created.add_argument(
        "--text-file", type=Path, metavar="FILE", help="(default: made from the HTML)"
    )
    listed = cli.add(template, "list", cmd_template_list, "list templates")
    listed.add_argument("--tenant", help="only this tenant's (default: all)")
    cli.add(template, "ls", cmd_template_list, "list templates (as `list`)").add_argument(
        "--tenant", help="only this tenant's (default: all)"
    )
    _identified(cli.add(template, "show", cmd_template_show, "a template's parts and variables"))
    edited = cli.add(template, "edit", cmd_template_edit, "change a template's parts")
    _identified(edited)
    edited.add_argument("--rename", metavar="NEW_NAME")
    edited.add_argument("--subject")
    edited.add_argument("--html-file", type=Path, metavar="FILE")
    texts = edited.add_mutually_exclusive_group()
    texts.add_argument("--text-file", type=Path, metavar="FILE")
    texts.add_argument(
        "--text-from-html", action="store_true", help="drop the written text part: make it"
    )
    _identified(cli.add(template, "delete", cmd_template_delete, "delete a template"))
    previewed = cli.add(
        template, "preview", cmd_template_preview, "render with given fields or a contact's"
    )
    _identified(previewed)
    _rendered_as(previewed)
    tested = cli.add(template, "test", cmd_template_test, "send it rendered to one address")
    _identified(tested)
    tested.add_argument("--to", required=True, metavar="ADDRESS")
    tested.add_argument("--from", dest="sender", required=True, metavar="ADDRESS")
    _rendered_as(tested)
