"""The suppression list as operators use it: addresses normalized, scopes by tenant name, CSV.

An address is matched case-insensitively on its normalized form: the whole address in lower
case, the domain in punycode (`Bob@Bücher.example` is stored as `bob@xn--bcher-kva.example`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TextIO

from gateway.core import csvcells
from gateway.core.csvcells import uncell
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.times import check_period, parse_time
from gateway.core.types.events import SuppressionInfo
from gateway.domains.names import normalize_domain
from gateway.storage import suppressions as store
from gateway.storage import tenants
from gateway.storage.database import Database

REASONS = ("bounce", "complaint", "unsubscribe", "manual")
CSV_COLUMNS = ("address", "tenant", "reason", "detail", "created_at", "expires_at")
IMPORT_CHUNK = 500
"""Rows per transaction on import, so that a large file never holds SQLite's write lock long."""


def now() -> datetime:
    return datetime.now(UTC)


def normalize_address(value: str) -> str:
    """`local@domain` in lower case with the domain in punycode; the error says what is wrong."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInputError(
            f"{value!r} is not a mail address: expected local-part@domain", "address"
        )
    # For ASCII, printable and without a space is without any whitespace or control character.
    if not local.isascii() or not local.isprintable() or " " in local:
        raise InvalidInputError(
            f"{value!r}: the local part must be printable ASCII without spaces "
            "(SES cannot deliver to other addresses)",
            "address",
        )
    if len(local) > 64:
        raise InvalidInputError(
            f"{value!r}: the local part is longer than 64 characters", "address"
        )
    try:
        ascii_domain = _ascii_domain(domain)
    except InvalidInputError as exc:
        reason = str(exc).removeprefix(f"{domain!r} is not a valid sending domain: ")
        raise InvalidInputError(
            f"{value!r} is not a valid mail address: domain {domain!r}: {reason}", "address"
        ) from exc
    return f"{local.lower()}@{ascii_domain}"


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    """Cached: a CSV import of a million contacts has few domains (a refusal is not cached)."""
    return normalize_domain(domain).ascii


def lookup_key(address: str) -> str:
    """The form to look `address` up by, for a recipient given over SMTP: never refuses (an
    address that cannot be normalized cannot be on the list, and is looked up in lower case)."""
    try:
        return normalize_address(address)
    except InvalidInputError:
        return address.strip().lower()


def check_reason(value: str) -> str:
    reason = value.strip().lower()
    if reason not in REASONS:
        raise InvalidInputError(
            f"unknown reason {value!r}: use one of {', '.join(REASONS)}", "reason"
        )
    return reason


async def _tenant_id(db: Database, tenant: str | None) -> int | None:
    return None if tenant is None else (await tenants.get_tenant(db, tenant)).id


def scope(tenant: str | None) -> str:
    """`for tenant acme`, or `for every tenant`."""
    return f"for tenant {tenant}" if tenant else "for every tenant"


async def add(
    db: Database,
    address: str,
    tenant: str | None = None,
    reason: str = "manual",
    detail: str = "",
    expires_at: datetime | None = None,
) -> tuple[SuppressionInfo, bool]:
    """Suppress `address` for `tenant` (None: every tenant); replaces an entry in that scope.
    Returns the entry and whether it is new."""
    normalized = normalize_address(address)
    reason = check_reason(reason)
    at = now()
    if expires_at is not None and expires_at <= at:
        raise InvalidInputError(
            f"the expiry {expires_at.isoformat()} is in the past: the entry would never apply",
            "expires_at",
        )
    entry = store.Entry(normalized, await _tenant_id(db, tenant), reason, detail, at, expires_at)
    added, _ = await store.add(db, [entry])
    info = await store.get(db, normalized, entry.tenant_id)
    assert info is not None
    return info, bool(added)


async def remove(db: Database, address: str, tenant: str | None = None) -> SuppressionInfo:
    """Remove the entry of `address` in that scope (None: the global entry)."""
    normalized = normalize_address(address)
    tenant_id = await _tenant_id(db, tenant)
    info = await store.get(db, normalized, tenant_id)
    if info is None or not await store.remove(db, normalized, tenant_id):
        raise NotFoundError(f"{normalized} is not suppressed {scope(tenant)}")
    return info


async def search(
    db: Database,
    tenant: str | None = None,
    scope: str = "all",
    reason: str | None = None,
    contains: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> store.Search:
    """The entries to list, checked (see `store.Search`; `tenant` by name)."""
    if scope not in store.SCOPES:
        raise InvalidInputError(
            f"unknown scope {scope!r}: use one of {', '.join(store.SCOPES)}", "scope"
        )
    check_period(since, until)
    return store.Search(
        await _tenant_id(db, tenant),
        scope,
        None if reason is None else check_reason(reason),
        contains,
        since,
        until,
    )


async def list_entries(
    db: Database,
    tenant: str | None = None,
    reason: str | None = None,
    contains: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SuppressionInfo]:
    """Entries by address; with `tenant`, only that tenant's (not the global ones)."""
    if limit is not None and limit < 1:
        raise InvalidInputError("--limit must be at least 1")
    if offset < 0:
        raise InvalidInputError("--offset must not be negative")
    found = await search(db, tenant, "tenant" if tenant else "all", reason, contains)
    return await store.list_suppressions(db, found, limit, offset)


