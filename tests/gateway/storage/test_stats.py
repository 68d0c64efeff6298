"""Counts per time bucket and in total, the reputation rates and the queue's depth: per tenant
and domain, on both databases."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.core.types.events import EventKind
from gateway.core.types.messages import RecipientState
from gateway.core.types.stats import Counts
from gateway.core.types.tenants import RefusalRecord, TenantInfo
from gateway.storage import queue, stats
from gateway.storage import reputation as reputation_store
from gateway.storage.database import Database
from gateway.storage.refusals import record_refusals
from tests.gateway.storage.test_messages import event, new_tenant
from tests.support.messages import attempt, queued

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


async def traffic(db: Database) -> tuple[TenantInfo, TenantInfo]:
    """Acme sends from example.com in the first hour and from shop.example in the third; the
    second hour is empty. Other sends one message in the first hour."""
    acme, other = await new_tenant(db, "acme"), await new_tenant(db, "other")
    first = await queued(
        db,
        acme.id,
        ["a@example.org", "b@example.org", "c@example.org"],
        T0,
        mail_from="x@example.com",
    )
    await attempt(db, first, RecipientState.SENT, T0 + 5 * MINUTE)
    await event(db, acme.id, first, "a@example.org", EventKind.DELIVERY, T0 + 6 * MINUTE)
    await event(db, acme.id, first, "a@example.org", EventKind.OPEN, T0 + 7 * MINUTE)
    await event(db, acme.id, first, "a@example.org", EventKind.OPEN, T0 + 8 * MINUTE)
    await event(db, acme.id, first, "a@example.org", EventKind.CLICK, T0 + 9 * MINUTE)
    await event(
        db,
        acme.id,
        first,
        "b@example.org",
        EventKind.BOUNCE,
        T0 + 6 * MINUTE,
        bounce_type="Permanent",
    )
    await event(
        db,
        acme.id,
        first,
        "c@example.org",
        EventKind.BOUNCE,
        T0 + 6 * MINUTE,
        bounce_type="Transient",
    )
    await event(db, acme.id, first, "c@example.org", EventKind.DELIVERY_DELAY, T0 + 7 * MINUTE)
    late = await queued(
        db, acme.id, ["d@example.org", "e@example.org"], T0 + 2 * HOUR, mail_from="y@Shop.Example"
    )
    await attempt(db, late, RecipientState.SENT, T0 + 2 * HOUR + MINUTE)
    await event(
        db, acme.id, late, "d@example.org", EventKind.COMPLAINT, T0 + 2 * HOUR + 30 * MINUTE
    )
    await event(db, acme.id, late, "e@example.org", EventKind.DELIVERY, T0 + 3 * HOUR)  # excluded
    theirs = await queued(db, other.id, ["z@example.org"], T0, mail_from="x@example.com")
    await attempt(db, theirs, RecipientState.SENT, T0 + 10 * MINUTE)
    await event(db, other.id, theirs, "z@example.org", EventKind.DELIVERY, T0 + 11 * MINUTE)
    await record_refusals(
        db,
        [
            RefusalRecord(acme.id, None, "rate", "x@example.com", None, "127.0.0.1", "451", at)
            for at in (T0 + MINUTE, T0 + 2 * HOUR + MINUTE)
        ]
        + [RefusalRecord(other.id, None, "rate", None, None, "127.0.0.1", "451", T0)],
    )
    return acme, other


async def test_each_bucket_counts_what_happened_in_it(db: Database) -> None:
    acme, _ = await traffic(db)
    series = await stats.series(db, acme.id, None, T0, T0 + 3 * HOUR, HOUR)
    assert [p.start for p in series.points] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    first, empty, third = (p.counts for p in series.points)
    assert first == Counts(
        sent=3, delivered=1, bounced=1, complained=0, opened=2, clicked=1, rejected=1, deferred=1
    )
    assert empty == Counts()
    assert third == Counts(sent=2, complained=1, rejected=1)


async def test_totals_are_the_sums_of_the_series(db: Database) -> None:
    acme, _ = await traffic(db)
    for tenant_id, domain in ((acme.id, None), (None, None), (None, "example.com")):
        series = await stats.series(db, tenant_id, domain, T0, T0 + 4 * HOUR, 30 * MINUTE)
        totals = await stats.totals(db, tenant_id, domain, T0, T0 + 4 * HOUR)
        rows = [astuple(p.counts) for p in series.points]
        sums = [sum(column) for column in zip(*rows, strict=True)]
        assert list(astuple(totals)) == sums
        assert any(sums)


async def test_every_tenant_together_and_by_domain(db: Database) -> None:
    await traffic(db)
    everyone = await stats.totals(db, None, None, T0, T0 + 3 * HOUR)
    assert (everyone.sent, everyone.delivered, everyone.rejected) == (6, 2, 3)
    shop = await stats.totals(db, None, "SHOP.example", T0, T0 + 3 * HOUR)
    assert shop == Counts(sent=2, complained=1)
    example = await stats.totals(db, None, "example.com", T0, T0 + 3 * HOUR)
    assert (example.sent, example.delivered, example.bounced, example.rejected) == (4, 2, 1, 2)
    assert await stats.totals(db, None, "sub.example.com", T0, T0 + 3 * HOUR) == Counts()


async def test_bucket_edges_belong_to_the_later_bucket(db: Database) -> None:
    acme, _ = await traffic(db)
    series = await stats.series(db, acme.id, None, T0, T0 + 6 * MINUTE, 5 * MINUTE)
    assert [p.counts.sent for p in series.points] == [0, 3]  # sent at exactly T0 + 5 minutes
    assert series.points[1].counts.delivered == 0  # at T0 + 6 minutes: `until` is excluded


async def test_a_start_between_seconds_is_taken_to_the_second(db: Database) -> None:
    acme, _ = await traffic(db)
    series = await stats.series(
        db, acme.id, None, T0 + timedelta(microseconds=500), T0 + HOUR, HOUR
    )
    assert series.since == T0
    assert series.points[0].counts.rejected == 1


@pytest.mark.parametrize(
    ("since", "until", "bucket"),
    [
        (T0, T0 + HOUR, timedelta(0)),
        (T0, T0 + HOUR, timedelta(seconds=1.5)),
        (T0, T0 + 2000 * MINUTE, MINUTE),
        (T0, T0, MINUTE),
        (T0.replace(tzinfo=None), T0 + HOUR, MINUTE),
    ],
)
async def test_a_bad_span_or_bucket_is_invalid_input(
    db: Database, since: datetime, until: datetime, bucket: timedelta
) -> None:
    with pytest.raises(InvalidInputError):
        await stats.series(db, None, None, since, until, bucket)


async def test_rates_are_the_reputation_guards_counts(db: Database) -> None:
    acme, other = await traffic(db)
    since = T0 - HOUR
    rates = await stats.rates(db, acme.id, since, 1000)
    assert (rates.sends, rates.bounced, rates.complained) == (5, 1, 1)
    assert (rates.bounce_rate, rates.complaint_rate) == (0.2, 0.2)
    assert astuple(rates) == await reputation_store.reputation_counts(db, acme.id, since, 1000)
    everyone = await stats.rates(db, None, since, 1000)
    assert (everyone.sends, everyone.bounced, everyone.complained) == (6, 1, 1)
    window = await stats.rates(db, None, since, 2)  # the two latest sends: acme's second message
    assert (window.sends, window.bounced, window.complained) == (2, 0, 1)
    assert (await stats.rates(db, other.id, T0 + HOUR, 1000)).bounce_rate == 0.0


async def test_queue_depth_per_tenant(db: Database) -> None:
    acme, other = await new_tenant(db, "acme"), await new_tenant(db, "other")
    assert await queue.pending_summary(db, acme.id) == (0, None)
    await queued(db, acme.id, at=T0 + MINUTE)
    await queued(db, acme.id, at=T0 + 2 * MINUTE)
    done = await queued(db, acme.id, at=T0)
    await attempt(db, done, RecipientState.SENT, T0)
    await queued(db, other.id, at=T0 - HOUR)
    assert await queue.pending_summary(db, acme.id) == (2, T0 + MINUTE)
    assert await queue.pending_summary(db) == (3, T0 - HOUR)


async def test_a_scheduled_message_is_not_late_before_its_time(db: Database) -> None:
    acme = await new_tenant(db, "acme")
    await queued(db, acme.id, at=T0 - 2 * HOUR, not_before=T0 + HOUR)
    assert await queue.pending_summary(db, acme.id, now=T0) == (1, None)
    assert await queue.pending_summary(db, acme.id, now=T0 + 2 * HOUR) == (1, T0 + HOUR)
    await queued(db, acme.id, at=T0)
    assert await queue.pending_summary(db, acme.id, now=T0) == (2, T0)
