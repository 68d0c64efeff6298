"""The hourly clean-up forgets old failed logins, the send API's idempotency keys after a day
(and old events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.identity import accounts
from gateway.runtime.housekeeping import tidy
from gateway.storage import idempotency, logins
from gateway.storage.database import Database
from tests.conftest import make_settings


async def test_old_failed_logins_are_forgotten(db: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db.url, auth_failure_window=600, auth_lockout=900)
    now = datetime.now(UTC)
    await logins.record_failure(db, "192.0.2.1", "old", now - timedelta(hours=2))
    await logins.record_failure(db, "192.0.2.1", "recent", now - timedelta(minutes=5))
    await tidy(db, settings, now)
    count, _ = await logins.failures_since(db, now - timedelta(days=1), client="192.0.2.1")
    assert count == 1


async def test_idempotency_keys_are_forgotten_after_a_day(db: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db.url)
    now = datetime.now(UTC)
    tenant_id = (await accounts.create_tenant(db, "acme")).id
    old, recent = now - timedelta(hours=25), now - timedelta(hours=23)
    for key, at in (("old", old), ("recent", recent)):
        assert await idempotency.take(db, tenant_id, key, "f", at, at - timedelta(days=1)) is None
        await idempotency.keep(db, tenant_id, key, 202, b"{}")
    await tidy(db, settings, now)
    since = now - timedelta(days=7)  # as a request long ago would see them: what is still kept
    assert await idempotency.take(db, tenant_id, "old", "other", now, since) is None
    kept = await idempotency.take(db, tenant_id, "recent", "other", now, since)
    assert kept == idempotency.Taken("f", 202, b"{}", recent)
