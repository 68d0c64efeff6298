"""Contact lists, contacts and CSV imports: lists per tenant, one row per address and list, and
the staging of an import before it is merged in one transaction.

A contact's status as read is the stored `unsubscribed` when it unsubscribed (its own choice,
even if the suppression list names its address too: an unsubscribe through a message's link
does both); else `suppressed` when an entry of the suppression list is in force for its address
(the tenant's own or a global one); else `subscribed`. Nothing is copied from the suppression
list, so a suppression added or lifted later shows at once, and a campaign (`recipients`) never
mails it.

An import stages its valid rows in `contact_import_rows` in short transactions (the primary key
drops a second row of the same address: a duplicate within the file), then `finish_import`
merges them into the list in one transaction: a file refused half-way leaves the list as it was.
On PostgreSQL the staging table is unlogged (no WAL for rows deleted a minute later), so a crash
of the server empties it: the merge checks that it finds every row staged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.core.types.contacts import ContactInfo, ImportInfo, ListCounts, ListInfo, Recipient
from gateway.storage.database import Database
from gateway.storage.models import (
    Contact,
    ContactImport,
    ContactImportError,
    ContactImportRow,
    ContactList,
    Suppression,
    Tenant,
    UTCDateTime,
)
from gateway.storage.pages import newest_first, page

# -- lists ---------------------------------------------------------------------------------

_LIST = select(ContactList.id, Tenant.name, ContactList.name, ContactList.created_at).join(
    Tenant, Tenant.id == ContactList.tenant_id
)


async def create_list(db: Database, tenant_id: int, name: str, at: datetime) -> ListInfo:
    try:
        async with db.begin() as conn:
            list_id = (
                await conn.execute(
                    insert(ContactList)
                    .values(tenant_id=tenant_id, name=name, created_at=at)
                    .returning(ContactList.id)
                )
            ).scalar_one()
    except IntegrityError as exc:
        raise ConflictError(f"a list named {name!r} exists already") from exc
    return await get_list(db, list_id)


async def get_list(db: Database, list_id: int) -> ListInfo:
    async with db.read() as conn:
        row = (await conn.execute(_LIST.where(ContactList.id == list_id))).first()
    if row is None:
        raise NotFoundError(f"no list {list_id}")
    return ListInfo(*row)


async def find_list(db: Database, tenant_id: int, name: str) -> ListInfo:
    query = _LIST.where(ContactList.tenant_id == tenant_id, ContactList.name == name)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no list named {name!r}")
    return ListInfo(*row)


async def list_lists(db: Database, tenant_id: int | None = None) -> list[ListInfo]:
    """The lists of a tenant (None: of every tenant), by tenant and name."""
    query = _LIST.order_by(Tenant.name, ContactList.name)
    if tenant_id is not None:
        query = query.where(ContactList.tenant_id == tenant_id)
    async with db.read() as conn:
        return [ListInfo(*row) for row in await conn.execute(query)]


async def delete_list(db: Database, list_id: int) -> None:
    """The list, its contacts and its imports (by the foreign keys' cascades)."""
    async with db.begin() as conn:
        await conn.execute(delete(ContactList).where(ContactList.id == list_id))


# -- contacts ------------------------------------------------------------------------------


def _suppressed(at: datetime) -> ColumnElement[bool]:
    """An entry of the suppression list in force for the contact's address when it is mailed
    by its tenant: the tenant's own or a global one, not expired."""
    return exists().where(
        Suppression.address == Contact.email,
        or_(Suppression.tenant_id == Contact.tenant_id, Suppression.tenant_id.is_(None)),
        or_(Suppression.expires_at.is_(None), Suppression.expires_at > at),
    )


def _status(at: datetime) -> ColumnElement[str]:
    subscribed = Contact.status == "subscribed"
    return case((and_(subscribed, _suppressed(at)), literal("suppressed")), else_=Contact.status)


def _contacts(at: datetime) -> Select[*tuple[Any, ...]]:
    return select(
        Contact.id,
        Contact.list_id,
        Contact.email,
        Contact.fields,
        _status(at),
        Contact.unsubscribed_at,
        Contact.unsubscribed_how,
        Contact.created_at,
        Contact.updated_at,
    )


def _contact(row: Any) -> ContactInfo:
    return ContactInfo(*row)


async def counts(db: Database, list_id: int, at: datetime) -> ListCounts:
    status = _status(at).label("status")
    inner = select(status).where(Contact.list_id == list_id).subquery()
    query = select(inner.c.status, func.count()).group_by(inner.c.status)
    async with db.read() as conn:
        found: dict[str, int] = {row[0]: row[1] for row in await conn.execute(query)}
    return ListCounts(
        sum(found.values()),
        found.get("subscribed", 0),
        found.get("unsubscribed", 0),
        found.get("suppressed", 0),
    )


@dataclass(frozen=True, slots=True)
class Search:
    """Contacts to list: `contains` is matched in the address; `status` one of `STATUSES`."""

    list_id: int
    contains: str | None = None
    status: str | None = None


def _where(
    query: Select[*tuple[Any, ...]], search: Search, at: datetime
) -> Select[*tuple[Any, ...]]:
    query = query.where(Contact.list_id == search.list_id)
    if search.contains:
        needle = search.contains.lower()
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Contact.email.like(f"%{escaped}%", escape="\\"))
    if search.status == "suppressed":
        query = query.where(Contact.status == "subscribed", _suppressed(at))
    elif search.status == "subscribed":
        query = query.where(Contact.status == "subscribed", ~_suppressed(at))
    elif search.status is not None:
        query = query.where(Contact.status == search.status)
    return query


