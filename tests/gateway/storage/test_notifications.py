"""Notifications: raised with their activity event, listed, counted and marked read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from gateway.core.exceptions import NotFoundError
from gateway.storage import notifications
from gateway.storage.activity import list_activity, record_activity
from gateway.storage.database import Database
from gateway.storage.models import Activity
from gateway.storage.tenants import create_tenant

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


async def raise_three(db: Database) -> None:
    """acme's warning, then a notification of no tenant, then beta's pause; and plain events."""
    acme = (await create_tenant(db, "acme", NOW)).id
    beta = (await create_tenant(db, "beta", NOW)).id
    await record_activity(db, acme, "reputation.warning", "acme", "2% bounced", NOW, notify=True)
    await record_activity(db, acme, "domain.added", "example.com", "registered", NOW)
    await record_activity(db, None, "sns.unsubscribed", "arn:topic", "gone", NOW, notify=True)
    await record_activity(db, beta, "tenant.paused", "beta", "5% bounced", NOW, notify=True)


async def test_only_events_raised_with_notify_are_notifications(db: Database) -> None:
    await raise_three(db)
    assert len(await list_activity(db)) == 4
    found = await notifications.list_notifications(db)
    assert [(n.tenant, n.kind, n.subject) for n in found] == [
        ("beta", "tenant.paused", "beta"),
        (None, "sns.unsubscribed", "arn:topic"),
        ("acme", "reputation.warning", "acme"),
    ]
    pause = found[0]
    assert (pause.detail, pause.created_at, pause.read_at) == ("5% bounced", NOW, None)
    assert pause.activity_id == (await list_activity(db, "beta"))[0].id


async def test_list_filters_by_tenant_unread_and_limit(db: Database) -> None:
    await raise_three(db)
    [acme] = await notifications.list_notifications(db, tenant="acme")
    assert acme.kind == "reputation.warning"
    await notifications.mark_read(db, acme.id, LATER)
    unread = await notifications.list_notifications(db, unread=True)
    assert [n.kind for n in unread] == ["tenant.paused", "sns.unsubscribed"]
    assert await notifications.list_notifications(db, tenant="acme", unread=True) == []
    assert len(await notifications.list_notifications(db, limit=1)) == 1


async def test_unread_count(db: Database) -> None:
    assert await notifications.unread_count(db) == 0
    await raise_three(db)
    assert await notifications.unread_count(db) == 3
    assert await notifications.unread_count(db, "acme") == 1
    [newest, *_] = await notifications.list_notifications(db)
    await notifications.mark_read(db, newest.id, LATER)
    assert await notifications.unread_count(db) == 2
    assert await notifications.unread_count(db, "beta") == 0


async def test_mark_read_keeps_the_first_time_and_refuses_an_unknown_id(db: Database) -> None:
    await raise_three(db)
    [newest, *_] = await notifications.list_notifications(db)
    read = await notifications.mark_read(db, newest.id, LATER)
    assert (read.id, read.kind, read.read_at) == (newest.id, "tenant.paused", LATER)
    again = await notifications.mark_read(db, newest.id, LATER + timedelta(hours=1))
    assert again.read_at == LATER
    with pytest.raises(NotFoundError, match="no notification 999"):
        await notifications.mark_read(db, 999, LATER)


async def test_mark_all_read_of_one_tenant_or_of_all(db: Database) -> None:
    await raise_three(db)
    assert await notifications.mark_all_read(db, LATER, "acme") == 1
    assert await notifications.unread_count(db) == 2
    assert await notifications.mark_all_read(db, LATER) == 2
    assert await notifications.mark_all_read(db, LATER) == 0
    found = await notifications.list_notifications(db)
    assert {n.read_at for n in found} == {LATER}


async def test_deleting_the_event_deletes_its_notification(db: Database) -> None:
    await raise_three(db)
    async with db.begin() as conn:
        await conn.execute(delete(Activity).where(Activity.kind == "sns.unsubscribed"))
    assert [n.kind for n in await notifications.list_notifications(db)] == [
        "tenant.paused",
        "reputation.warning",
    ]
