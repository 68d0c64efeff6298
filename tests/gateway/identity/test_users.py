"""Users and API keys on both databases: sign-in, throttling, sessions, key checks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.core.exceptions import InvalidInputError, LoginRefused
from gateway.identity import apikeys, users
from gateway.identity.accounts import create_tenant, now
from gateway.storage import apikeys as key_store
from gateway.storage import users as user_store
from gateway.storage.database import Database
from tests.conftest import make_settings

PASSWORD = "long enough password"


async def test_a_user_signs_in_with_any_case_of_the_email(db: Database, tmp_path: Path) -> None:
    await create_tenant(db, "acme")
    new = await users.create_user(db, "Ops@Acme.test", "owner", "acme", PASSWORD)
    assert new.password is None
    logins = users.Logins(db, make_settings(tmp_path, db.url))
    user, key = await logins.login("OPS@acme.test", PASSWORD, "192.0.2.1")
    assert (user.email, user.tenant) == ("ops@acme.test", "acme")
    assert await user_store.session_user(db, user.id, key) is not None
    assert (await user_store.get_user(db, user.id)).last_login_at is not None


async def test_failures_lock_out_the_account_from_every_address(
    db: Database, tmp_path: Path
) -> None:
    await users.create_user(db, "a@acme.test", "admin", None, PASSWORD)
    logins = users.Logins(db, make_settings(tmp_path, db.url, auth_max_failures=3))
    for client in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        with pytest.raises(LoginRefused, match="wrong email or password"):
            await logins.login("a@acme.test", "wrong", client)
    with pytest.raises(LoginRefused, match="too many failed attempts") as refused:
        await logins.login("a@acme.test", PASSWORD, "192.0.2.9")
    assert refused.value.retry_after > 0


async def test_failures_lock_out_the_address_for_every_account(
    db: Database, tmp_path: Path
) -> None:
    await users.create_user(db, "a@acme.test", "admin", None, PASSWORD)
    logins = users.Logins(db, make_settings(tmp_path, db.url, auth_max_failures=2))
    for email in ("x@acme.test", "y@acme.test"):
        with pytest.raises(LoginRefused):
            await logins.login(email, PASSWORD, "192.0.2.1")
    with pytest.raises(LoginRefused, match="too many"):
        await logins.login("a@acme.test", PASSWORD, "192.0.2.1")
    assert await logins.login("a@acme.test", PASSWORD, "192.0.2.2")


async def test_a_password_change_replaces_the_session_key(db: Database, tmp_path: Path) -> None:
    await users.create_user(db, "a@acme.test", "admin", None, PASSWORD)
    logins = users.Logins(db, make_settings(tmp_path, db.url))
    user, old_key = await logins.login("a@acme.test", PASSWORD, "192.0.2.1")
    with pytest.raises(InvalidInputError) as wrong:
        await logins.change_password(user, "not it", "another long password", "192.0.2.1")
    assert wrong.value.field == "current_password"
    with pytest.raises(InvalidInputError) as short:
        await logins.change_password(user, PASSWORD, "short", "192.0.2.1")
    assert short.value.field == "new_password"
    key = await logins.change_password(user, PASSWORD, "another long password", "192.0.2.1")
    assert await user_store.session_user(db, user.id, old_key) is None
    assert await user_store.session_user(db, user.id, key) == await user_store.get_user(db, user.id)
    assert await logins.login("a@acme.test", "another long password", "192.0.2.1")


async def test_concurrent_guesses_cannot_pass_the_limit(db: Database, tmp_path: Path) -> None:
    await users.create_user(db, "a@acme.test", "admin", None, PASSWORD)
    logins = users.Logins(db, make_settings(tmp_path, db.url, auth_max_failures=3))
    outcomes = await asyncio.gather(
        *(logins.login("a@acme.test", "wrong", f"192.0.2.{n}") for n in range(12)),
        return_exceptions=True,
    )
    checked = [o for o in outcomes if isinstance(o, LoginRefused) and "wrong" in str(o)]
    assert len(checked) <= 3  # the others were refused before their password was checked
    assert all(isinstance(o, LoginRefused) for o in outcomes)


async def test_a_removed_users_id_is_never_given_again(db: Database) -> None:
    first = await users.create_user(db, "a@acme.test", "admin", None, PASSWORD)
    await user_store.delete_user(db, first.user.id)
    second = await users.create_user(db, "b@acme.test", "admin", None, PASSWORD)
    assert second.user.id != first.user.id


async def test_an_api_key_is_checked_and_refused_once_revoked(db: Database, tmp_path: Path) -> None:
    await create_tenant(db, "acme")
    new = await apikeys.create_api_key(db, "acme", "deploys")
    keys = apikeys.ApiKeys(db, make_settings(tmp_path, db.url))
    found = await keys.authenticate(new.key, "192.0.2.1")
    assert found is not None
    assert (found.tenant, found.description) == ("acme", "deploys")
    assert (await key_store.get_key(db, found.id)).last_used_at is not None
    assert await keys.authenticate(new.key + "x", "192.0.2.1") is None
    assert await keys.authenticate("sgw_" + new.info.prefix, "192.0.2.1") is None
    assert await keys.authenticate("bearer nonsense", "192.0.2.2") is None
    await key_store.revoke_key(db, found.id, now())
    assert await keys.authenticate(new.key, "192.0.2.3") is None


async def test_bad_keys_lock_out_the_client(db: Database, tmp_path: Path) -> None:
    new = await apikeys.create_api_key(db, None)
    keys = apikeys.ApiKeys(db, make_settings(tmp_path, db.url, auth_max_failures=2))
    for guess in ("sgw_000000000000_x", "sgw_" + new.info.prefix + "_wrong"):
        assert await keys.authenticate(guess, "192.0.2.1") is None
    with pytest.raises(LoginRefused, match="too many bad API keys"):
        await keys.authenticate(new.key, "192.0.2.1")
    assert await keys.authenticate(new.key, "192.0.2.2") is not None


async def test_a_key_is_stored_hashed(db: Database) -> None:
    new = await apikeys.create_api_key(db, None)
    found = await key_store.find_key(db, new.info.prefix)
    assert found is not None
    secret = new.key.split("_", 2)[2]
    assert secret not in found[1]
    assert found[1].startswith("$argon2id$")