async def recent_contacts(
    db: Database, search: Search, at: datetime, limit: int, cursor: str | None = None
) -> tuple[list[ContactInfo], str | None]:
    """A page of the contacts `search` finds, newest first, and the cursor of the next page."""
    query = newest_first(
        _where(_contacts(at), search, at), Contact.created_at, Contact.id, limit, cursor
    )
    async with db.read() as conn:
        rows = [_contact(row) for row in await conn.execute(query)]
    return page(rows, limit, lambda c: (c.created_at, c.id))


async def contact_batches(
    db: Database, search: Search, at: datetime, size: int = 1000
) -> AsyncIterator[list[ContactInfo]]:
    """Every contact `search` finds, by id, `size` at a time (one short read each)."""
    after = 0
    while True:
        query = _where(_contacts(at), search, at).where(Contact.id > after)
        async with db.read() as conn:
            batch = [
                _contact(row) for row in await conn.execute(query.order_by(Contact.id).limit(size))
            ]
        if not batch:
            return
        yield batch
        after = batch[-1].id


async def recipients(
    db: Database, list_id: int, at: datetime, size: int = 1000
) -> AsyncIterator[list[Recipient]]:
    """The list's subscribed contacts that no suppression in force at `at` names, by id,
    `size` at a time: what a campaign mails. Each batch is one short read, so a list can be
    read while it changes (a contact added meanwhile with a higher id is read too)."""
    after = 0
    while True:
        query = (
            select(Contact.id, Contact.email, Contact.fields)
            .where(
                Contact.list_id == list_id,
                Contact.id > after,
                Contact.status == "subscribed",
                ~_suppressed(at),
            )
            .order_by(Contact.id)
            .limit(size)
        )
        async with db.read() as conn:
            batch = [Recipient(*row) for row in await conn.execute(query)]
        if not batch:
            return
        yield batch
        after = batch[-1].contact_id


async def get_contact(db: Database, list_id: int, email: str, at: datetime) -> ContactInfo:
    query = _contacts(at).where(Contact.list_id == list_id, Contact.email == email)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFoundError(f"{email} is not on this list")
    return _contact(row)


async def lists_with(db: Database, tenant_id: int, email: str) -> list[ListInfo]:
    """The tenant's lists that `email` is on, by name."""
    query = (
        _LIST.join(Contact, Contact.list_id == ContactList.id)
        .where(ContactList.tenant_id == tenant_id, Contact.email == email)
        .order_by(ContactList.name)
    )
    async with db.read() as conn:
        return [ListInfo(*row) for row in await conn.execute(query)]


