"""The suppression list: search, add, remove, CSV import and export.

A tenant's people and keys see the tenant's own entries and the global ones (for every tenant),
which they cannot change: only an admin adds or removes a global entry. An admin sees every
entry, or those that apply to one tenant.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TextIO

from admin.ops.context import Context
from admin.ops.sesaccount import SesListRemoval, unsuppress_at_ses
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.times import parse_time
from gateway.core.types.events import SuppressionInfo
from gateway.feedback import suppressions
from gateway.storage import suppressions as store
from gateway.storage.pages import Paged

MAX_IMPORT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters of the page and the API, as given (empty: not filtered). `since` and `until`
    are ISO dates or datetimes; `scope` is one of `store.SCOPES`."""

    search: str = ""
    reason: str = ""
    scope: str = "all"
    tenant: str = ""
    since: str = ""
    until: str = ""


def _time(value: str, field: str) -> datetime | None:
    return parse_time(value, field, field) if value else None


async def _search(ctx: Context, filters: Filters) -> store.Search:
    return await suppressions.search(
        ctx.db,
        ctx.tenant_name(filters.tenant or None),
        filters.scope or "all",
        filters.reason or None,
        filters.search or None,
        _time(filters.since, "since"),
        _time(filters.until, "until"),
    )


def _shown(ctx: Context, entries: list[SuppressionInfo]) -> list[SuppressionInfo]:
    """The entries as the actor may read them: a global entry's detail (another tenant's bounce
    diagnostic, with SES ids, when it was suppressed automatically) only for admins."""
    if ctx.actor.is_admin:
        return entries
    return [e if e.tenant else replace(e, detail="") for e in entries]


async def list_suppressions(
    ctx: Context, filters: Filters, limit: int = 50, cursor: str | None = None
) -> Paged[SuppressionInfo]:
    """A page of the entries the actor may see, newest first."""
    found = await _search(ctx, filters)
    entries, after = await store.recent_suppressions(ctx.db, found, limit, cursor or None)
    return Paged(_shown(ctx, entries), after)


async def export_csv(ctx: Context, filters: Filters) -> str:
    """Every entry the filters find, by address, as CSV (`suppressions.CSV_COLUMNS`)."""
    out = io.StringIO()
    entries = await store.list_suppressions(ctx.db, await _search(ctx, filters))
    suppressions.write_csv(_shown(ctx, entries), out)
    return out.getvalue()


def _scope(ctx: Context, tenant: str | None) -> str | None:
    """The tenant an entry is added to or removed from: the actor's own; an admin's choice
    (None: the global entry)."""
    ctx.require_write()
    return ctx.tenant_name(tenant or None)


async def add_suppression(
    ctx: Context,
    address: str,
    tenant: str | None = None,
    reason: str = "manual",
    detail: str = "",
    expires_at: str | datetime = "",
) -> tuple[SuppressionInfo, bool]:
    """Suppress `address` (replacing the entry of that scope) until `expires_at` (an ISO date
    or datetime, or one read already; empty: for good); whether the entry is new."""
    scope = _scope(ctx, tenant)
    expires = expires_at if isinstance(expires_at, datetime) else _time(expires_at, "expires_at")
    entry, added = await suppressions.add(
        ctx.db, address, scope, reason or "manual", detail, expires
    )
    until = f", until {entry.expires_at.isoformat()}" if entry.expires_at else ""
    said = f"{entry.reason} {suppressions.scope(entry.tenant)}{until}"
    kind = "suppression.added" if added else "suppression.updated"
    await ctx.audit(kind, entry.address, said, tenant=entry.tenant)
    return entry, added


@dataclass(frozen=True, slots=True)
class Removal:
    """An address unsuppressed: the gateway's entry (None: there was none, but SES's
    account-level list still held the address) and what became of it at SES."""

    address: str
    tenant: str | None
    entry: SuppressionInfo | None
    ses: SesListRemoval


async def remove_suppression(ctx: Context, address: str, tenant: str | None = None) -> Removal:
    """Remove the entry of `address` in the actor's tenant (an admin: the tenant named, or the
    global entry), then from SES's account-level list (`unsuppress_at_ses`): an SES failure
    leaves the gateway's removal made and says how to retry. Asked again once the entry is
    gone, an admin's call retries SES's part (not found when SES does not hold the address
    either, or could not be asked: then said too)."""
    scope = _scope(ctx, tenant)
    try:
        entry: SuppressionInfo | None = await suppressions.remove(ctx.db, address, scope)
    except NotFoundError as exc:
        if not ctx.actor.is_admin:  # SES's list is the whole account's: an admin's to retry
            raise
        normalized = suppressions.normalize_address(address)
        ses = await unsuppress_at_ses(ctx, normalized, scope)
        if ses.state == "failed":
            raise NotFoundError(f"{exc}; {ses.message}") from exc
        if ses.state != "removed":
            raise
        return Removal(normalized, scope, None, ses)
    assert entry is not None
    await ctx.audit(
        "suppression.removed", entry.address, suppressions.scope(entry.tenant), tenant=entry.tenant
    )
    ses = await unsuppress_at_ses(ctx, entry.address, scope)
    return Removal(entry.address, entry.tenant, entry, ses)


async def import_csv(
    ctx: Context, data: bytes, tenant: str | None = None
) -> suppressions.ImportReport:
    """Add the entries of a CSV file (`suppressions.import_csv`): a tenant's rows all go to its
    own tenant; an admin's rows to the tenant they name (`tenant` for those naming none)."""
    ctx.require_write()
    if not data.strip():
        raise InvalidInputError("the file is empty: send CSV with an `address` column", "file")
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInputError(
            f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB: split it", "file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the file is not UTF-8 text: {exc.reason}", "file") from exc
    return await import_text(ctx, io.StringIO(text, newline=""), tenant)


async def import_text(
    ctx: Context, source: TextIO, tenant: str | None = None
) -> suppressions.ImportReport:
    """`import_csv` of a file read as it goes (the CLI's, of any size)."""
    scope = _scope(ctx, tenant)
    report = await suppressions.import_csv(ctx.db, source, scope)
    said = f"added {report.added}, updated {report.updated}, skipped {len(report.errors)}"
    await ctx.audit("suppression.imported", "CSV file", said, tenant=scope)
    return report
