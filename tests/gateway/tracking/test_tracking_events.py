"""Recording tracking hits: people's events as events of the recipient, machines' apart,
addresses anonymized, an unsubscribe suppressing for the tenant and unsubscribing its contacts of
the address (and published once), and the events purged with the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import Settings
from gateway.core.types.events import EventKind
from gateway.core.types.messages import JobResult, RecipientOutcome, RecipientState
from gateway.identity import accounts
from gateway.runtime.housekeeping import tidy
from gateway.storage import contacts as contact_store
from gateway.storage import events as event_store
from gateway.storage import queue, tenants
from gateway.storage import suppressions as suppression_store
from gateway.storage import tracking as store
from gateway.storage.database import Database
from gateway.storage.models import TrackingEvent, WebhookDelivery
from gateway.tracking.events import Hit, anonymize, machine_reason, record
from gateway.tracking.tokens import LinkKind, Token
from gateway.webhooks import manage
from tests.support.messages import SEALER, new_message

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOST = "track.example.com"


@pytest.mark.parametrize(
    ("address", "anonymized"),
    [
        ("198.51.100.77", "198.51.100.0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::"),
        ("not an address", ""),
    ],
)
def test_client_addresses_are_anonymized(address: str, anonymized: str) -> None:
    assert anonymize(address) == anonymized


@pytest.mark.parametrize(
    ("kind", "agent", "after", "reason"),
    [
        (EventKind.OPEN, "Mozilla/5.0", 3600, "apple-mpp"),
        (EventKind.OPEN, "Mozilla/5.0 (Macintosh) AppleWebKit/605", 3600, None),
        (EventKind.CLICK, "Mozilla/5.0 (Windows NT 10.0)", 2, "scanner"),
        (EventKind.OPEN, "Thunderbird/128", 2, "scanner"),
        (EventKind.CLICK, "Mozilla/5.0 (Windows NT 10.0)", 30, None),
        (EventKind.UNSUBSCRIBE, "Mozilla/5.0", 1, None),
    ],
)
def test_machine_events_are_told_apart(
    kind: EventKind, agent: str, after: float, reason: str | None
) -> None:
    assert machine_reason(kind, agent, NOW, NOW + timedelta(seconds=after), 10) == reason


async def sent_message(db: Database) -> tuple[str, int]:
    tenant = await accounts.create_tenant(db, "acme")
    message = new_message(tenant.id, ["Alice@Example.org"], NOW, id="q1")
    await queue.insert_messages(db, SEALER, [message])
    [job] = await queue.claim(db, SEALER, "test", 1, NOW, NOW + timedelta(minutes=1))
    rid = job.recipients[0].id
    outcome = RecipientOutcome(rid, RecipientState.SENT, "ses-1")
    await queue.record(db, [JobResult("q1", (outcome,), None, NOW)], keep_bodies=False)
    return "q1", rid


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path, "tracking_scanner_window": 0}
    return Settings(**(values | overrides))  # type: ignore[arg-type]


async def test_a_persons_click_is_an_event_of_the_recipient(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    token = Token(LinkKind.CLICK, queue_id, rid, HOST, "https://shop.example/")
    done = await record(db, settings(tmp_path), Hit(token, NOW, "Thunderbird", "198.51.100.77"))
    assert done is not None
    assert (done.queue_id, done.recipient_id) == (queue_id, rid)
    report = await event_store.events_for_message(db, queue_id)
    assert (report.recipients[0].clicks, report.recipients[0].clicked_at) == (1, NOW)
    assert report.events[0].detail == "https://shop.example/"
    [row] = await store.message_tracking(db, queue_id)
    assert (row.clicks, row.first_click_at, row.machine_clicks) == (1, NOW, 0)


async def test_machine_opens_and_clicks_are_counted_apart(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    opened = Token(LinkKind.OPEN, queue_id, rid, HOST)
    clicked = Token(LinkKind.CLICK, queue_id, rid, HOST, "https://shop.example/")
    scanning = settings(tmp_path, tracking_scanner_window=10)
    await record(db, settings(tmp_path), Hit(opened, NOW, "Mozilla/5.0", "17.58.1.2"))
    await record(db, scanning, Hit(clicked, NOW + timedelta(seconds=1), "Scanner/1"))
    await record(db, scanning, Hit(clicked, NOW + timedelta(seconds=2), "Scanner/1"))
    report = await event_store.events_for_message(db, queue_id)
    assert (report.recipients[0].opens, report.recipients[0].clicks) == (0, 0)
    assert await event_store.count_events(db) == {}
    await record(db, settings(tmp_path), Hit(opened, NOW + timedelta(hours=1), "Thunderbird"))
    [row] = await store.message_tracking(db, queue_id)
    assert (row.opens, row.machine_opens, row.clicks, row.machine_clicks) == (1, 1, 0, 2)
    assert row.first_open_at == NOW + timedelta(hours=1)


async def test_the_client_address_is_kept_whole_when_asked(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    token = Token(LinkKind.OPEN, queue_id, rid, HOST)
    for anonymized in (True, False):
        values = settings(tmp_path, tracking_anonymize_ip=anonymized)
        await record(db, values, Hit(token, NOW, "Thunderbird", "198.51.100.77"))
    async with db.read() as conn:
        query = select(TrackingEvent.client_address).order_by(TrackingEvent.id)
        kept = list((await conn.execute(query)).scalars())
    assert kept == ["198.51.100.0", "198.51.100.77"]


async def test_an_unsubscribe_suppresses_for_the_tenant(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    token = Token(LinkKind.UNSUBSCRIBE, queue_id, rid, HOST)
    done = await record(db, settings(tmp_path), Hit(token, NOW, "Mozilla/5.0", "192.0.2.1"))
    assert done is not None
    entry = await suppression_store.get(db, "alice@example.org", done.tenant_id)
    assert entry is not None
    assert entry.reason == "unsubscribe"
    report = await event_store.events_for_message(db, queue_id)
    assert report.recipients[0].unsubscribed_at == NOW


async def test_an_unsubscribe_unsubscribes_the_tenants_contacts_of_the_address(
    db: Database, tmp_path: Path
) -> None:
    queue_id, rid = await sent_message(db)  # tenant acme's, to Alice@Example.org
    acme = (await tenants.get_tenant(db, "acme")).id
    globex = (await accounts.create_tenant(db, "globex")).id
    earlier = NOW - timedelta(days=3)
    lists = {}
    for tenant_id, name in ((acme, "news"), (acme, "offers"), (acme, "other"), (globex, "news")):
        lists[tenant_id, name] = (await contact_store.create_list(db, tenant_id, name, NOW)).id
        address = "bob@example.org" if name == "other" else "alice@example.org"
        await contact_store.add_contact(db, tenant_id, lists[tenant_id, name], address, {}, NOW)
    offers = lists[acme, "offers"]
    await contact_store.update_contact(
        db, offers, "alice@example.org", {}, (earlier, "manual"), earlier
    )
    token = Token(LinkKind.UNSUBSCRIBE, queue_id, rid, HOST)
    await record(db, settings(tmp_path), Hit(token, NOW, "Mozilla/5.0 (X11)"))

    async def shown(key: tuple[int, str], address: str = "alice@example.org") -> tuple[object, ...]:
        found = await contact_store.get_contact(db, lists[key], address, NOW)
        return found.status, found.unsubscribed_at, found.unsubscribed_how

    assert await shown((acme, "news")) == ("unsubscribed", NOW, "link")
    assert await shown((acme, "offers")) == ("unsubscribed", earlier, "manual"), "kept"
    assert await shown((acme, "other"), "bob@example.org") == ("subscribed", None, None)
    assert await shown((globex, "news")) == ("subscribed", None, None)


async def test_only_the_first_unsubscribe_is_published(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    await manage.add(db, b"key", "acme", "https://hooks.example/in", (), allow_private=False)
    token = Token(LinkKind.UNSUBSCRIBE, queue_id, rid, HOST)
    for minutes in range(3):
        hit = Hit(token, NOW + timedelta(minutes=minutes), "Mozilla/5.0 (X11)")
        assert await record(db, settings(tmp_path), hit) is not None
    assert await event_store.count_events(db) == {EventKind.UNSUBSCRIBE: 1}
    async with db.read() as conn:
        queued = select(func.count()).select_from(WebhookDelivery)
        assert (await conn.execute(queued)).scalar_one() == 1
    [row] = await store.message_tracking(db, queue_id)
    assert row.unsubscribed_at == NOW


async def test_an_unknown_recipient_records_nothing(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    token = Token(LinkKind.CLICK, queue_id, rid + 1, HOST, "https://shop.example/")
    assert await record(db, settings(tmp_path), Hit(token, NOW)) is None
    assert await store.message_tracking(db, queue_id) == []


async def test_old_tracking_events_are_purged_hourly(db: Database, tmp_path: Path) -> None:
    queue_id, rid = await sent_message(db)
    token = Token(LinkKind.OPEN, queue_id, rid, HOST)
    values = settings(tmp_path, event_retention_days=30)
    for days in (31, 29):
        await record(db, values, Hit(token, NOW - timedelta(days=days), "Thunderbird"))
    await tidy(db, values, NOW)
    [row] = await store.message_tracking(db, queue_id)
    assert (row.opens, row.first_open_at) == (1, NOW - timedelta(days=29))
