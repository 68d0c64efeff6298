"""Contact lists in storage, on SQLite and PostgreSQL: names per tenant, the cascade of a
deleted list, the staging table emptied whatever became of an import, and an import whose
staged rows were lost merging nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from gateway.audience import contacts, imports
from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.identity import accounts
from gateway.storage import contacts as store
from gateway.storage.database import Database
from gateway.storage.models import Contact, ContactImportRow


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def count(db: Database, column: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count(column)))).scalar_one())


async def test_a_name_is_unique_within_a_tenant_only(db: Database) -> None:
    acme = (await accounts.create_tenant(db, "acme")).id
    globex = (await accounts.create_tenant(db, "globex")).id
    await store.create_list(db, acme, "news", contacts.now())
    await store.create_list(db, globex, "news", contacts.now())
    with pytest.raises(ConflictError, match="exists already"):
        await store.create_list(db, acme, "news", contacts.now())
    assert [(x.tenant, x.name) for x in await store.list_lists(db)] == [
        ("acme", "news"),
        ("globex", "news"),
    ]
    with pytest.raises(NotFoundError):
        await store.find_list(db, acme, "other")


async def test_staged_rows_are_dropped_whatever_the_import_became(db: Database) -> None:
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    info = await store.create_list(db, tenant_id, "news", contacts.now())
    rows = b"email\n" + b"".join(b"r%d@example.com\n" % n for n in range(store.DROP_BATCH + 5))
    done = await imports.import_csv(db, info, tenant_id, one(rows), "a.csv", "t")
    assert done.added == store.DROP_BATCH + 5
    failed = await imports.import_csv(db, info, tenant_id, one(rows + b"\xff"), "b.csv", "t")
    assert failed.state == "failed"
    assert await count(db, ContactImportRow.email) == 0

    left = await store.start_import(
        db, info, tenant_id, "c.csv", "t", contacts.now() - timedelta(days=1), contacts.now()
    )
    await store.stage(db, left, [("x@example.com", {})], [])
    await imports.import_csv(db, info, tenant_id, one(b"email\n"), "d.csv", "t")
    assert (await store.get_import(db, left)).error == store.ABANDONED
    assert await count(db, ContactImportRow.email) == 0


async def test_an_import_whose_staged_rows_were_lost_merges_nothing(db: Database) -> None:
    # PostgreSQL empties its unlogged staging table when it restarts after a crash; the import
    # goes on with a new connection and must not merge what was left as the whole file.
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    info = await store.create_list(db, tenant_id, "news", contacts.now())
    at = contacts.now()
    import_id = await store.start_import(db, info, tenant_id, "a.csv", "t", at, at)
    staged = await store.stage(db, import_id, [("a@example.com", {}), ("b@example.com", {})], [])
    staged += await store.stage(db, import_id, [("a@example.com", {})], [])
    assert staged == 2
    async with db.begin() as conn:
        await conn.execute(
            delete(ContactImportRow).where(ContactImportRow.email == "a@example.com")
        )
    report = await store.finish_import(db, import_id, info, tenant_id, 3, 0, staged, at)
    assert (report.state, report.added) == ("failed", 0)
    assert report.error == (
        "1 of the 2 staged rows were lost (the database restarted during the import): "
        "nothing was imported"
    )
    assert await count(db, Contact.id) == 0
    assert await count(db, ContactImportRow.email) == 0


async def test_a_deleted_list_takes_its_contacts_and_imports(db: Database) -> None:
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    info = await store.create_list(db, tenant_id, "news", contacts.now())
    report = await imports.import_csv(
        db, info, tenant_id, one(b"email\na@example.com\nbad\n"), "a.csv", "t"
    )
    await store.delete_list(db, info.id)
    assert await count(db, Contact.id) == 0
    with pytest.raises(NotFoundError):
        await store.get_import(db, report.id)
