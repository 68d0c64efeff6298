"""CSV imports into a list, on SQLite and PostgreSQL: the report, and nothing half-imported."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.audience import contacts, imports
from gateway.core.types.contacts import ImportInfo, ListInfo
from gateway.feedback import suppressions
from gateway.identity import accounts
from gateway.storage import contacts as store
from gateway.storage.database import Database


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def text(chunks: AsyncIterator[str]) -> str:
    return "".join([chunk async for chunk in chunks])


async def make_list(db: Database, tenant: str = "acme") -> tuple[ListInfo, int]:
    tenant_id = (await accounts.create_tenant(db, tenant)).id
    return await store.create_list(db, tenant_id, "news", contacts.now()), tenant_id


async def run(db: Database, info: ListInfo, tenant_id: int, data: bytes) -> ImportInfo:
    return await imports.import_csv(db, info, tenant_id, chunks(data), "file.csv", "test")


async def emails(db: Database, info: ListInfo) -> dict[str, dict[str, str]]:
    search = store.Search(info.id)
    found: dict[str, dict[str, str]] = {}
    async for batch in store.contact_batches(db, search, contacts.now()):
        found |= {c.email: c.fields for c in batch}
    return found


async def test_an_import_reports_added_updated_duplicates_and_invalid_rows(db: Database) -> None:
    info, tenant_id = await make_list(db)
    await store.add_contact(
        db, tenant_id, info.id, "old@example.com", {"name": "Old", "city": "Oslo"}, contacts.now()
    )
    data = (
        "Email;First Name;City\n"
        "new@Bücher.example;Néa;\n"
        "OLD@example.com;Olga;\n"
        "new@xn--bcher-kva.example;Second;\n"
        "not-an-address;x;y\n"
        ";no;address\n"
        "a@example.com;1;2;3\n"
    ).encode()
    report = await run(db, info, tenant_id, data)
    assert (report.state, report.rows, report.added, report.updated) == ("done", 6, 1, 1)
    assert (report.duplicates, report.invalid, report.error) == (1, 3, None)
    assert await emails(db, info) == {
        "old@example.com": {"name": "Old", "city": "Oslo", "first_name": "Olga"},
        "new@xn--bcher-kva.example": {"first_name": "Néa"},
    }
    lines = (await text(imports.invalid_csv_chunks(db, report.id))).splitlines()
    assert len(lines) == 4
    assert lines[0] == "line,reason"
    assert lines[1].startswith("5,")
    assert "not-an-address" in lines[1]
    assert lines[2] == "6,no address in the email column"
    assert lines[3] == '7,"4 fields, but the header has 3"'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,city\nAnn,Oslo\n", "no `email` column"),
        (b"", "the file is empty"),
        (b"email,name\nok@example.com,x\n\xe9\n", "not UTF-8"),
        (b"email\nok@example.com\n" + b"a" * 10_000_000, "longer than"),
        (b"email,email\nok@example.com,x\n", "comes twice"),
    ],
)
async def test_a_refused_file_imports_nothing(db: Database, data: bytes, message: str) -> None:
    info, tenant_id = await make_list(db)
    report = await run(db, info, tenant_id, b"email\nkept@example.com\n")
    assert report.added == 1
    refused = await run(db, info, tenant_id, data)
    assert refused.state == "failed"
    assert refused.error
    assert message in refused.error
    assert refused.added == 0
    assert list(await emails(db, info)) == ["kept@example.com"]


async def test_formula_cells_are_kept_as_text_and_exported_inert(db: Database) -> None:
    info, tenant_id = await make_list(db)
    data = (
        b'email,name\nf@example.com,"=HYPERLINK(""http://x"")"\n'
        b"=1+1@example.com,+47 22\n"
        b"\"=cmd|' /C calc'!A0\",x\n"
    )
    report = await run(db, info, tenant_id, data)
    assert (report.added, report.invalid) == (2, 1)
    stored = await emails(db, info)
    assert stored["f@example.com"] == {"name": '=HYPERLINK("http://x")'}
    assert stored["=1+1@example.com"] == {"name": "+47 22"}
    export = contacts.CsvExport(db, store.Search(info.id))
    exported = await text(export.chunks())
    assert export.rows == 2
    lines = exported.splitlines()
    assert any(line.startswith("'=1+1@example.com,") and "'+47 22" in line for line in lines)
    assert any("'=HYPERLINK" in line for line in lines)
    invalid = await text(imports.invalid_csv_chunks(db, report.id))
    assert invalid.splitlines()[1].startswith("4,")
    again = await run(db, info, tenant_id, exported.encode())
    assert (again.updated, again.invalid, again.added) == (2, 0, 0)
    assert await emails(db, info) == stored


async def test_many_duplicates_make_one_contact(db: Database) -> None:
    info, tenant_id = await make_list(db)
    data = b"email\n" + b"same@example.com\n" * 20_000
    report = await run(db, info, tenant_id, data)
    assert (report.rows, report.added, report.duplicates) == (20_000, 1, 19_999)


async def test_recipients_are_subscribed_and_not_suppressed(db: Database) -> None:
    info, tenant_id = await make_list(db)
    data = b"email,name\n" + b"".join(b"p%d@example.com,P%d\n" % (i, i) for i in range(25))
    await run(db, info, tenant_id, data)
    await store.update_contact(
        db, info.id, "p3@example.com", {}, (contacts.now(), "manual"), contacts.now()
    )
    await suppressions.add(db, "P4@example.com", "acme")
    await suppressions.add(db, "p5@example.com")  # global
    await suppressions.add(db, "p6@example.com", None, expires_at=None)
    batches = [b async for b in contacts.recipients(db, info.id, size=10)]
    assert [len(b) for b in batches] == [10, 10, 1]
    got = {r.email: r.fields for b in batches for r in b}
    assert "p3@example.com" not in got
    assert "p4@example.com" not in got
    assert "p5@example.com" not in got
    assert "p6@example.com" not in got
    assert got["p7@example.com"] == {"name": "P7"}
    counts = await store.counts(db, info.id, contacts.now())
    assert (counts.total, counts.subscribed, counts.unsubscribed, counts.suppressed) == (
        25,
        21,
        1,
        3,
    )


@pytest.mark.slow
async def test_a_million_duplicates_make_one_contact(db: Database) -> None:
    info, tenant_id = await make_list(db)

    async def million() -> AsyncIterator[bytes]:
        yield b"email,n\n"
        block = b"Same@Example.com,1\n" * 10_000
        for _ in range(100):
            yield block

    report = await imports.import_csv(db, info, tenant_id, million(), "dups.csv", "test")
    assert (report.rows, report.added, report.duplicates, report.invalid) == (
        1_000_000,
        1,
        999_999,
        0,
    )
    assert await emails(db, info) == {"same@example.com": {"n": "1"}}
