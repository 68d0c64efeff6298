"""Tenants and credentials, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gateway.core.exceptions import ConflictError, InvalidInputError, NotFoundError
from gateway.identity import accounts
from gateway.identity.passwords import verify_password
from gateway.storage import tenants
from gateway.storage.database import Database


async def test_tenant_names_are_unique(db: Database) -> None:
    await accounts.create_tenant(db, "acme")
    with pytest.raises(ConflictError, match="already exists"):
        await accounts.create_tenant(db, "acme")
    assert [t.name for t in await tenants.list_tenants(db)] == ["acme"]


@pytest.mark.parametrize("name", ["", "Acme", "a b", "-x", "x" * 64, "ünï"])
async def test_invalid_tenant_names_are_refused_with_a_reason(db: Database, name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid tenant name"):
        await accounts.create_tenant(db, name)


async def test_credential_stores_only_an_argon2id_hash(db: Database) -> None:
    await accounts.create_tenant(db, "acme")
    new = await accounts.create_credential(db, "acme", "billing app")
    login = await tenants.find_login(db, new.credential.username)
    assert login is not None
    principal, password_hash, last_used = login
    assert password_hash.startswith("$argon2id$")
    assert new.password not in password_hash
    assert verify_password(password_hash, new.password)
    assert principal.tenant_name == "acme"
    assert last_used is None  # never logged in yet
    assert len(new.password) >= 32


async def test_credential_for_unknown_tenant_is_refused(db: Database) -> None:
    with pytest.raises(NotFoundError, match="no tenant named 'ghost'"):
        await accounts.create_credential(db, "ghost")


async def test_revoked_credential_cannot_log_in(db: Database) -> None:
    await accounts.create_tenant(db, "acme")
    new = await accounts.create_credential(db, "acme")
    revoked = await tenants.revoke_credential(db, new.credential.id, accounts.now())
    assert revoked.revoked_at is not None
    assert await tenants.find_login(db, new.credential.username) is None
    listed = await tenants.list_credentials(db, "acme")
    assert [c.revoked_at is not None for c in listed] == [True]


async def test_revoking_an_unknown_credential_says_so(db: Database) -> None:
    with pytest.raises(NotFoundError, match="no credential with id 99"):
        await tenants.revoke_credential(db, 99, accounts.now())
