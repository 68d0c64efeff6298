"""A CSV file imported into a list: streamed, checked row by row, merged all at once.

The file is read as it arrives (`csvfile.CsvReader`); its first line names the columns, one of
which is `email`, the others the contacts' fields (`contacts.field_name`; the export's own
status columns are ignored, so an export imports back). Each row is checked: its address
normalized (syntax, IDN to punycode), its cells counted; a bad row is reported by line number
and reason and the others go on. Valid rows are staged in batches of `BATCH`, each in its own
short transaction (while the next batch is read), so a million rows never hold the database's
write lock for long; a second row of the same address is a duplicate and dropped. When the
whole file has been read the staged rows are merged into the list in one transaction
(`storage.contacts.finish_import`); when the file is refused half-way (not UTF-8, no `email`
column, an overlong line, an unclosed quote), the staged rows are dropped and the list is left
exactly as it was.

A new address is added subscribed. An address on the list already is updated: the file's
non-empty cells replace those fields, the others are kept, and its status is never changed (an
import does not resubscribe anyone who unsubscribed).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import BinaryIO

from gateway.audience.contacts import RESERVED, email, field_name, now, taken
from gateway.audience.csvfile import CsvReader, Row, refused
from gateway.core import csvcells
from gateway.core.csvcells import uncell
from gateway.core.exceptions import DatabaseError, InvalidInputError
from gateway.core.types.contacts import ImportInfo, ListInfo
from gateway.storage import contacts as store
from gateway.storage.database import Database

BATCH = 2000
"""Rows staged per transaction."""

MAX_COLUMNS = 100

ABANDONED_AFTER = timedelta(hours=6)
"""An import still `running` this long after it began was left by a process that died."""

CHUNK = 64 * 1024
"""Bytes read at a time from a file."""


def _columns(row: Row) -> list[str | None]:
    """The field each column of the header fills (None: ignored; `email`: the address)."""
    if row.error:
        raise refused(f"line {row.line}, the header: {row.error}")
    try:
        names = [field_name(cell) if cell.strip() else "" for cell in row.cells]
    except InvalidInputError as exc:
        raise refused(f"line {row.line}, the header: {exc}") from exc
    if "email" not in names:
        found = ", ".join(repr(c) for c in row.cells[:5]) or "nothing"
        raise refused(
            f"the CSV file has no `email` column: its first line must name the columns, "
            f"e.g. email,first_name,company (it has {found})"
        )
    if len(names) > MAX_COLUMNS:
        raise refused(f"the file has {len(names)} columns; at most {MAX_COLUMNS}")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise refused(f"the column {name!r} comes twice in the header")
        if name:
            seen.add(name)
    return [None if not name or name in RESERVED else name for name in names]


def _checked(row: Row, columns: list[str | None]) -> tuple[str, dict[str, str]] | str:
    """(address, fields) of a data row, or what is wrong with it."""
    if row.error:
        return row.error
    cells = row.cells
    if len(cells) > len(columns):
        if any(c.strip() for c in cells[len(columns) :]):
            return f"{len(cells)} fields, but the header has {len(columns)}"
        cells = cells[: len(columns)]
    address = ""
    fields: dict[str, str] = {}
    for name, cell in zip(columns, cells, strict=False):
        if name is None:
            continue
        value = cell.strip()
        if value[:1] == "'":  # rare: skip the call for the other cells of a million rows
            value = uncell(value)
        if "\x00" in value:
            return f"the {name} column holds a NUL character"
        if name == "email":
            address = value
        elif value:
            fields[name] = value
    if not address:
        return "no address in the email column"
    try:
        return email(address), fields
    except InvalidInputError as exc:
        return str(exc)


async def import_csv(
    db: Database,
    info: ListInfo,
    tenant_id: int,
    chunks: AsyncIterable[bytes],
    filename: str,
    actor: str,
) -> ImportInfo:
    """Import the file whose bytes `chunks` gives into the list `info`; its report."""
    started = now()
    import_id = await store.start_import(
        db, info, tenant_id, filename, actor, started, started - ABANDONED_AFTER
    )
    reader = CsvReader()
    columns: list[str | None] | None = None
    rows = invalid = staged = 0
    good: list[tuple[str, dict[str, str]]] = []
    bad: list[tuple[int, str]] = []
    # One batch staged while the next is read: the database's work and the reading overlap
    # (they take about as long), and no more than two batches are ever held.
    staging: asyncio.Future[int] | None = None

    async def take(found: list[Row]) -> None:
        nonlocal columns, rows, invalid
        for row in found:
            if not any(cell.strip() for cell in row.cells) and row.error is None:
                continue  # a blank line
            if columns is None:
                columns = _columns(row)
                continue
            rows += 1
            checked = _checked(row, columns)
            if isinstance(checked, str):
                invalid += 1
                bad.append((row.line, checked))
            else:
                good.append(checked)
        if len(good) >= BATCH or len(bad) >= BATCH:
            await _flush()

    async def _flush() -> None:
        nonlocal good, bad, staging
        await _staged()
        staging = asyncio.ensure_future(store.stage(db, import_id, good, bad))
        good, bad = [], []

    async def _staged() -> None:
        """Wait for the batch being staged (its error raised here)."""
        nonlocal staging, staged
        if staging is not None:
            done, staging = staging, None
            staged += await done

    try:
        async for data in chunks:
            await take(reader.feed(data))
        await take(reader.feed(b"", final=True))
        if columns is None:
            raise refused("the file is empty: its first line must name the columns (email,...)")
        await _flush()
        await _staged()
    except InvalidInputError as exc:
        with suppress(DatabaseError):  # staged or not, its rows are dropped next
            await _staged()
        return await store.fail_import(db, import_id, str(exc), rows, invalid, now())
    except Exception:
        with suppress(Exception):  # the error that stopped the import is the one to raise
            await _staged()
        with suppress(DatabaseError):  # the error that stopped the import is the one to raise
            await store.fail_import(db, import_id, "the import failed", rows, invalid, now())
        raise
    return await store.finish_import(db, import_id, info, tenant_id, rows, invalid, staged, now())


async def file_chunks(source: BinaryIO) -> AsyncIterable[bytes]:
    """A binary file's bytes, `CHUNK` at a time (a local file: reads do not block for long)."""
    while data := source.read(CHUNK):
        yield data


async def invalid_csv_chunks(db: Database, import_id: int) -> AsyncIterator[str]:
    """The invalid rows of an import as CSV text (`line,reason`), a batch at a time; formula
    cells made inert, as a reason quotes the row's text."""
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(("line", "reason"))
    async for batch in store.import_errors(db, import_id):
        writer.writerows(batch)
        yield taken(out)
    yield taken(out)
