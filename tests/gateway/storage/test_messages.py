"""Searching messages and paging through them, one message in detail with each recipient's
timeline, the events paged by cursor; always within one tenant when a tenant is given."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.headers import read_header
from gateway.core.types.events import EventFact, EventKind
from gateway.core.types.history import MessageOutcome, MessageSummary
from gateway.core.types.messages import RecipientState
from gateway.core.types.tenants import RefusalRecord, TenantInfo
from gateway.identity import accounts
from gateway.intake.message import header_subject
from gateway.storage import events as event_store
from gateway.storage import messages, queue
from gateway.storage.database import Database
from gateway.storage.events import NewEvent, NewRecipientEvent
from gateway.storage.messages import message_detail, search_messages
from gateway.storage.refusals import record_refusals
from tests.conftest import Gateway
from tests.support.messages import SEALER, attempt, new_message, queued
from tests.support.smtp import submit

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
_sns = count(1)


# -- Building mail ---------------------------------------------------------------------------


async def event(
    db: Database,
    tenant_id: int,
    queue_id: str,
    address: str,
    kind: EventKind,
    at: datetime,
    **fact: Any,
) -> None:
    """An SES event about one recipient of the message, stored as ingestion stores it."""
    status = await queue.message_status(db, SEALER, queue_id)
    [recipient] = [r for r in status.recipients if r.address == address]
    stored = NewEvent(
        sns_message_id=f"sns-{next(_sns)}-{queue_id}",
        topic_arn="arn:aws:sns:us-east-1:123456789012:ses-events",
        kind=kind,
        ses_type=kind.value,
        ses_message_id=recipient.ses_message_id,
        tenant_id=tenant_id,
        queue_id=queue_id,
        occurred_at=at,
        received_at=at,
        note="",
        payload="{}",
    )
    row = NewRecipientEvent(address, kind, at, recipient.id, EventFact(address, at, **fact))
    assert await event_store.insert_event(db, stored, [row]) is not None


async def new_tenant(db: Database, name: str) -> TenantInfo:
    return await accounts.create_tenant(db, name)


async def everything(db: Database, tenant_id: int | None, **filters: Any) -> list[MessageSummary]:
    """Every page of a search, in order."""
    found, cursor = await search_messages(db, SEALER, tenant_id, limit=4, **filters)
    while cursor is not None:
        more, cursor = await search_messages(
            db, SEALER, tenant_id, limit=4, cursor=cursor, **filters
        )
        found += more
    return found


# -- A mailbox of every status ---------------------------------------------------------------


async def mailbox(db: Database) -> tuple[dict[str, str], TenantInfo, TenantInfo]:
    """Acme's messages, one per status (named by it), and one of Other's: (ids, acme, other)."""
    acme, other = await new_tenant(db, "acme"), await new_tenant(db, "other")
    ids: dict[str, str] = {}
    minute = timedelta(minutes=1)

    async def add(name: str, recipients: Sequence[str], **fields: Any) -> str:
        ids[name] = await queued(db, acme.id, recipients, T0 + len(ids) * minute, **fields)
        return ids[name]

    await add("queued", ["carol@example.net"], subject="Café news", mail_from="news@example.com")
    deferred = await add("deferred", ["dave@example.net", "erin@example.net"])
    await attempt(db, deferred, RecipientState.DEFERRED, T0 + 20 * minute, "throttled")
    delivered = await add("delivered", ["bob@example.org"], subject="Invoice 42")
    await attempt(db, delivered, RecipientState.SENT, T0 + 20 * minute)
    await event(db, acme.id, delivered, "bob@example.org", EventKind.DELIVERY, T0 + 21 * minute)
    bounced = await add("bounced", ["gone@example.org", "ok@example.org"])
    await attempt(db, bounced, RecipientState.SENT, T0 + 20 * minute)
    await event(
        db,
        acme.id,
        bounced,
        "gone@example.org",
        EventKind.BOUNCE,
        T0 + 22 * minute,
        bounce_type="Permanent",
    )
    await event(db, acme.id, bounced, "ok@example.org", EventKind.DELIVERY, T0 + 22 * minute)
    complained = await add("complained", ["angry@example.org"])
    await attempt(db, complained, RecipientState.SENT, T0 + 20 * minute)
    await event(db, acme.id, complained, "angry@example.org", EventKind.DELIVERY, T0 + 21 * minute)
    await event(db, acme.id, complained, "angry@example.org", EventKind.COMPLAINT, T0 + 30 * minute)
    failed = await add("failed", ["nobody@example.org"], mail_from="alerts@shop.example")
    await attempt(db, failed, RecipientState.FAILED, T0 + 20 * minute, "MessageRejected")
    dropped = {"blocked@example.org": "suppressed: bounce"}
    suppressed = await add("suppressed", ["blocked@example.org"], suppressed=dropped)
    await attempt(db, suppressed, RecipientState.SENT, T0 + 20 * minute)
    sent = await add("sent", ["quiet@example.org"])
    await attempt(db, sent, RecipientState.SENT, T0 + 20 * minute)
    await event(
        db,
        acme.id,
        sent,
        "quiet@example.org",
        EventKind.BOUNCE,
        T0 + 25 * minute,
        bounce_type="Transient",
    )
    ids["other"] = await queued(db, other.id, ["bob@example.org"], T0, subject="Invoice 42")
    await attempt(db, ids["other"], RecipientState.SENT, T0 + 20 * minute)
    return ids, acme, other


async def test_every_status_is_told_from_states_and_events(db: Database) -> None:
    ids, acme, _ = await mailbox(db)
    found = {m.id: m.status for m in await everything(db, acme.id)}
    assert found == {ids[name]: MessageOutcome(name) for name in ids if name != "other"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"sender": "NEWS@example"}, {"queued"}),
        ({"sender": "shop.example"}, {"failed"}),
        ({"recipient": "EXAMPLE.NET"}, {"queued", "deferred"}),
        ({"recipient": "bob@"}, {"delivered"}),
        ({"subject": "invoice"}, {"delivered"}),
        ({"subject": "café"}, {"queued"}),
        ({"subject": "invoice%"}, set()),
        ({"status": MessageOutcome.BOUNCED}, {"bounced"}),
        ({"status": MessageOutcome.DEFERRED}, {"deferred"}),
        ({"status": MessageOutcome.QUEUED}, {"queued"}),
        ({"status": MessageOutcome.SENT}, {"sent"}),
        ({"since": T0 + timedelta(minutes=6)}, {"suppressed", "sent"}),
        ({"until": T0 + timedelta(minutes=2)}, {"queued", "deferred"}),
        ({"since": T0 + timedelta(minutes=1), "until": T0 + timedelta(minutes=2)}, {"deferred"}),
        ({"queue_id": "ALL"}, {"bounced"}),
        ({"ses_message_id": "ALL"}, {"complained"}),
        ({"recipient": "example.org", "status": MessageOutcome.FAILED}, {"failed"}),
    ],
)
async def test_each_filter_finds_its_messages(
    db: Database, filters: dict[str, Any], expected: set[str]
) -> None:
    ids, acme, _ = await mailbox(db)
    filters = dict(filters)
    if filters.get("queue_id") == "ALL":
        filters["queue_id"] = ids["bounced"]
    if filters.get("ses_message_id") == "ALL":
        filters["ses_message_id"] = f"ses-{ids['complained']}"
    found = {m.id for m in await everything(db, acme.id, **filters)}
    assert found == {ids[name] for name in expected}


async def test_a_summary_names_the_first_recipients_and_counts_them_all(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    many = [f"r{i}@example.org" for i in range(7)]
    queue_id = await queued(db, acme.id, many, T0, subject="Hello", mail_from="app@example.com")
    [summary], cursor = await search_messages(db, SEALER, acme.id)
    assert cursor is None
    assert summary.id == queue_id
    assert (summary.tenant, summary.mail_from, summary.subject) == (
        "acme",
        "app@example.com",
        "Hello",
    )
    assert summary.recipient_count == 7
    assert summary.recipients == tuple(many[:3])
    assert (summary.created_at, summary.completed_at) == (T0, None)
    assert summary.size > 0


async def test_pages_cover_every_message_once_newest_first(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    # several messages share a time: the id breaks the tie
    made = [await queued(db, acme.id, at=T0 + timedelta(seconds=i // 3)) for i in range(11)]
    pages = []
    found, cursor = await search_messages(db, SEALER, acme.id, limit=4)
    pages.append(found)
    while cursor is not None:
        found, cursor = await search_messages(db, SEALER, acme.id, limit=4, cursor=cursor)
        pages.append(found)
    assert [len(p) for p in pages] == [4, 4, 3]
    listed = [m.id for p in pages for m in p]
    assert sorted(listed) == sorted(made)
    keys = [(m.created_at, m.id) for p in pages for m in p]
    assert keys == sorted(keys, reverse=True)


async def test_a_page_that_ends_exactly_has_no_next_cursor(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    for i in range(4):
        await queued(db, acme.id, at=T0 + timedelta(seconds=i))
    first, cursor = await search_messages(db, SEALER, acme.id, limit=2)
    assert cursor is not None
    second, cursor = await search_messages(db, SEALER, acme.id, limit=2, cursor=cursor)
    assert cursor is None
    assert len({m.id for m in first + second}) == 4


@pytest.mark.parametrize(
    "cursor", ["nonsense", "", "WyJ4IiwxXQ", "WyIyMDI2LTExLTIwVDA5OjAwOjAwIiwiYSJd"]
)
async def test_a_bad_cursor_is_invalid_input(db: Database, cursor: str) -> None:
    # "WyJ4IiwxXQ" is ["x",1]; the last is a time without a zone
    with pytest.raises(InvalidInputError):
        await search_messages(db, SEALER, None, cursor=cursor)


async def test_a_cursor_of_another_listing_is_invalid_input(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    queue_id = await queued(db, acme.id, ["a@example.org", "b@example.org"], at=T0)
    await attempt(db, queue_id, RecipientState.SENT, T0)
    for address in ("a@example.org", "b@example.org"):
        await event(db, acme.id, queue_id, address, EventKind.DELIVERY, T0)
    _, event_cursor = await event_store.page_events(db, acme.id, limit=1)
    assert event_cursor is not None
    with pytest.raises(InvalidInputError):
        await search_messages(
            db, SEALER, acme.id, cursor=event_cursor
        )  # an event id, not a queue id


@pytest.mark.parametrize("limit", [0, -1, 501])
async def test_a_limit_out_of_range_is_invalid_input(db: Database, limit: int) -> None:
    with pytest.raises(InvalidInputError):
        await search_messages(db, SEALER, None, limit=limit)


# -- Tenants ---------------------------------------------------------------------------------


async def test_a_tenant_sees_only_its_own_messages(db: Database) -> None:
    ids, acme, other = await mailbox(db)
    assert {m.id for m in await everything(db, other.id)} == {ids["other"]}
    assert ids["other"] not in {m.id for m in await everything(db, acme.id, subject="Invoice")}
    assert not await everything(db, acme.id, queue_id=ids["other"])
    assert not await everything(db, acme.id, ses_message_id=f"ses-{ids['other']}")
    everyone = {m.id: m.tenant for m in await everything(db, None, subject="Invoice")}
    assert everyone == {ids["delivered"]: "acme", ids["other"]: "other"}


async def test_another_tenants_message_is_not_found_like_a_missing_one(db: Database) -> None:
    ids, acme, other = await mailbox(db)
    with pytest.raises(NotFoundError) as theirs:
        await message_detail(db, SEALER, ids["other"], acme.id)
    with pytest.raises(NotFoundError) as missing:
        await message_detail(db, SEALER, "0000000000000000000000", acme.id)
    assert str(theirs.value).replace(ids["other"], "X") == str(missing.value).replace(
        "0000000000000000000000", "X"
    )
    assert (await message_detail(db, SEALER, ids["other"], other.id)).message.tenant == "other"
    assert (await message_detail(db, SEALER, ids["other"], None)).message.tenant == "other"


# -- One message -----------------------------------------------------------------------------


async def test_the_timeline_puts_each_recipients_steps_in_order(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    minute = timedelta(minutes=1)
    queue_id = await queued(
        db,
        acme.id,
        ["alice@example.org", "bob@example.org"],
        T0,
        data=b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nX-Folded: one\r\n two\r\n\r\nsecret body\r\n",
        subject="Café",
    )
    await attempt(
        db,
        queue_id,
        {"alice@example.org": RecipientState.SENT, "bob@example.org": RecipientState.DEFERRED},
        T0 + minute,
        "Throttling",
    )
    await event(
        db,
        acme.id,
        queue_id,
        "alice@example.org",
        EventKind.CLICK,
        T0 + 9 * minute,
        detail="https://shop.example/",
    )
    await event(
        db,
        acme.id,
        queue_id,
        "alice@example.org",
        EventKind.DELIVERY,
        T0 + 2 * minute,
        smtp_response="250 ok",
    )
    await event(db, acme.id, queue_id, "alice@example.org", EventKind.OPEN, T0 + 5 * minute)

    detail = await message_detail(db, SEALER, queue_id, acme.id)
    assert detail.status is MessageOutcome.DEFERRED
    assert detail.message.subject == "Café"
    assert detail.headers == (("Subject", "=?utf-8?q?Caf=C3=A9?="), ("X-Folded", "one two"))
    alice, bob = detail.recipients
    assert [(e.kind, e.at - T0) for e in alice.timeline] == [
        ("queued", timedelta(0)),
        ("sent", minute),
        ("delivery", 2 * minute),
        ("open", 5 * minute),
        ("click", 9 * minute),
    ]
    assert f"ses-{queue_id}" in alice.timeline[1].detail
    assert alice.timeline[2].detail == "250 ok"
    assert alice.timeline[4].detail == "https://shop.example/"
    assert (alice.report.outcome, alice.report.opens, alice.report.clicks) == ("delivered", 1, 1)
    assert [e.kind for e in bob.timeline] == ["queued", "deferred"]
    assert "Throttling" in bob.timeline[1].detail
    assert "next attempt at" in bob.timeline[1].detail
    assert [e.kind for e in detail.events] == ["delivery", "open", "click"]


async def test_an_auto_reply_after_a_delivery_is_not_a_bounce(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    minute = timedelta(minutes=1)
    addresses = ["away@example.org", "gone@example.org", "late@example.org"]
    queue_id = await queued(db, acme.id, addresses, T0)
    await attempt(db, queue_id, dict.fromkeys(addresses, RecipientState.SENT), T0 + minute)
    await event(db, acme.id, queue_id, "away@example.org", EventKind.SEND, T0 + minute)
    await event(db, acme.id, queue_id, "away@example.org", EventKind.DELIVERY, T0 + 2 * minute)
    transient = {"bounce_type": "Transient", "subtype": "General"}
    await event(
        db, acme.id, queue_id, "away@example.org", EventKind.BOUNCE, T0 + 3 * minute, **transient
    )
    permanent = {"bounce_type": "Permanent", "subtype": "General", "status": "5.1.1"}
    await event(
        db, acme.id, queue_id, "gone@example.org", EventKind.BOUNCE, T0 + 2 * minute, **permanent
    )
    await event(
        db, acme.id, queue_id, "late@example.org", EventKind.DELIVERY_DELAY, T0 + 2 * minute
    )

    away, gone, late = (await message_detail(db, SEALER, queue_id, acme.id)).recipients
    assert [e.kind for e in away.timeline] == ["queued", "sent", "send", "delivery", "auto-reply"]
    assert away.timeline[2].detail == "SES took the message in and will try to deliver it"
    assert "automatic answer" in away.timeline[4].detail
    assert "Transient/General" in away.timeline[4].detail
    assert (away.outcome, gone.outcome, late.outcome) == ("delivered", "bounced", "deferred")
    assert [e.kind for e in gone.timeline][-1] == "bounce"


async def refusal(
    db: Database, tenant_id: int, recipient: str, at: datetime, **fields: Any
) -> None:
    record = {
        "tenant_id": tenant_id,
        "credential_id": None,
        "rule": "suppressed",
        "sender": "demo@example.com",
        "recipient": recipient,
        "client_address": "127.0.0.1",
        "reply": f"550 5.1.1 <{recipient}> is suppressed",
        "created_at": at,
    }
    await record_refusals(db, [RefusalRecord(**(record | fields))])


async def test_recipients_refused_in_the_transaction_are_shown(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    other = await new_tenant(db, "other")
    second = timedelta(seconds=1)
    earlier = await queued(db, acme.id, ["a@example.org"], T0)
    await refusal(db, acme.id, "before@example.org", T0 - second)  # the earlier transaction's
    await refusal(db, acme.id, "refused@example.org", T0 + 5 * second)
    await refusal(db, acme.id, "a@example.org", T0 + 6 * second)  # refused, then accepted
    await refusal(db, acme.id, "elsewhere@example.org", T0 + 6 * second, client_address="::1")
    await refusal(db, acme.id, "sender@example.org", T0 + 6 * second, sender="x@example.com")
    await refusal(db, other.id, "theirs@example.org", T0 + 6 * second)
    await refusal(db, acme.id, "after@example.org", T0 + 20 * second)  # the next transaction's
    queue_id = await queued(db, acme.id, ["a@example.org"], T0 + 10 * second)

    [refused] = (await message_detail(db, SEALER, queue_id, acme.id)).refused
    assert (refused.address, refused.rule) == ("refused@example.org", "suppressed")
    assert refused.reply == "550 5.1.1 <refused@example.org> is suppressed"
    assert refused.at == T0 + 5 * second
    assert [r.address for r in (await message_detail(db, SEALER, earlier, None)).refused] == [
        "before@example.org"
    ]


async def test_headers_of_a_message_spooled_before_they_were_kept_come_from_its_body(
    db: Database,
) -> None:
    acme = await new_tenant(db, "acme")
    message = new_message(acme.id, ["x@example.org"], T0, header_size=0)
    await queue.insert_messages(db, SEALER, [message])
    assert (await message_detail(db, SEALER, message.id, None)).headers == (("Subject", "t"),)
    await attempt(db, message.id, RecipientState.FAILED, T0, "MessageRejected: no")
    assert (await message_detail(db, SEALER, message.id, None)).headers is None


async def test_headers_stay_once_the_body_is_deleted(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    queue_id = await queued(db, acme.id, ["x@example.org"], at=T0)
    assert (await message_detail(db, SEALER, queue_id, None)).headers == (("Subject", "t"),)
    await attempt(db, queue_id, RecipientState.FAILED, T0, "MessageRejected: no")
    detail = await message_detail(db, SEALER, queue_id, None)
    assert detail.headers == (("Subject", "t"),)
    assert detail.status is MessageOutcome.FAILED
    [recipient] = detail.recipients
    assert [(e.kind, e.detail) for e in recipient.timeline] == [
        ("queued", "from demo@example.com"),
        ("failed", "MessageRejected: no"),
    ]


async def test_addresses_ses_named_apart_from_the_recipients_are_strangers(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    queue_id = await queued(db, acme.id, ["a@example.org"], at=T0)
    await attempt(db, queue_id, RecipientState.SENT, T0)
    stranger = NewRecipientEvent("z@example.org", EventKind.BOUNCE, T0, None, EventFact())
    stored = NewEvent(
        sns_message_id="sns-stranger",
        topic_arn="arn",
        kind=EventKind.BOUNCE,
        ses_type="Bounce",
        ses_message_id=f"ses-{queue_id}",
        tenant_id=acme.id,
        queue_id=queue_id,
        occurred_at=T0,
        received_at=T0,
        note="",
        payload="{}",
    )
    await event_store.insert_event(db, stored, [stranger])
    detail = await message_detail(db, SEALER, queue_id, acme.id)
    assert [r.address for r in detail.strangers] == ["z@example.org"]
    assert [e.kind for e in detail.recipients[0].timeline] == ["queued", "sent"]


# -- The subject -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "subject"),
    [
        (b"Subject: Hello\r\n", "Hello"),
        (b"Subject: =?utf-8?q?Caf=C3=A9?= au lait\r\n", "Café au lait"),
        (b"SUBJECT: =?UTF-8?B?5pel5pys6Kqe?=\r\n =?UTF-8?B?44Gu5Lu25ZCN?=\r\n", "日本語の件名"),
        (b"Subject: =?iso-8859-1?q?=E9t=E9?=\r\n", "été"),
        (b"Subject: a\r\n\tfolded line\r\n", "a\tfolded line"),
        (b"Subject: =?bogus?q?x?= stays\r\n", "=?bogus?q?x?= stays"),
        (b"Subject: caf\xc3\xa9 raw\r\n", "café raw"),
        (b"X-Other: 1\r\n", ""),
        (b"Subject: " + b"x" * 2000 + b"\r\n", "x" * 998),
    ],
)
def test_the_subject_is_decoded_for_display(field: bytes, subject: str) -> None:
    assert header_subject(read_header(field + b"\r\nbody\r\n")) == subject


async def test_a_subject_submitted_over_smtp_is_stored_decoded(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    username, password = await gateway.credential()
    data = b"From: demo@example.com\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?= attached\r\n\r\nhi\r\n"
    await asyncio.to_thread(submit, gateway.port, username, password, data=data)
    [found], _ = await search_messages(gateway.db, gateway.sealer, None, subject="sum")
    assert found.subject == "Résumé attached"
    assert found.status is MessageOutcome.QUEUED


async def test_a_subject_search_looks_at_a_bounded_number_of_messages_per_page(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subjects are sealed: they are matched after decryption, `SUBJECT_SCAN` messages a page
    at most; a page can then come back empty with a cursor that goes on from there."""
    monkeypatch.setattr(messages, "SUBJECT_SCAN", 3)
    acme = await accounts.create_tenant(db, "acme")
    needle = await queued(db, acme.id, at=T0, subject="The Needle")
    for minutes in range(1, 5):
        await queued(db, acme.id, at=T0 + timedelta(minutes=minutes), subject=f"hay {minutes}")

    found, cursor = await search_messages(db, SEALER, acme.id, subject="nEEdle", limit=10)
    assert (found, cursor is not None) == ([], True)
    found, cursor = await search_messages(
        db, SEALER, acme.id, subject="nEEdle", limit=10, cursor=cursor
    )
    assert ([m.id for m in found], cursor) == ([needle], None)
    found, cursor = await search_messages(db, SEALER, acme.id, subject="hay", limit=1)
    assert [m.subject for m in found] == ["hay 4"]  # a full page: the next starts after it
    found, _ = await search_messages(db, SEALER, acme.id, subject="hay", limit=2, cursor=cursor)
    assert [m.subject for m in found] == ["hay 3", "hay 2"]


