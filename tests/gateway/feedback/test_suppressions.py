"""The suppression list: normalization, storage on SQLite and PostgreSQL, CSV, and over SMTP."""

from __future__ import annotations

import asyncio
import io
import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.types.messages import RecipientState
from gateway.feedback import suppressions
from gateway.identity import accounts
from gateway.storage import refusals
from gateway.storage import suppressions as store
from gateway.storage.database import Database
from gateway.storage.models import Refusal
from tests.conftest import Gateway, client_tls, settled
from tests.gateway.feedback.test_events import NOW, ingest, sent_message, transient
from tests.support.fakeses import FakeSes
from tests.support.sesevents import bounce
from tests.support.smtp import protocol_only

# -- normalization -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("Bob@Example.COM", "bob@example.com"),
        ("  bob@example.com  ", "bob@example.com"),
        ("bob@example.com.", "bob@example.com"),
        ("Bob@Bücher.example", "bob@xn--bcher-kva.example"),
        ("bob@XN--BCHER-KVA.example", "bob@xn--bcher-kva.example"),
        ("first.last+tag@Mail.Example.org", "first.last+tag@mail.example.org"),
    ],
)
def test_addresses_are_normalized(given: str, normalized: str) -> None:
    assert suppressions.normalize_address(given) == normalized


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nobody", "'nobody' is not a mail address: expected local-part@domain"),
        ("@example.com", "is not a mail address"),
        ("bob@", "is not a mail address"),
        ("jörg@example.com", "the local part must be printable ASCII"),
        ("a b@example.com", "the local part must be printable ASCII"),
        ("bob@localhost", "'bob@localhost' is not a valid mail address: domain 'localhost': "),
        ("bob@192.0.2.1", "it is an IP address"),
        ("bob@exa_mple.com", "'_' is allowed only in service names"),
    ],
)
def test_invalid_addresses_are_refused_with_a_sentence(given: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        suppressions.normalize_address(given)
    assert message in str(caught.value)
    assert "sending domain" not in str(caught.value)


def test_lookup_never_refuses() -> None:
    assert suppressions.lookup_key("Bob@Bücher.example") == "bob@xn--bcher-kva.example"
    assert suppressions.lookup_key("Bob@LOCALHOST") == "bob@localhost"


# -- storage, on both databases ------------------------------------------------------------

DAY = timedelta(days=1)


async def tenant(db: Database, name: str) -> int:
    return (await accounts.create_tenant(db, name)).id


async def lookup(db: Database, tenant_id: int, address: str, at: datetime | None = None) -> Any:
    key = suppressions.lookup_key(address)
    return await store.suppressed(db, tenant_id, key, at or suppressions.now())


async def test_matching_ignores_case_and_idn_form(db: Database) -> None:
    acme = await tenant(db, "acme")
    entry, added = await suppressions.add(db, "Jorg.X@Bücher.example")
    assert added
    assert entry.address == "jorg.x@xn--bcher-kva.example"
    for form in ("JORG.X@BÜCHER.EXAMPLE", "jorg.x@xn--bcher-kva.example", "Jorg.X@Bücher.Example"):
        found = await lookup(db, acme, form)
        assert found is not None, form
        assert found.address == "jorg.x@xn--bcher-kva.example"
    assert await lookup(db, acme, "jorg.y@bücher.example") is None


async def test_global_entries_apply_to_every_tenant_and_tenant_entries_to_one(
    db: Database,
) -> None:
    acme, other = await tenant(db, "acme"), await tenant(db, "other")
    await suppressions.add(db, "everyone@example.org", reason="complaint")
    await suppressions.add(db, "acme-only@example.org", "acme", reason="unsubscribe")
    for tenant_id in (acme, other):
        found = await lookup(db, tenant_id, "everyone@example.org")
        assert found is not None
        assert (found.tenant, found.reason) == (None, "complaint")
    found = await lookup(db, acme, "acme-only@example.org")
    assert found is not None
    assert (found.tenant, found.reason) == ("acme", "unsubscribe")
    assert await lookup(db, other, "acme-only@example.org") is None


async def test_the_tenants_own_entry_is_preferred_to_a_global_one(db: Database) -> None:
    acme = await tenant(db, "acme")
    await suppressions.add(db, "x@example.org", reason="bounce")
    await suppressions.add(db, "x@example.org", "acme", reason="unsubscribe")
    found = await lookup(db, acme, "x@example.org")
    assert found is not None
    assert (found.tenant, found.reason) == ("acme", "unsubscribe")


async def test_expired_entries_are_ignored(db: Database) -> None:
    acme = await tenant(db, "acme")
    now = suppressions.now()
    await suppressions.add(db, "soft@example.org", reason="bounce", expires_at=now + timedelta(1))
    assert await lookup(db, acme, "soft@example.org", now) is not None
    assert await lookup(db, acme, "soft@example.org", now + timedelta(days=2)) is None
    # a lapsed tenant entry does not hide a global one still in force
    await suppressions.add(db, "both@example.org", reason="complaint")
    await suppressions.add(db, "both@example.org", "acme", expires_at=now + timedelta(hours=1))
    found = await lookup(db, acme, "both@example.org", now + timedelta(hours=2))
    assert found is not None
    assert found.reason == "complaint"


async def test_an_expiry_in_the_past_is_refused(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="is in the past"):
        await suppressions.add(db, "x@example.org", expires_at=datetime(2020, 1, 1, tzinfo=UTC))


async def test_adding_again_in_the_same_scope_replaces_the_entry(db: Database) -> None:
    await tenant(db, "acme")
    first, added = await suppressions.add(db, "x@example.org", reason="bounce", detail="5.1.1")
    assert added
    second, added = await suppressions.add(
        db, "X@example.org", reason="complaint", detail="abuse report"
    )
    assert not added
    assert second.id == first.id
    assert (second.reason, second.detail) == ("complaint", "abuse report")
    await suppressions.add(db, "x@example.org", "acme")
    listed = await suppressions.list_entries(db)
    assert [(e.address, e.tenant, e.reason) for e in listed] == [
        ("x@example.org", None, "complaint"),
        ("x@example.org", "acme", "manual"),
    ]


async def test_keep_longer_never_shortens_an_entry(db: Database) -> None:
    """Auto-suppression adds with `keep_longer`: under the same lock as the write, a permanent
    entry is never replaced by an expiring one, nor a later expiry by an earlier one."""
    acme = await tenant(db, "acme")
    now = suppressions.now()

    def entry(address: str, expires_at: datetime | None) -> store.Entry:
        return store.Entry(address, acme, "bounce", f"until {expires_at}", now, expires_at)

    async def expiry(address: str) -> datetime | None:
        [found] = await store.list_suppressions(db, store.Search(acme, contains=address))
        return found.expires_at

    await store.add(db, [entry("hard@example.org", None), entry("soft@example.org", now + DAY)])
    shorter = [entry("hard@example.org", now + DAY), entry("soft@example.org", now + DAY / 2)]
    assert await store.add(db, shorter, keep_longer=True) == (0, 0)
    assert await expiry("hard@example.org") is None
    assert await expiry("soft@example.org") == now + DAY

    longer = [entry("soft@example.org", now + 2 * DAY), entry("new@example.org", now + DAY)]
    assert await store.add(db, longer, keep_longer=True) == (1, 1)
    assert await expiry("soft@example.org") == now + 2 * DAY
    assert await store.add(db, [entry("soft@example.org", None)], keep_longer=True) == (0, 1)
    assert await expiry("soft@example.org") is None


async def test_a_permanent_suppression_outlives_a_later_transient_one(db: Database) -> None:
    acme = await tenant(db, "acme")
    address = "gone@example.org"
    _, ses_id = await sent_message(db, acme, [address], at=NOW - timedelta(hours=2))
    assert (await ingest(db, bounce(ses_id, address), at=NOW - timedelta(hours=1))).suppressed
    for minutes in (1, 2, 3):
        result = await transient(db, acme, address, NOW + timedelta(minutes=minutes))
        assert result.suppressed == ()
    entry = await store.get(db, address, acme)
    assert entry is not None
    assert (entry.reason, entry.expires_at) == ("bounce", None)
    assert entry.detail.startswith("Permanent/General bounce")


async def test_a_manual_addition_replaces_even_a_permanent_entry(db: Database) -> None:
    """`suppression add` (and import) replace whatever is there: the operator decides."""
    await tenant(db, "acme")
    await suppressions.add(db, "x@example.org", "acme", reason="complaint")
    until = suppressions.now() + DAY
    entry, added = await suppressions.add(db, "x@example.org", "acme", expires_at=until)
    assert not added
    assert (entry.reason, entry.expires_at) == ("manual", until)


async def test_remove_takes_one_scope(db: Database) -> None:
    await tenant(db, "acme")
    await suppressions.add(db, "x@example.org")
    await suppressions.add(db, "x@example.org", "acme")
    removed = await suppressions.remove(db, "X@Example.org")
    assert removed.tenant is None
    assert [e.tenant for e in await suppressions.list_entries(db)] == ["acme"]
    with pytest.raises(NotFoundError, match=r"x@example\.org is not suppressed for every tenant"):
        await suppressions.remove(db, "x@example.org")
    await suppressions.remove(db, "x@example.org", "acme")
    assert await suppressions.list_entries(db) == []


async def test_unknown_tenant_and_reason_are_refused(db: Database) -> None:
    with pytest.raises(NotFoundError, match="no tenant named 'ghost'"):
        await suppressions.add(db, "x@example.org", "ghost")
    with pytest.raises(InvalidInputError, match="unknown reason 'spam': use one of bounce"):
        await suppressions.add(db, "x@example.org", reason="spam")


async def test_list_filters_and_pages(db: Database) -> None:
    await tenant(db, "acme")
    await suppressions.add(db, "a_b@example.org", reason="bounce")
    await suppressions.add(db, "axb@example.org", "acme", reason="bounce")
    await suppressions.add(db, "c@example.net", "acme", reason="complaint")

    async def addresses(**filters: Any) -> list[str]:
        return [e.address for e in await suppressions.list_entries(db, **filters)]

    assert await addresses() == ["a_b@example.org", "axb@example.org", "c@example.net"]
    assert await addresses(tenant="acme") == ["axb@example.org", "c@example.net"]
    assert await addresses(reason="bounce") == ["a_b@example.org", "axb@example.org"]
    assert await addresses(contains="a_b") == ["a_b@example.org"]  # `_` is no wildcard
    assert await addresses(contains="EXAMPLE.NET") == ["c@example.net"]
    assert await addresses(limit=1, offset=1) == ["axb@example.org"]


async def test_searches_by_scope_and_pages_newest_first(db: Database) -> None:
    acme, other = await tenant(db, "acme"), await tenant(db, "other")
    await suppressions.add(db, "global@example.org")
    await suppressions.add(db, "acme@example.org", "acme")
    await suppressions.add(db, "other@example.org", "other")

    async def found(**search: Any) -> list[str]:
        entries = await store.list_suppressions(db, store.Search(**search))
        return [e.address for e in entries]

    assert await found(tenant_id=acme) == ["acme@example.org", "global@example.org"]
    assert await found(tenant_id=acme, scope="tenant") == ["acme@example.org"]
    assert await found(scope="tenant") == ["acme@example.org", "other@example.org"]
    assert await found(tenant_id=other, scope="global") == ["global@example.org"]
    later = suppressions.now() + DAY
    assert await found(since=later) == []
    assert len(await found(until=later)) == 3
    seen, cursor = [], None
    while True:
        page, cursor = await store.recent_suppressions(db, store.Search(), 2, cursor)
        seen += [e.address for e in page]
        if cursor is None:
            break
    assert seen == ["other@example.org", "acme@example.org", "global@example.org"]
    with pytest.raises(InvalidInputError, match="unknown scope"):
        await suppressions.search(db, scope="mine")


# -- CSV -----------------------------------------------------------------------------------


async def test_import_skips_bad_rows_by_line_and_counts_added_and_updated(db: Database) -> None:
    await tenant(db, "acme")
    await suppressions.add(db, "old@example.org", reason="manual")
    source = io.StringIO(
        "address,tenant,reason,detail,created_at,expires_at\n"
        "new@example.org,,bounce,550 5.1.1 user unknown,2026-01-17T08:00:00+00:00,\n"
        "OLD@example.org,,complaint,,,\n"
        "not-an-address,,bounce,,,\n"
        "x@example.org,acme,spam,,,\n"
        "\n"
        "y@example.org,ghost,,,,\n"
        '"quoted, with comma"@example.org,acme,unsubscribe,"detail, with comma",,2027-01-01\n'
        "z@example.org,,,,yesterday,\n"
    )
    report = await suppressions.import_csv(db, source)
    assert (report.added, report.updated) == (1, 1)
    assert [line for line, _ in report.errors] == [4, 5, 7, 8, 9]
    errors = dict(report.errors)
    assert "'not-an-address' is not a mail address" in errors[4]
    assert "unknown reason 'spam'" in errors[5]
    assert "no tenant named 'ghost'" in errors[7]
    assert "the local part must be printable ASCII" in errors[8]
    assert "created_at 'yesterday' is not an ISO date" in errors[9]
    listed = {e.address: e for e in await suppressions.list_entries(db)}
    assert listed["new@example.org"].created_at == datetime(2026, 1, 17, 8, tzinfo=UTC)
    assert listed["new@example.org"].detail == "550 5.1.1 user unknown"
    assert listed["old@example.org"].reason == "complaint"


async def test_import_with_a_tenant_scopes_rows_and_refuses_other_tenants(db: Database) -> None:
    await tenant(db, "acme")
    await tenant(db, "other")
    source = io.StringIO(
        "address,tenant\na@example.org,\nb@example.org,other\nc@example.org,acme\n"
    )
    report = await suppressions.import_csv(db, source, "acme")
    assert (report.added, report.updated) == (2, 0)
    assert report.errors == [
        (3, "the row is for tenant 'other', but this import is for tenant 'acme'"),
    ]
    assert {(e.address, e.tenant) for e in await suppressions.list_entries(db)} == {
        ("a@example.org", "acme"),
        ("c@example.org", "acme"),
    }


async def test_a_plain_list_of_addresses_imports_without_a_header(db: Database) -> None:
    report = await suppressions.import_csv(db, io.StringIO("a@example.org\nB@example.org\n"))
    assert (report.added, report.errors) == (2, [])
    assert [e.reason for e in await suppressions.list_entries(db)] == ["manual", "manual"]


async def test_a_file_with_an_unknown_column_is_refused_whole(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="unknown CSV column 'expire_at'"):
        await suppressions.import_csv(db, io.StringIO("address,expire_at\na@example.org,\n"))
    with pytest.raises(InvalidInputError, match="no `address` column"):
        await suppressions.import_csv(db, io.StringIO("email\na@example.org\n"))


async def test_export_then_import_is_a_round_trip(db: Database) -> None:
    await tenant(db, "acme")
    expires = suppressions.now() + timedelta(days=30)
    await suppressions.add(db, "a@example.org", reason="bounce", detail='said "no", twice')
    await suppressions.add(db, "b@bücher.example", "acme", "unsubscribe", expires_at=expires)
    before = await suppressions.list_entries(db)
    out = io.StringIO()
    assert await suppressions.export_csv(db, out) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "address,tenant,reason,detail,created_at,expires_at"
    assert lines[1].startswith('a@example.org,,bounce,"said ""no"", twice",')
    for entry in before:
        await suppressions.remove(db, entry.address, entry.tenant)
    report = await suppressions.import_csv(db, io.StringIO(out.getvalue()))
    assert (report.added, report.updated, report.errors) == (2, 0, [])
    after = await suppressions.list_entries(db)
    strip = [(e.address, e.tenant, e.reason, e.detail, e.created_at, e.expires_at) for e in after]
    assert strip == [
        (e.address, e.tenant, e.reason, e.detail, e.created_at, e.expires_at) for e in before
    ]


# -- over SMTP -----------------------------------------------------------------------------


def transaction(port: int, login: tuple[str, str], recipients: list[str]) -> dict[str, Any]:
    """MAIL, one RCPT per recipient, DATA: the RCPT replies and the DATA reply."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(*login)
        client.mail("news@example.com")
        replies = {r: client.rcpt(r) for r in recipients}
        data = client.data(b"From: news@example.com\r\nSubject: s\r\n\r\nhello\r\n")
    return {"rcpt": {r: (c, m.decode()) for r, (c, m) in replies.items()}, "data": data}


def queue_id(data_reply: tuple[int, bytes]) -> str:
    code, text = data_reply
    assert code == 250, data_reply
    return text.decode().rsplit(" ", 1)[1]


def today() -> str:
    now = datetime.now(UTC)
    return f"{now:%b} {now.day} {now.year}"


@protocol_only
async def test_a_suppressed_recipient_is_refused_and_the_others_are_delivered(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    login = await gateway.credential()
    await suppressions.add(gateway.db, "gone@example.org", reason="bounce")
    result = await asyncio.to_thread(
        transaction, gateway.port, login, ["a@example.org", "Gone@Example.ORG", "b@example.org"]
    )
    assert result["rcpt"]["Gone@Example.ORG"] == (
        550,
        f"5.1.1 Recipient gone@example.org is suppressed (bounce on {today()})",
    )
    assert result["rcpt"]["a@example.org"][0] == 250
    status = await settled(gateway.db, queue_id(result["data"]))
    assert [r.address for r in status.recipients] == ["a@example.org", "b@example.org"]
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sorted(sent.destinations) == ["a@example.org", "b@example.org"]
    assert await refusals.count_refusals(gateway.db, "acme") == {"suppressed": 1}
    async with gateway.db.read() as conn:
        row = (await conn.execute(select(Refusal.sender, Refusal.recipient))).one()
    assert tuple(row) == ("news@example.com", "Gone@Example.ORG")


@protocol_only
async def test_another_tenants_suppression_does_not_apply(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    login = await gateway.credential()
    await gateway.credential("other", domain="other.example")
    await suppressions.add(gateway.db, "x@example.org", "other", reason="unsubscribe")
    result = await asyncio.to_thread(transaction, gateway.port, login, ["x@example.org"])
    assert result["rcpt"]["x@example.org"][0] == 250
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["x@example.org"]


@protocol_only
async def test_drop_mode_accepts_but_never_sends_to_a_suppressed_recipient(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, suppression_mode="drop")
    login = await gateway.credential()
    await suppressions.add(gateway.db, "gone@example.org", "acme", reason="complaint")
    result = await asyncio.to_thread(
        transaction, gateway.port, login, ["a@example.org", "GONE@example.org"]
    )
    assert [c for c, _ in result["rcpt"].values()] == [250, 250]
    status = await settled(gateway.db, queue_id(result["data"]))
    states = {r.address: (r.state, r.last_error, r.attempts) for r in status.recipients}
    assert states == {
        "a@example.org": (RecipientState.SENT, None, 1),
        "GONE@example.org": (
            RecipientState.SUPPRESSED,
            f"suppressed (complaint on {today()})",
            0,
        ),
    }
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.destinations == ["a@example.org"]
    assert await refusals.count_refusals(gateway.db) == {}


@protocol_only
async def test_drop_mode_with_only_suppressed_recipients_sends_nothing(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, suppression_mode="drop")
    login = await gateway.credential()
    await suppressions.add(gateway.db, "gone@example.org")
    result = await asyncio.to_thread(transaction, gateway.port, login, ["gone@example.org"])
    status = await settled(gateway.db, queue_id(result["data"]))
    assert [r.state for r in status.recipients] == [RecipientState.SUPPRESSED]
    assert not status.has_body
    assert fake_ses.messages() == []
