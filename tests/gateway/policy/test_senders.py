"""The policy's cached facts: kept for their ttl, and dropped by a change of what they say, and
only of that (a change of one tenant or address leaves the others' cached)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import Principal
from gateway.identity import accounts
from gateway.policy.senders import Directory, _TtlCache
from gateway.storage import suppressions
from gateway.storage.database import Database
from tests.conftest import add_verified_domain


async def test_a_change_drops_the_facts_it_names_and_only_those(db: Database) -> None:
    facts = Directory(db, ttl=60)
    acme = await accounts.create_tenant(db, "acme")
    other = await accounts.create_tenant(db, "other")
    new = await accounts.create_credential(db, "acme")
    credential = Principal(acme.id, "acme", new.credential.id)
    tenants = [Principal(acme.id, "acme"), Principal(other.id, "other")]
    for principal in (*tenants, credential):
        assert (await facts.account(principal)).tenant_paused is None
    await accounts.pause_tenant(db, "acme", "abuse")  # nobody told: still cached
    await accounts.pause_tenant(db, "other", "abuse")
    await accounts.pause_credential(db, new.credential.id, "leaked")
    assert (await facts.account(credential)).credential_paused is None

    facts.forget(Change(Topic.TENANT, str(acme.id)))
    assert (await facts.account(tenants[0])).tenant_paused == "abuse"
    assert (await facts.account(credential)).tenant_paused == "abuse"  # acme's, read again
    assert (await facts.account(tenants[1])).tenant_paused is None  # another tenant's: kept

    facts.forget(Change(Topic.CREDENTIAL, str(new.credential.id)))
    assert (await facts.account(credential)).credential_paused == "leaked"

    facts.forget(Change(Topic.RESET))
    assert (await facts.account(tenants[1])).tenant_paused == "abuse"


async def test_a_suppression_change_drops_that_address_in_any_form_and_only_it(
    db: Database,
) -> None:
    facts = Directory(db, ttl=60)
    acme = await accounts.create_tenant(db, "acme")
    assert await facts.suppressed(acme.id, "Bob@Bücher.Example") is None
    assert await facts.suppressed(acme.id, "carol@example.org") is None
    now = datetime.now(UTC)
    entries = [
        suppressions.Entry(address, None, "manual", "", now)
        for address in ("bob@xn--bcher-kva.example", "carol@example.org")
    ]
    await suppressions.add(db, entries)  # nobody told: still cached

    facts.forget(Change(Topic.SUPPRESSION, "bob@xn--bcher-kva.example"))
    assert await facts.suppressed(acme.id, "Bob@Bücher.Example") is not None
    assert await facts.suppressed(acme.id, "carol@example.org") is None  # kept

    facts.forget(Change(Topic.SUPPRESSION))  # many at once: every address
    assert await facts.suppressed(acme.id, "carol@example.org") is not None


async def test_addresses_noted_not_suppressed_are_not_read_until_a_change(db: Database) -> None:
    facts = Directory(db, ttl=60)
    acme = await accounts.create_tenant(db, "acme")
    now = datetime.now(UTC)
    await suppressions.add(db, [suppressions.Entry("dan@example.org", None, "manual", "", now)])
    facts.not_suppressed(acme.id, ["dan@example.org"])  # as a campaign's batch read it before
    assert await facts.suppressed(acme.id, "dan@example.org") is None
    facts.forget(Change(Topic.SUPPRESSION, "dan@example.org"))
    assert await facts.suppressed(acme.id, "dan@example.org") is not None


async def test_a_sending_domain_change_drops_the_facts_of_its_addresses_and_subdomains_only(
    db: Database,
) -> None:
    facts = Directory(db, ttl=60)
    acme = await accounts.create_tenant(db, "acme")
    addresses = ("a@example.com", "b@mail.example.com", "c@example.org", "d@notexample.com")
    for address in addresses:
        assert (await facts.sender(address)).domain_owner is None
    for name in ("example.com", "example.org", "notexample.com"):
        await add_verified_domain(db, acme.id, name)  # nobody told: still cached

    facts.forget(Change(Topic.SENDER, "example.com"))
    owners = [(await facts.sender(address)).domain_owner for address in addresses]
    assert owners == [acme.id, acme.id, None, None]

    facts.forget(Change(Topic.SENDER))  # every domain
    assert (await facts.sender("d@notexample.com")).domain_owner == acme.id


async def test_callers_that_miss_at_once_share_one_read() -> None:
    """A campaign's batch submits its messages together: one read of a fact for all of them,
    and a value read across a change is not kept."""
    reads: list[str] = []

    async def load(key: str) -> str:
        reads.append(key)
        await asyncio.sleep(0.01)
        return key.upper()

    cache: _TtlCache[str, str] = _TtlCache(load, 60)
    assert await asyncio.gather(*(cache.get("a") for _ in range(50))) == ["A"] * 50
    assert reads == ["a"]
    under_way = asyncio.ensure_future(cache.get("b"))
    await asyncio.sleep(0)
    cache.drop()  # a change while "b" is read
    assert await under_way == "B"
    assert await cache.get("b") == "B"
    assert reads == ["a", "b", "b"]
