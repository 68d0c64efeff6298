"""AWS accounts as stored: secrets sealed and bound to their account, tenants on accounts, the
refusals that keep a tenant's identities where they are, and resealing under a new key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from gateway.core.crypto import Sealer
from gateway.core.exceptions import ConflictError, DecryptionError, NotFoundError
from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.changes import Change, Topic
from gateway.storage import awsaccounts
from gateway.storage import tenants as tenant_store
from gateway.storage.database import Database
from gateway.storage.models import AwsAccount
from tests.conftest import add_verified_domain

OLD = Sealer(b"the old secret key, long enough to be one")
NEW = Sealer(
    b"the new secret key, long enough to be one", [b"the old secret key, long enough to be one"]
)
KEYS = AwsAccountSpec("acme-prod", "eu-west-1", "AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY")
ROLE = AwsAccountSpec(
    "acme-role", "us-east-1", role_arn="arn:aws:iam::123456789012:role/gw", external_id="x-1"
)
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


async def test_secrets_are_stored_sealed_and_open_for_clients_only(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    await awsaccounts.add_account(db, OLD, ROLE, NOW)
    async with db.read() as conn:
        stored = (await conn.execute(select(AwsAccount.sealed_secret))).scalars().all()
    assert all(KEYS.secret_access_key.encode() not in (value or b"") for value in stored)  # type: ignore[union-attr]
    assert await awsaccounts.account_specs(db, OLD) == {"acme-prod": KEYS, "acme-role": ROLE}
    shown = await awsaccounts.get_account(db, "acme-role")
    assert (shown.kind, shown.has_external_id, shown.tenants) == ("role", True, ())
    assert "wJalr" not in repr(await awsaccounts.list_accounts(db))


async def test_a_sealed_secret_moved_to_another_account_does_not_open(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    other = AwsAccountSpec("other", "eu-west-1", "AKIAOTHER", "another secret")
    await awsaccounts.add_account(db, OLD, other, NOW)
    async with db.begin() as conn:
        sealed = await conn.scalar(
            select(AwsAccount.sealed_secret).where(AwsAccount.name == "acme-prod")
        )
        await conn.execute(
            update(AwsAccount).where(AwsAccount.name == "other").values(sealed_secret=sealed)
        )
    with pytest.raises(DecryptionError, match="AWS account other"):
        await awsaccounts.account_spec(db, OLD, "other")


async def test_names_are_unique(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    with pytest.raises(ConflictError, match="exists already"):
        await awsaccounts.add_account(db, OLD, KEYS, NOW)


async def test_tenants_on_accounts_and_the_changes_announced(db: Database) -> None:
    heard: list[Change] = []
    db.on_change = heard.append
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    acme = await tenant_store.create_tenant(db, "acme", NOW)
    await tenant_store.create_tenant(db, "globex", NOW)
    assert await awsaccounts.set_tenant_account(db, "acme", "acme-prod")
    assert not await awsaccounts.set_tenant_account(db, "acme", "acme-prod")
    assert await awsaccounts.tenant_accounts(db) == {"acme": "acme-prod"}
    assert (await awsaccounts.get_account(db, "acme-prod")).tenants == ("acme",)
    assert heard == [
        Change(Topic.AWS_ACCOUNT, "acme-prod"),
        Change(Topic.TENANT, str(acme.id)),
        Change(Topic.AWS_ACCOUNT, "acme-prod"),
    ]
    with pytest.raises(NotFoundError, match="no AWS account named 'ghost'"):
        await awsaccounts.set_tenant_account(db, "acme", "ghost")


async def test_an_account_in_use_is_not_removed(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    await tenant_store.create_tenant(db, "acme", NOW)
    await awsaccounts.set_tenant_account(db, "acme", "acme-prod")
    with pytest.raises(ConflictError, match="used by tenant acme"):
        await awsaccounts.remove_account(db, "acme-prod")
    await awsaccounts.set_tenant_account(db, "acme", None)
    await awsaccounts.remove_account(db, "acme-prod")
    assert await awsaccounts.list_accounts(db) == []


async def test_a_tenant_with_domains_is_not_moved(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    acme = await tenant_store.create_tenant(db, "acme", NOW)
    await add_verified_domain(db, acme.id, "acme.example")
    with pytest.raises(ConflictError, match=r"\(acme.example\).*remove them"):
        await awsaccounts.set_tenant_account(db, "acme", "acme-prod")
    assert await awsaccounts.tenant_accounts(db) == {}


async def test_reseal_moves_every_secret_to_the_new_key(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    await awsaccounts.add_account(db, OLD, ROLE, NOW)
    assert await awsaccounts.reseal(db, NEW) == (2, [])
    assert await awsaccounts.reseal(db, NEW) == (0, [])
    only_new = Sealer(b"the new secret key, long enough to be one")
    assert await awsaccounts.account_specs(db, only_new) == {"acme-prod": KEYS, "acme-role": ROLE}


async def test_reseal_leaves_what_no_key_opens(db: Database) -> None:
    await awsaccounts.add_account(db, OLD, KEYS, NOW)
    assert await awsaccounts.reseal(db, Sealer(b"an unrelated key, long enough to be one")) == (
        0,
        ["acme-prod"],
    )
    assert await awsaccounts.account_specs(db, OLD) == {"acme-prod": KEYS}
