"""The reputation guard: rates over a tenant's window of sends, warnings and pauses."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from config import Settings
from gateway.core.types.tenants import TenantInfo
from gateway.feedback import reputation
from gateway.feedback.reputation import Level, Thresholds, assess, percent
from gateway.identity import accounts
from gateway.storage import activity, notifications, tenants
from gateway.storage import reputation as reputation_store
from gateway.storage.database import Database
from tests.gateway.feedback.test_events import NOW, ingest, sent_message, tenant
from tests.support.sesevents import bounce, complaint

DEFAULT = Thresholds()


@pytest.mark.parametrize(
    ("sends", "bounces", "complaints", "level"),
    [
        (0, 0, 0, Level.TOO_FEW),
        (99, 50, 5, Level.TOO_FEW),
        (100, 0, 0, Level.OK),
        (100, 1, 0, Level.OK),
        (100, 2, 0, Level.WARN),
        (1000, 49, 0, Level.WARN),
        (100, 5, 0, Level.PAUSE),
        (1000, 53, 0, Level.PAUSE),
        (10000, 4, 0, Level.OK),
        (10000, 0, 5, Level.WARN),
        (10000, 0, 9, Level.WARN),
        (10000, 0, 10, Level.PAUSE),
        (1000, 1, 1, Level.PAUSE),
        (2000, 40, 1, Level.WARN),
    ],
)
def test_assess(sends: int, bounces: int, complaints: int, level: Level) -> None:
    verdict = assess(sends, bounces, complaints, DEFAULT)
    assert verdict.level is level
    assert (verdict.sends, verdict.bounces, verdict.complaints) == (sends, bounces, complaints)


@pytest.mark.parametrize(
    ("sends", "bounces", "complaints", "reason"),
    [
        (1000, 53, 0, "bounce rate 5.3% over the last 1000 sends"),
        (1000, 20, 0, "bounce rate 2% over the last 1000 sends"),
        (1000, 60, 2, "bounce rate 6% and complaint rate 0.2% over the last 1000 sends"),
        (10000, 0, 12, "complaint rate 0.12% over the last 10000 sends"),
        (100, 0, 0, ""),
    ],
)
def test_the_reason_says_what_crossed_the_line(
    sends: int, bounces: int, complaints: int, reason: str
) -> None:
    assert assess(sends, bounces, complaints, DEFAULT).reason == reason


def test_the_minimum_sample_is_a_setting() -> None:
    assert assess(10, 1, 0, Thresholds(min_sends=10)).level is Level.PAUSE


def test_thresholds_from_settings_are_percentages() -> None:
    settings = Settings(reputation_bounce_warn=1, reputation_complaint_pause=0.2)
    thresholds = Thresholds.from_settings(settings)
    assert (thresholds.bounce_warn, thresholds.bounce_pause) == (0.01, 0.05)
    assert thresholds.complaint_pause == pytest.approx(0.002)
    assert thresholds.complaint_warn == pytest.approx(0.0005)
    warn = Thresholds.from_settings(Settings(reputation_complaint_warn=0.02))
    assert warn.complaint_warn == pytest.approx(0.0002)


def test_rates_of_a_verdict() -> None:
    verdict = assess(200, 3, 1, DEFAULT)
    assert (verdict.bounce_rate, verdict.complaint_rate) == (0.015, 0.005)
    nothing = assess(0, 0, 0, DEFAULT)
    assert (nothing.bounce_rate, nothing.complaint_rate) == (0.0, 0.0)  # not a division by 0


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (0.0, "0%"),
        (0.053, "5.3%"),
        (0.05, "5%"),
        (0.0153, "1.5%"),
        (0.0012, "0.12%"),
        (0.001, "0.1%"),
    ],
)
def test_percent(rate: float, text: str) -> None:
    assert percent(rate) == text


async def sends(db: Database, owner: TenantInfo, count: int, hours_ago: float = 1) -> str:
    """`count` recipients of one message accepted by SES; its SES message id."""
    at = NOW - timedelta(hours=hours_ago)
    addresses = [f"r{i}-{hours_ago}@example.org" for i in range(count)]
    _, ses_id = await sent_message(db, owner.id, addresses, at=at)
    return ses_id


async def paused_reason(db: Database, owner: TenantInfo) -> str | None:
    return (await tenants.account(db, owner.id, None)).tenant_paused


async def kinds(db: Database, owner: TenantInfo) -> list[str]:
    return [a.kind for a in await activity.list_activity(db, owner.name)]


async def test_bounces_warn_then_pause_the_tenant(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    actions = []
    for i in range(5):
        result = await ingest(db, bounce(ses_id, f"r{i}-1@example.org"))
        actions.append(result.reputation)

    assert actions == [None, "warned", None, None, "paused"]
    assert await paused_reason(db, owner) == "bounce rate 5% over the last 100 sends"
    assert await kinds(db, owner) == ["tenant.paused", "reputation.warning"]
    [paused, warning] = await activity.list_activity(db, owner.name)
    assert paused.subject == owner.name
    assert paused.detail.startswith("bounce rate 5% over the last 100 sends: 5 bounced (5%)")
    assert warning.detail.startswith("bounce rate 2% over the last 100 sends: 2 bounced (2%)")


async def test_the_warning_and_the_pause_are_logged_as_the_guard_s(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Under the logger operators filter on (docs/operations.md): `gateway.reputation`."""
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    with caplog.at_level(logging.WARNING, logger="gateway.reputation"):
        for i in range(5):
            await ingest(db, bounce(ses_id, f"r{i}-1@example.org"))
    logged = [(r.name, r.getMessage()) for r in caplog.records if r.name.endswith("reputation")]
    assert logged == [
        ("gateway.reputation", "reputation.warning"),
        ("gateway.reputation", "tenant.paused"),
    ]


