"""What every command module shares: the registry of subcommands, the database wrapper, the
operations' context of the CLI, and the two outputs (a JSON document and text for people)."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from admin.ops.context import Actor, Context
from admin.runtime import Parts
from config import Settings
from gateway.compose.submit import Submitter
from gateway.core.exceptions import InvalidInputError
from gateway.storage import tenants
from gateway.storage.database import Database

T = TypeVar("T")

Command = Callable[[Settings, argparse.Namespace], Awaitable[tuple[Any, str]]]
"""A command returns (the document for `--json`, the text for people)."""


class Commands:
    """Where command modules add their groups and subcommands (each module has `register`)."""

    def __init__(self, groups: Any, common: argparse.ArgumentParser) -> None:
        self._groups = groups
        self._common = common

    def group(self, name: str, help_text: str) -> Any:
        return self._groups.add_parser(name, help=help_text).add_subparsers(
            dest="action", required=True
        )

    def add(
        self, parent: Any, name: str, handler: Command, help_text: str
    ) -> argparse.ArgumentParser:
        """A subcommand of `parent` (a group, or `None` for a top-level command)."""
        sub: argparse.ArgumentParser = (parent or self._groups).add_parser(
            name, help=help_text, parents=[self._common]
        )
        sub.set_defaults(handler=handler)
        return sub


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def pairs(
    given: Sequence[str] | None, option: str, field: str, separator: str = "="
) -> dict[str, str]:
    """An option given again for each name: `--var NAME=VALUE`, `--header 'NAME: VALUE'`.
    Names without their outer blanks, values as given; the last of a name wins."""
    found: dict[str, str] = {}
    for pair in given or ():
        name, between, value = pair.partition(separator)
        if not between or not name.strip():
            raise InvalidInputError(f"{option} {pair!r}: write NAME{separator}VALUE", field)
        found[name.strip()] = value
    return found


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [
        [str(plain(row.get(c)) if row.get(c) is not None else "-") for c in columns] for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


async def with_db(
    settings: Settings,
    action: Callable[[Database], Awaitable[Any]],
    tenant: str | None = None,
) -> Any:
    """Run `action` on the database; a `tenant` filter must name a tenant that exists (a typo
    would otherwise list nothing and look like an answer)."""
    async with Parts.open(settings) as parts:
        if tenant is not None:
            await tenants.get_tenant(parts.db, tenant)
        return await action(parts.db)


def read_secret(what: str, field: str, required: bool = True) -> str:
    """A secret never taken from the command line (where `ps` and the shell's history keep
    it): asked for at a prompt on a terminal, else the first line of standard input."""
    terminal = sys.stdin.isatty()
    secret = getpass.getpass(f"{what}: ") if terminal else sys.stdin.readline().strip()
    if required and not secret:
        raise InvalidInputError(f"no {what} was given (at the prompt or on standard input)", field)
    return secret


def cli_actor() -> Actor:
    """`cli:<os user>`, an admin: whoever can run the CLI can read the database anyway."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (some containers)
        user = "unknown"
    return Actor.of_cli(user)


async def with_ops(
    settings: Settings,
    action: Callable[[Context], Awaitable[T]],
    ses: bool = False,
    sends: bool = False,
) -> T:
    """Run `action`, calls of `admin.ops`, as the CLI's actor (`cli_actor`): a change made here
    is validated and audited by the same code as one made in the panel or the API. `ses`: open
    the SES client first (the dev emulator's when it runs), for operations that call SES.
    `sends`: with a submitter, for operations that send mail (through the policy and the spool,
    as the API's do; a running worker delivers it)."""
    async with Parts.open(settings, beside_dev=True) as parts:
        services = await parts.services(ses)
        if not sends:
            return await action(Context(services, cli_actor(), None))
        services.submitter = Submitter(parts.db, settings, parts.sealer)
        services.submitter.start()
        try:
            return await action(Context(services, cli_actor(), None))
        finally:
            await services.submitter.stop()