async def add_contact(
    db: Database, tenant_id: int, list_id: int, email: str, fields: dict[str, str], at: datetime
) -> ContactInfo:
    values = {"tenant_id": tenant_id, "list_id": list_id, "email": email, "fields": fields}
    values |= {"status": "subscribed", "created_at": at, "updated_at": at}
    try:
        async with db.begin() as conn:
            await conn.execute(insert(Contact).values(**values))
    except IntegrityError as exc:
        raise ConflictError(f"{email} is on this list already") from exc
    return await get_contact(db, list_id, email, at)


async def update_contact(
    db: Database,
    list_id: int,
    email: str,
    fields: dict[str, str],
    unsubscribed: tuple[datetime, str] | None,
    at: datetime,
) -> ContactInfo:
    """Replace the contact's fields and set its status: unsubscribed (when, how) or, with
    None, subscribed."""
    when, how = unsubscribed if unsubscribed else (None, None)
    status = "unsubscribed" if unsubscribed else "subscribed"
    async with db.begin() as conn:
        result = await conn.execute(
            update(Contact)
            .where(Contact.list_id == list_id, Contact.email == email)
            .values(
                fields=fields,
                status=status,
                unsubscribed_at=when,
                unsubscribed_how=how,
                updated_at=at,
            )
        )
    if not result.rowcount:
        raise NotFoundError(f"{email} is not on this list")
    return await get_contact(db, list_id, email, at)


async def unsubscribe_everywhere(
    db: Database, tenant_id: int, email: str, at: datetime, how: str
) -> int:
    """Unsubscribe `email` (when `at`, how `how`) on every list of the tenant where it is
    subscribed; a contact unsubscribed already keeps its when and how. How many were. One probe
    of the `(list_id, email)` key per list of the tenant."""
    lists = select(ContactList.id).where(ContactList.tenant_id == tenant_id)
    async with db.begin() as conn:
        result = await conn.execute(
            update(Contact)
            .where(
                Contact.list_id.in_(lists),
                Contact.email == email,
                Contact.status == "subscribed",
            )
            .values(status="unsubscribed", unsubscribed_at=at, unsubscribed_how=how, updated_at=at)
        )
    return int(result.rowcount)


async def remove_contact(db: Database, list_id: int, email: str) -> None:
    async with db.begin() as conn:
        result = await conn.execute(
            delete(Contact).where(Contact.list_id == list_id, Contact.email == email)
        )
    if not result.rowcount:
        raise NotFoundError(f"{email} is not on this list")


# -- imports -------------------------------------------------------------------------------

_IMPORT = select(
    ContactImport.id,
    ContactImport.list_id,
    Tenant.name,
    ContactImport.filename,
    ContactImport.state,
    ContactImport.rows,
    ContactImport.added,
    ContactImport.updated,
    ContactImport.duplicates,
    ContactImport.invalid,
    ContactImport.error,
    ContactImport.actor,
    ContactImport.created_at,
    ContactImport.finished_at,
).join(Tenant, Tenant.id == ContactImport.tenant_id)


def _import(row: Any) -> ImportInfo:
    return ImportInfo(*row)


ABANDONED = "interrupted: the process importing it stopped before the end"


async def start_import(
    db: Database,
    info: ListInfo,
    tenant_id: int,
    filename: str,
    actor: str,
    at: datetime,
    abandoned_before: datetime,
) -> int:
    """A new import into the list (`running`); imports of the list still running since before
    `abandoned_before` are marked failed and their staged rows dropped (their process died), as
    are staged rows left by an import that ended (its process died before dropping them)."""
    async with db.begin() as conn:
        stale = select(ContactImport.id).where(
            ContactImport.list_id == info.id,
            ContactImport.state == "running",
            ContactImport.created_at < abandoned_before,
        )
        stale_ids = list((await conn.execute(stale)).scalars())
        over = select(ContactImport.id).where(
            ContactImport.list_id == info.id, ContactImport.state != "running"
        )
        await conn.execute(
            delete(ContactImportRow).where(
                or_(ContactImportRow.import_id.in_(stale_ids), ContactImportRow.import_id.in_(over))
            )
        )
        if stale_ids:
            await conn.execute(
                update(ContactImport)
                .where(ContactImport.id.in_(stale_ids))
                .values(state="failed", error=ABANDONED, finished_at=at)
            )
        values = {"tenant_id": tenant_id, "list_id": info.id, "filename": filename[:255]}
        values |= {"state": "running", "actor": actor[:320], "created_at": at}
        values |= {"rows": 0, "added": 0, "updated": 0, "duplicates": 0, "invalid": 0}
        return (
            await conn.execute(insert(ContactImport).values(**values).returning(ContactImport.id))
        ).scalar_one()


