"""SMTP AUTH against a real database: what a login writes, and lockouts shared by instances."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gateway.core.exceptions import LoginRefused
from gateway.identity import accounts
from gateway.intake.auth import Authenticator
from gateway.storage.database import Database
from tests.conftest import make_settings

CLIENT = "192.0.2.1"


@contextmanager
def writes(db: Database) -> Iterator[list[str]]:
    """The statements other than reads sent to the database while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("SELECT", "PRAGMA"):
            seen.append(" ".join(statement.split()[:3]).upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def credential(db: Database) -> tuple[str, str]:
    await accounts.create_tenant(db, "acme")
    new = await accounts.create_credential(db, "acme")
    return new.credential.username, new.password


async def test_a_right_password_writes_only_its_last_use_once_a_minute(
    db: Database, tmp_path: Path
) -> None:
    username, password = await credential(db)
    auth = Authenticator(db, make_settings(tmp_path, db.url))
    with writes(db) as first:
        assert await auth.authenticate(username, password, CLIENT) is not None
    assert not any("AUTH_FAILURES" in s or "ACTIVITY" in s for s in first), first
    with writes(db) as later:
        for _ in range(3):  # remembered: no argon2, no write, the lockout asked from memory
            assert await auth.locked_out(CLIENT) == 0
            assert await auth.authenticate(username, password, CLIENT) is not None
    assert later == []


async def test_failures_on_one_instance_lock_the_address_out_on_another(
    db: Database, tmp_path: Path
) -> None:
    """Within `shared_ttl` (`SHARED_VIEW_TTL`, 5 s by default) of the failures."""
    username, password = await credential(db)
    settings = make_settings(tmp_path, db.url, auth_max_failures=2)
    one, other = Authenticator(db, settings), Authenticator(db, settings, shared_ttl=0.5)
    assert await other.authenticate(username, password, CLIENT) is not None  # its view: none
    for guess in ("wrong", "also wrong"):
        assert await one.authenticate(username, guess, CLIENT) is None
    assert await one.locked_out(CLIENT) > 0  # at once where they were made
    await asyncio.sleep(0.6)
    assert await other.locked_out(CLIENT) > 0
    with pytest.raises(LoginRefused):
        await other.authenticate(username, password, CLIENT)


async def test_forget_and_clear_read_the_shared_count_at_once(db: Database, tmp_path: Path) -> None:
    username, _ = await credential(db)
    settings = make_settings(tmp_path, db.url, auth_max_failures=1)
    one, other = Authenticator(db, settings), Authenticator(db, settings)
    for client in ("192.0.2.1", "192.0.2.2"):
        assert await other.locked_out(client) == 0
        assert await one.authenticate(username, "wrong", client) is None
        assert await other.locked_out(client) == 0  # its view is 5 s old at most: not yet
    other.throttle.forget(client="192.0.2.1")
    assert await other.locked_out("192.0.2.1") > 0
    assert await other.locked_out("192.0.2.2") == 0
    other.throttle.clear()
    assert await other.locked_out("192.0.2.2") > 0