# -- CSV -----------------------------------------------------------------------------------


def write_csv(entries: Iterable[SuppressionInfo], out: TextIO) -> int:
    """Entries as CSV with a header line (`CSV_COLUMNS`); return how many rows were written."""
    writer = csvcells.Writer(out)
    writer.writerow(CSV_COLUMNS)
    written = 0
    for e in entries:
        expires = e.expires_at.isoformat() if e.expires_at else ""
        created = e.created_at.isoformat()
        writer.writerow([e.address, e.tenant or "", e.reason, e.detail, created, expires])
        written += 1
    return written


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(line number, what is wrong) for each row that was skipped."""


def _header(first: list[str]) -> tuple[list[str], bool]:
    """The column names of a file and whether its first row is the header. A file without a
    header is taken as the columns in `CSV_COLUMNS` order (a plain list of addresses works)."""
    names = [name.strip().lower() for name in first]
    if "address" not in names:
        if first and "@" in first[0]:
            return list(CSV_COLUMNS[: len(first)]), False
        raise InvalidInputError(
            f"the CSV file has no `address` column: its first line should be "
            f"{','.join(CSV_COLUMNS)}"
        )
    unknown = [name for name in names if name not in CSV_COLUMNS]
    if unknown:
        raise InvalidInputError(
            f"unknown CSV column {unknown[0]!r}: the columns are {','.join(CSV_COLUMNS)}"
        )
    return names, True


async def import_csv(db: Database, source: TextIO, tenant: str | None = None) -> ImportReport:
    """Add or replace the entries of a CSV file; skip bad rows and report them by line number.

    Each row's `tenant` column gives its scope (empty: every tenant). With `tenant`, rows
    without one go to that tenant, and rows naming another tenant are refused.
    """
    tenant_ids: dict[str, int] = {}
    if tenant is not None:
        tenant_ids[tenant] = (await tenants.get_tenant(db, tenant)).id
    report = ImportReport()
    entries: list[store.Entry] = []
    reader = csv.reader(source)
    columns: list[str] | None = None
    at = now()
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.errors.append((line, f"unreadable CSV ({exc}): the rest of the file skipped"))
            break
        if not any(cell.strip() for cell in row):
            continue
        if columns is None:
            columns, is_header = _header(row)
            if is_header:
                continue
        if len(row) > len(columns):
            report.errors.append((line, f"{len(row)} fields, but the header has {len(columns)}"))
            continue
        if any("\x00" in c for c in row):
            report.errors.append((line, "a field holds a NUL character"))
            continue
        values = {name: uncell(c.strip()) for name, c in zip(columns, row, strict=False)}
        try:
            entry = await _entry(db, values, tenant, tenant_ids, at)
        except (InvalidInputError, NotFoundError) as exc:
            report.errors.append((line, str(exc)))
            continue
        entries.append(entry)
        if len(entries) >= IMPORT_CHUNK:
            await _store(db, entries, report)
    await _store(db, entries, report)
    return report


async def _entry(
    db: Database,
    values: dict[str, str],
    tenant: str | None,
    tenant_ids: dict[str, int],
    at: datetime,
) -> store.Entry:
    address = normalize_address(values.get("address", ""))
    named = values.get("tenant") or tenant
    if tenant is not None and named != tenant:
        raise InvalidInputError(
            f"the row is for tenant {named!r}, but this import is for tenant {tenant!r}", "tenant"
        )
    tenant_id = None
    if named:
        if named not in tenant_ids:
            tenant_ids[named] = (await tenants.get_tenant(db, named)).id
        tenant_id = tenant_ids[named]
    created = values.get("created_at")
    expires = values.get("expires_at")
    return store.Entry(
        address,
        tenant_id,
        check_reason(values.get("reason") or "manual"),
        values.get("detail", ""),
        parse_time(created, "created_at") if created else at,
        parse_time(expires, "expires_at") if expires else None,
    )


async def _store(db: Database, entries: list[store.Entry], report: ImportReport) -> None:
    if entries:
        added, updated = await store.add(db, entries)
        report.added += added
        report.updated += updated
        entries.clear()


async def export_csv(db: Database, out: TextIO, tenant: str | None = None) -> int:
    """Every entry (or one tenant's) as CSV; return how many rows were written."""
    return write_csv(await list_entries(db, tenant), out)