def _insert(db: Database) -> Any:
    """The INSERT of this database's dialect, with its ON CONFLICT clauses."""
    return sqlite_insert if db.is_sqlite else pg_insert


_STAGE = "INSERT INTO contact_import_rows (import_id, email, fields) {} ON CONFLICT DO NOTHING"
_JSON = json.JSONEncoder(ensure_ascii=False)
_STAGE_SQLITE = _STAGE.format("VALUES (?, ?, ?)")
_STAGE_POSTGRESQL = _STAGE.format(
    "SELECT $1, email, fields FROM unnest($2::text[], $3::text[]) AS t(email, fields)"
)


async def stage(
    db: Database,
    import_id: int,
    rows: list[tuple[str, dict[str, str]]],
    invalid: list[tuple[int, str]],
) -> int:
    """Stage a batch of valid rows (address, fields) and record a batch of invalid rows (line,
    reason), in one short transaction; the number of rows staged. A second row of an address
    already staged is dropped."""
    staged = 0
    async with db.begin() as conn:
        if rows:
            # The driver's own executemany: a million rows through the ORM's bind processing
            # would take most of the import's time.
            if db.is_sqlite:
                result = await conn.exec_driver_sql(
                    _STAGE_SQLITE, [(import_id, email, _JSON.encode(f)) for email, f in rows]
                )
            else:  # one statement for the batch: far quicker than a row at a time
                emails = [email for email, _ in rows]
                fields = [_JSON.encode(f) for _, f in rows]
                result = await conn.exec_driver_sql(_STAGE_POSTGRESQL, (import_id, emails, fields))
            staged = result.rowcount
        if invalid:
            await conn.execute(
                insert(ContactImportError),
                [{"import_id": import_id, "line": line, "reason": why} for line, why in invalid],
            )
    return staged


class _StagedRowsLost(Exception):
    """Fewer staged rows found than were staged: the merge is rolled back."""


async def finish_import(
    db: Database,
    import_id: int,
    info: ListInfo,
    tenant_id: int,
    rows: int,
    invalid: int,
    expected: int,
    at: datetime,
) -> ImportInfo:
    """Merge the staged rows into the list in one transaction: new addresses are added
    (subscribed), the fields of addresses on the list already are updated (the file's fields
    over the stored ones; their status is kept). Duplicates: valid rows that were not staged.
    `expected`: how many `stage` staged; fewer found means some were lost (PostgreSQL
    empties its unlogged staging table when it restarts after a crash): then nothing is merged
    and the import has failed."""
    of_import = ContactImportRow.import_id == import_id
    try:
        async with db.begin() as conn:
            when = literal(at, UTCDateTime())
            staged_fields = (
                ContactImportRow.fields
                if db.is_sqlite
                else cast(ContactImportRow.fields, JSONB)  # parsed here, once
            )
            source = select(
                literal(info.id),
                literal(tenant_id),
                ContactImportRow.email,
                staged_fields,
                literal("subscribed"),
                when,
                when,
            ).where(of_import)
            columns = [
                "list_id", "tenant_id", "email", "fields", "status", "created_at", "updated_at"
            ]  # fmt: skip
            merge = _insert(db)(Contact).from_select(columns, source)
            fields = (
                func.json_patch(Contact.fields, merge.excluded.fields)
                if db.is_sqlite
                else Contact.fields.op("||")(merge.excluded.fields)
            )
            merge = merge.on_conflict_do_update(
                index_elements=[Contact.list_id, Contact.email],
                set_={"fields": fields, "updated_at": merge.excluded.updated_at},
            )
            if db.is_sqlite:
                staged = (await conn.execute(select(func.count()).where(of_import))).scalar_one()
                on_list = and_(Contact.list_id == info.id, Contact.email == ContactImportRow.email)
                updated = (
                    await conn.execute(
                        select(func.count())
                        .select_from(ContactImportRow)
                        .join(Contact, on_list)
                        .where(of_import)
                    )
                ).scalar_one()
                await conn.execute(merge)
            else:
                # Counted as the rows are merged, in one pass: a row whose `xmax` is 0 was inserted
                # (PostgreSQL's system column: the updating transaction of a row it updated).
                merged = merge.returning(literal_column("xmax = 0").label("added")).cte("merged")
                counts = select(func.count(), func.count().filter(merged.c.added))
                counts = counts.select_from(merged)
                staged, added = (await conn.execute(counts)).one()
                updated = staged - added
            if staged != expected:  # raised in the transaction: the merge is rolled back
                raise _StagedRowsLost(
                    f"{expected - staged} of the {expected} staged rows were lost (the "
                    "database restarted during the import): nothing was imported"
                )
            await conn.execute(
                update(ContactImport)
                .where(ContactImport.id == import_id)
                .values(
                    state="done",
                    rows=rows,
                    added=staged - updated,
                    updated=updated,
                    duplicates=rows - invalid - staged,
                    invalid=invalid,
                    finished_at=at,
                )
            )
    except _StagedRowsLost as exc:
        return await fail_import(db, import_id, str(exc), rows, invalid, at)
    await _drop_staged(db, import_id)
    return await get_import(db, import_id)


