"""SMTP AUTH against a real database: what a login reads and writes, the logins remembered and
when they are forgotten, and lockouts shared by instances."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gateway.core.exceptions import LoginRefused
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import Principal
from gateway.identity import accounts
from gateway.intake.auth import Authenticator, LoginCache
from gateway.runtime.changes import ChangeBus
from gateway.storage import tenants
from gateway.storage.database import Database
from tests.conftest import make_settings

CLIENT = "192.0.2.1"


@contextmanager
def writes(db: Database, reads: bool = False) -> Iterator[list[str]]:
    """The statements other than reads (with `reads`: every statement) sent to the database
    while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if reads or statement.split(None, 1)[0].upper() not in ("SELECT", "PRAGMA"):
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


async def test_a_login_remembered_reads_nothing(db: Database, tmp_path: Path) -> None:
    """A client that logs in for every message costs no database read (nor argon2)."""
    username, password = await credential(db)
    auth = Authenticator(db, make_settings(tmp_path, db.url))
    principal = await auth.authenticate(username, password, CLIENT)
    assert principal is not None
    with writes(db, reads=True) as statements:
        for _ in range(3):
            assert await auth.locked_out(CLIENT) == 0
            assert await auth.authenticate(username, password, CLIENT) == principal
    assert statements == []
    assert await auth.authenticate(username, "wrong", CLIENT) is None  # not remembered
    assert await auth.authenticate(username.upper(), password, CLIENT) is None


async def test_a_credential_revoked_in_this_process_is_refused_at_the_next_login(
    db: Database, tmp_path: Path
) -> None:
    """Told by the change bus at the revoke's commit (on PostgreSQL, every instance is told:
    `test_auth_processes.py`)."""
    username, password = await credential(db)
    auth = Authenticator(db, make_settings(tmp_path, db.url))
    ChangeBus(db).subscribe(auth.heard, *Authenticator.TOPICS)
    principal = await auth.authenticate(username, password, CLIENT)
    assert principal is not None
    assert principal.credential_id is not None
    await tenants.revoke_credential(db, principal.credential_id, accounts.now())
    assert await auth.authenticate(username, password, CLIENT) is None


async def test_a_change_not_heard_is_seen_once_the_login_is_no_longer_remembered(
    db: Database, tmp_path: Path
) -> None:
    """Another process on SQLite (the CLI): within `LOGIN_TTL` (here `AUTH_CACHE_TTL`, shorter)."""
    username, password = await credential(db)
    auth = Authenticator(db, make_settings(tmp_path, db.url, auth_cache_ttl=0.3))
    principal = await auth.authenticate(username, password, CLIENT)
    assert principal is not None
    assert principal.credential_id is not None
    await tenants.revoke_credential(db, principal.credential_id, accounts.now())  # not heard
    assert await auth.authenticate(username, password, CLIENT) == principal
    await asyncio.sleep(0.4)
    assert await auth.authenticate(username, password, CLIENT) is None


def test_a_login_read_before_a_change_is_not_remembered_after_it() -> None:
    """A revoke that commits while a login is being checked (read, then argon2) wins."""
    cache = LoginCache(60)
    login = (Principal(1, "acme", 7, "gw1"), "hash", None)
    generation = cache.generation
    cache.forget(7)  # the change, heard between the read and the end of the check
    cache.put("gw1", "secret", login, generation)
    assert cache.get("gw1", "secret") is None
    cache.put("gw1", "secret", login, cache.generation)
    assert cache.get("gw1", "secret") == login
    cache.forget(8)  # another credential's change
    assert cache.get("gw1", "secret") == login
    cache.forget(7)
    assert cache.get("gw1", "secret") is None


def test_remembered_logins_are_keyed_by_both_names_and_by_nothing_that_can_be_read() -> None:
    cache = LoginCache(60)
    login = (Principal(1, "acme", 7, "ab"), "hash", None)
    cache.put("ab", "c", login, cache.generation)
    assert cache.get("ab", "c") == login
    assert cache.get("a", "bc") is None
    assert cache.get("ab", "C") is None
    assert cache.get("abc", "") is None
    another = LoginCache(60)  # another process: its own key
    another.put("ab", "c", login, another.generation)
    [key] = cache._entries
    [other_key] = another._entries
    assert key != other_key
    secret = "correct horse battery staple"
    cache.put("ab", secret, login, cache.generation)
    assert not any(secret.encode() in key for key in cache._entries)


async def test_a_change_heard_while_the_failures_are_read_is_not_lost(
    db: Database, tmp_path: Path
) -> None:
    """The view read meanwhile may predate the failure told: it is read again at the next
    question, not kept for `SHARED_VIEW_TTL`."""
    auth = Authenticator(db, make_settings(tmp_path, db.url))
    told = Change(Topic.LOGIN, f"smtp {CLIENT} someone")

    def heard_meanwhile(*_: Any) -> None:
        auth.heard(told)

    event.listen(db.engine.sync_engine, "before_cursor_execute", heard_meanwhile)
    try:
        assert await auth.locked_out(CLIENT) == 0
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", heard_meanwhile)
    with writes(db, reads=True) as statements:
        assert await auth.locked_out(CLIENT) == 0
    assert len(statements) == 1, statements


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