# -- Events, paged ---------------------------------------------------------------------------


async def test_events_page_by_cursor_with_every_filter(db: Database) -> None:
    acme, other = await new_tenant(db, "acme"), await new_tenant(db, "other")
    first = await queued(db, acme.id, ["a@example.org", "b@example.org"], at=T0)
    await attempt(db, first, RecipientState.SENT, T0)
    second = await queued(db, acme.id, ["a@example.org"], at=T0 + timedelta(seconds=1))
    await attempt(db, second, RecipientState.SENT, T0)
    theirs = await queued(db, other.id, ["a@example.org"], at=T0)
    await attempt(db, theirs, RecipientState.SENT, T0)
    for i in range(5):  # two events at each time: the id breaks the tie
        at = T0 + timedelta(minutes=i // 2)
        await event(db, acme.id, first, "a@example.org", EventKind.OPEN, at)
        await event(db, acme.id, second, "a@example.org", EventKind.CLICK, at)
    await event(db, acme.id, first, "b@example.org", EventKind.DELIVERY, T0)
    await event(db, other.id, theirs, "a@example.org", EventKind.OPEN, T0)

    async def pages(**filters: Any) -> list[int]:
        found, cursor = await event_store.page_events(db, acme.id, limit=3, **filters)
        while cursor is not None:
            more, cursor = await event_store.page_events(
                db, acme.id, limit=3, cursor=cursor, **filters
            )
            found += more
        keys = [(e.occurred_at, e.id) for e in found]
        assert keys == sorted(keys, reverse=True)
        assert {e.tenant for e in found} == {"acme"}
        return [e.id for e in found]

    everything_of_acme = await pages()
    assert len(everything_of_acme) == len(set(everything_of_acme)) == 11
    assert everything_of_acme == [
        e.id for e in await event_store.list_events(db, acme.id, limit=100)
    ]
    assert len(await pages(queue_id=second)) == 5
    assert len(await pages(kinds=[EventKind.OPEN, EventKind.DELIVERY])) == 6
    assert len(await pages(address="b@example.org")) == 1
    assert len(await pages(since=T0 + timedelta(minutes=1))) == 6
    assert len(await pages(until=T0 + timedelta(minutes=1))) == 5
    assert len(await event_store.list_events(db, acme.id, queue_id=second, limit=2)) == 2
