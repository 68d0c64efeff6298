"""The hourly clean-up forgets old failed logins (and old events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.runtime.housekeeping import tidy
from gateway.storage import logins
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