DROP_BATCH = 20_000
"""Staged rows deleted per transaction once their import is over."""


async def _drop_staged(db: Database, import_id: int) -> None:
    """The staged rows of a finished import, deleted after the transaction that merged them: on
    SQLite in short transactions (so that no write waits long for its lock), on PostgreSQL at
    once; rows left by a process that died meanwhile go at the list's next import
    (`start_import`)."""
    of_import = ContactImportRow.import_id == import_id
    if not db.is_sqlite:  # no lock held by its writes keeps anyone else waiting
        async with db.begin() as conn:
            await conn.execute(delete(ContactImportRow).where(of_import))
        return
    some = select(ContactImportRow.email).where(of_import).limit(DROP_BATCH)
    while True:
        async with db.begin() as conn:
            result = await conn.execute(
                delete(ContactImportRow).where(of_import, ContactImportRow.email.in_(some))
            )
        if result.rowcount < DROP_BATCH:
            return


async def fail_import(
    db: Database, import_id: int, error: str, rows: int, invalid: int, at: datetime
) -> ImportInfo:
    """The file was refused as a whole: its staged rows dropped, the list left as it was."""
    async with db.begin() as conn:
        await conn.execute(
            update(ContactImport)
            .where(ContactImport.id == import_id)
            .values(state="failed", error=error, rows=rows, invalid=invalid, finished_at=at)
        )
    await _drop_staged(db, import_id)
    return await get_import(db, import_id)


async def get_import(db: Database, import_id: int) -> ImportInfo:
    async with db.read() as conn:
        row = (await conn.execute(_IMPORT.where(ContactImport.id == import_id))).first()
    if row is None:
        raise NotFoundError(f"no import {import_id}")
    return _import(row)


async def list_imports(db: Database, list_id: int, limit: int = 20) -> list[ImportInfo]:
    """The list's latest imports, newest first."""
    query = (
        _IMPORT.where(ContactImport.list_id == list_id)
        .order_by(ContactImport.created_at.desc(), ContactImport.id.desc())
        .limit(limit)
    )
    async with db.read() as conn:
        return [_import(row) for row in await conn.execute(query)]


async def import_errors(
    db: Database, import_id: int, size: int = 5000
) -> AsyncIterator[list[tuple[int, str]]]:
    """The invalid rows of an import, (line, reason) by line, `size` at a time."""
    after = 0
    while True:
        query = (
            select(ContactImportError.line, ContactImportError.reason)
            .where(ContactImportError.import_id == import_id, ContactImportError.line > after)
            .order_by(ContactImportError.line)
            .limit(size)
        )
        async with db.read() as conn:
            batch = [(line, reason) for line, reason in await conn.execute(query)]
        if not batch:
            return
        yield batch
        after = batch[-1][0]