async def test_the_warning_and_the_pause_are_raised_as_notifications(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    for i in range(5):
        await ingest(db, bounce(ses_id, f"r{i}-1@example.org"))
    raised = await notifications.list_notifications(db, owner.name, unread=True)
    assert [(n.kind, n.subject) for n in raised] == [
        ("tenant.paused", owner.name),
        ("reputation.warning", owner.name),
    ]


async def test_a_complaint_in_a_hundred_sends_pauses(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    result = await ingest(db, complaint(ses_id, "r7-1@example.org"))
    assert result.reputation == "paused"
    assert await paused_reason(db, owner) == "complaint rate 1% over the last 100 sends"


async def test_below_the_minimum_sample_nothing_is_judged(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 99)
    for i in range(20):
        assert (await ingest(db, bounce(ses_id, f"r{i}-1@example.org"))).reputation is None
    assert await paused_reason(db, owner) is None
    assert await kinds(db, owner) == []


async def test_only_the_last_sends_count(db: Database) -> None:
    """Bounces of older sends fall out of a window of the last REPUTATION_WINDOW_SENDS."""
    owner = await tenant(db)
    old = await sends(db, owner, 50, hours_ago=2)
    await sends(db, owner, 100, hours_ago=1)
    settings = Settings(reputation_window_sends=100)
    for i in range(10):
        result = await ingest(db, bounce(old, f"r{i}-2@example.org"), settings)
        assert result.reputation is None
    assert await paused_reason(db, owner) is None
    verdict = (await reputation.check_tenant(db, Settings(), owner.id, NOW)).verdict
    assert (verdict.sends, verdict.bounces, verdict.level) == (150, 10, Level.PAUSE)


async def test_only_the_last_days_count(db: Database) -> None:
    owner = await tenant(db)
    old = await sends(db, owner, 100, hours_ago=8 * 24)
    result = await ingest(db, bounce(old, "r0-192@example.org"))
    assert result.reputation is None
    verdict = (await reputation.check_tenant(db, Settings(), owner.id, NOW)).verdict
    assert (verdict.sends, verdict.level) == (0, Level.TOO_FEW)


async def test_other_tenants_and_suppression_list_bounces_do_not_count(db: Database) -> None:
    owner, other = await tenant(db), await tenant(db)
    ses_id = await sends(db, owner, 100)
    other_id = await sends(db, other, 100)
    for i in range(5):
        await ingest(db, bounce(other_id, f"r{i}-1@example.org"))
        await ingest(
            db, bounce(ses_id, f"r{i}-1@example.org", "Permanent", "OnAccountSuppressionList")
        )
        await ingest(db, bounce(ses_id, f"r{i + 10}-1@example.org", "Transient", "MailboxFull"))
    assert await paused_reason(db, owner) is None
    assert await paused_reason(db, other) is not None


async def test_a_pause_by_the_operator_is_left_alone(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    await accounts.pause_tenant(db, owner.name, "contract ended")
    for i in range(6):
        assert (await ingest(db, bounce(ses_id, f"r{i}-1@example.org"))).reputation is None
    assert await paused_reason(db, owner) == "contract ended"
    assert await kinds(db, owner) == []


async def test_a_resumed_tenant_is_judged_on_its_sends_after_the_pause(db: Database) -> None:
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100, hours_ago=3)
    for i in range(5):
        await ingest(db, bounce(ses_id, f"r{i}-3@example.org"), at=NOW - timedelta(hours=2))
    assert await paused_reason(db, owner) is not None
    await accounts.pause_tenant(db, owner.name, None)

    late = await ingest(db, bounce(ses_id, "r50-3@example.org"))
    assert late.reputation is None
    assert await paused_reason(db, owner) is None

    fresh = await sends(db, owner, 100)
    for i in range(5):
        result = await ingest(db, bounce(fresh, f"r{i}-1@example.org"))
    assert result.reputation == "paused"


async def judged_twice_at_once(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, bounced: int
) -> tuple[TenantInfo, list[str]]:
    """A tenant with `bounced` bounces out of 100 sends, judged by two processes at once (both
    have counted before either acts): the tenant, and the actions the two took."""
    owner = await tenant(db)
    ses_id = await sends(db, owner, 100)
    unjudged = Settings(reputation_min_sends=1000)
    for i in range(bounced):
        await ingest(db, bounce(ses_id, f"r{i}-1@example.org"), unjudged)
    both_counted = asyncio.Barrier(2)
    count = reputation_store.reputation_counts

    async def count_then_wait(*args: Any) -> tuple[int, int, int]:
        counts = await count(*args)
        await both_counted.wait()
        return counts

    monkeypatch.setattr(reputation_store, "reputation_counts", count_then_wait)
    other = Database(database_url)
    try:
        checks = await asyncio.gather(
            reputation.check_tenant(db, Settings(), owner.id, NOW),
            reputation.check_tenant(other, Settings(), owner.id, NOW),
        )
    finally:
        await other.close()
    return owner, sorted(str(c.action) for c in checks)


@pytest.mark.parametrize(
    ("bounced", "action", "kind"),
    [(5, "paused", "tenant.paused"), (3, "warned", "reputation.warning")],
)
async def test_two_processes_judging_at_once_act_once(
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    bounced: int,
    action: str,
    kind: str,
) -> None:
    owner, actions = await judged_twice_at_once(db, database_url, monkeypatch, bounced)
    assert actions == ["None", action]
    assert await kinds(db, owner) == [kind]
    raised = await notifications.list_notifications(db, owner.name, unread=True)
    assert [n.kind for n in raised] == [kind]


async def test_a_tenant_still_over_the_warning_level_is_warned_again_after_a_day(
    db: Database,
) -> None:
    owner = await tenant(db)
    await sends(db, owner, 100)
    check = reputation.check_tenant
    unjudged = Settings(reputation_min_sends=1000)
    ses_id = await sends(db, owner, 100, hours_ago=2)
    for i in range(5):  # 5 bounces in 200 sends: 2.5%
        await ingest(db, bounce(ses_id, f"r{i}-2@example.org"), unjudged)
    assert (await check(db, Settings(), owner.id, NOW)).action == "warned"
    later = NOW + reputation.WARNING_INTERVAL - timedelta(minutes=1)
    assert (await check(db, Settings(), owner.id, later)).action is None
    a_day_later = NOW + timedelta(days=1, minutes=1)
    assert (await check(db, Settings(), owner.id, a_day_later)).action == "warned"
    assert await kinds(db, owner) == ["reputation.warning", "reputation.warning"]


async def test_a_tenant_that_is_gone_is_not_judged(db: Database) -> None:
    """An event may arrive for a tenant id no longer in the database: nothing to judge."""
    owner = await tenant(db)
    await sends(db, owner, 100)
    check = await reputation.check_tenant(db, Settings(), owner.id + 1000, NOW)
    assert check == reputation.Check(reputation.Verdict(Level.TOO_FEW, 0, 0, 0))


async def test_a_paused_tenant_is_not_paused_again(db: Database) -> None:
    owner = await tenant(db)
    await accounts.pause_tenant(db, owner.name, "contract ended")
    assert not await tenants.pause_tenant(db, owner.id, "6%", "tenant.paused", "", "", NOW)
    assert await paused_reason(db, owner) == "contract ended"
    assert await kinds(db, owner) == []
