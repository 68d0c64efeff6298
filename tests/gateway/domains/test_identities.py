"""Sending domains against an SES stand-in that speaks SESv2 over HTTP, on both databases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.core import crypto
from gateway.core.crypto import Sealer
from gateway.core.exceptions import (
    ConflictError,
    NotFoundError,
    SesPermanentError,
    SesTransientError,
)
from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.domains import IdentityState
from gateway.core.types.messages import RecipientState
from gateway.domains.identities import SYNC_LEASE, Domains, changes, next_check
from gateway.identity import accounts
from gateway.identity.tenancy import TenantAccounts
from gateway.runtime.tasks import Periodic, Schedule
from gateway.storage import activity, awsaccounts, notifications, queue
from gateway.storage import domains as store
from gateway.storage.database import Database
from gateway.storage.models import Domain
from tests.conftest import add_verified_domain, make_settings
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER, new_message

SECRET = b"test secret key"


@pytest.fixture
async def domains(
    db: Database, fake_ses: FakeSes, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> AsyncIterator[Domains]:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, db.url, dmarc_report_address="dmarc@example.com")
    await accounts.create_tenant(db, "acme")
    await accounts.create_tenant(db, "other")
    async with SesClientProvider(settings) as provider:
        yield Domains(db, SesIdentities(provider), SECRET, settings)


async def test_easy_dkim_domain_shows_the_records_ses_expects(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    domain = await domains.add("acme", "Example.COM")
    tokens = fake_ses.identities["example.com"].dkim_tokens
    assert len(tokens) == 3
    assert domain.region == "us-east-1"
    assert not domain.state.verified_for_sending
    records = domains.records(domain)
    assert [(r.type, r.name, r.value) for r in records[:3]] == [
        ("CNAME", f"{t}._domainkey.example.com", f"{t}.dkim.amazonses.com") for t in tokens
    ]
    assert all(r.required for r in records[:3])
    dmarc = records[-1]
    assert (dmarc.type, dmarc.name, dmarc.required) == ("TXT", "_dmarc.example.com", False)
    assert dmarc.value == "v=DMARC1; p=none; rua=mailto:dmarc@example.com;"
    # a person's change: audited by the operation that made it (admin/ops), not recorded here
    assert await activity.list_activity(db, "acme") == []


async def test_byodkim_registers_our_key_and_keeps_it_encrypted(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    domain = await domains.add("acme", "example.org", dkim="byodkim")
    identity = fake_ses.identities["example.org"]
    assert identity.dkim_origin == "EXTERNAL"
    assert identity.dkim_tokens == [domain.dkim_selector]
    [record, _dmarc] = domains.records(domain)
    assert (record.type, record.name) == ("TXT", f"{domain.dkim_selector}._domainkey.example.org")
    assert record.value == f"p={domain.dkim_public_key}"
    stored = await store.private_key(db, domain.id)
    assert stored is not None
    plaintext = crypto.decrypt(SECRET, stored)
    assert plaintext.startswith("MII")  # base64 DER of an RSA key
    assert plaintext not in stored


async def test_custom_mail_from_adds_mx_and_spf(domains: Domains) -> None:
    domain = await domains.add("acme", "example.net", mail_from="mail")
    by_type = {(r.type, r.name): r.value for r in domains.records(domain)}
    assert by_type[("MX", "mail.example.net")] == "10 feedback-smtp.us-east-1.amazonses.com"
    assert by_type[("TXT", "mail.example.net")] == "v=spf1 include:amazonses.com ~all"
    assert domain.state.mail_from_status == "PENDING"


async def test_an_identity_ses_already_has_is_adopted(domains: Domains, fake_ses: FakeSes) -> None:
    fake_ses.add_identity("example.com", verified=True)
    domain = await domains.add("acme", "example.com")
    assert domain.state.verified_for_sending
    assert domain.verified_at is not None


async def test_a_domain_belongs_to_one_tenant(domains: Domains) -> None:
    await domains.add("acme", "example.com")
    with pytest.raises(ConflictError, match="belongs to another tenant"):
        await domains.add("other", "EXAMPLE.com")
    with pytest.raises(ConflictError, match="already added"):
        await domains.add("acme", "example.com")


async def test_idn_domain_is_registered_in_punycode(domains: Domains, fake_ses: FakeSes) -> None:
    domain = await domains.add("acme", "bücher.example")
    assert (domain.name, domain.display_name) == ("xn--bcher-kva.example", "bücher.example")
    assert "xn--bcher-kva.example" in fake_ses.identities


async def test_sync_moves_the_domain_to_verified_and_records_events(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    domain = await domains.add("acme", "example.com")
    assert await domains.sync(domain) == []
    fake_ses.set_identity_status("example.com", verification="SUCCESS", dkim="SUCCESS")
    events = await domains.sync(domain)
    assert [kind for kind, _ in events] == ["domain.verified", "dkim.verified"]
    synced = await domains.get("example.com")
    assert synced.state.verified_for_sending
    assert synced.next_check_at is not None
    assert synced.next_check_at > datetime.now(UTC) + timedelta(hours=23)
    kinds = [e.kind for e in await activity.list_activity(db, "acme")]
    assert kinds[:2] == ["dkim.verified", "domain.verified"]


async def test_losing_verification_raises_notifications(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    domain = await domains.add("acme", "example.com")
    fake_ses.set_identity_status("example.com", verification="SUCCESS", dkim="SUCCESS")
    await domains.sync(domain)
    verified = await notifications.list_notifications(db)
    assert [n.kind for n in verified] == ["domain.verified"]
    fake_ses.set_identity_status("example.com", verification="FAILED", dkim="FAILED")
    await domains.sync(await domains.get("example.com"))
    raised = await notifications.list_notifications(db, "acme", unread=True)
    assert [n.kind for n in raised][:3] == ["dkim.failed", "domain.failed", "domain.unverified"]


async def test_sync_due_asks_only_for_due_domains(domains: Domains, db: Database) -> None:
    first = await domains.add("acme", "example.com")
    second = await domains.add("acme", "example.org")
    # A domain just added and pending is due at the sync's next run.
    assert first.next_check_at is not None
    assert first.next_check_at <= datetime.now(UTC)
    later = datetime.now(UTC) + timedelta(minutes=1)
    await store.update_domain(db, second.id, next_check_at=later)
    assert await domains.sync_due() == 1
    synced = await domains.get("example.com")
    assert synced.checked_at != first.checked_at
    # Then every minute (the default IDENTITY_SYNC_INTERVAL) in the first hour.
    assert synced.next_check_at is not None
    assert synced.next_check_at - datetime.now(UTC) > timedelta(seconds=50)
    assert await domains.sync_due() == 0


async def test_a_short_sync_interval_checks_pending_domains_as_often(
    db: Database, fake_ses: FakeSes, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, db.url, identity_sync_interval=2)
    await accounts.create_tenant(db, "acme")
    async with SesClientProvider(settings) as provider:
        domains = Domains(db, SesIdentities(provider), SECRET, settings)
        domain = await domains.add("acme", "example.com", mail_from="mail")
        await domains.sync(domain)
        pending = await domains.get("example.com")
        assert pending.next_check_at is not None
        assert pending.next_check_at - datetime.now(UTC) <= timedelta(seconds=2)
        # Verified, but SES still looks for the MAIL FROM MX: still checked as often.
        fake_ses.set_identity_status("example.com", mail_from="PENDING")
        await domains.sync(pending)
        verified = await domains.get("example.com")
        assert verified.state.verified_for_sending
        assert verified.state.mail_from_status == "PENDING"
        assert verified.next_check_at is not None
        assert verified.next_check_at - datetime.now(UTC) <= timedelta(seconds=2)
        fake_ses.set_identity_status("example.com", mail_from="SUCCESS")
        await domains.sync(verified)
        settled = await domains.get("example.com")
        assert settled.next_check_at is not None
        assert settled.next_check_at - datetime.now(UTC) > timedelta(hours=23)


async def test_remove_deletes_the_identity_and_fails_queued_mail(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    await domains.add("acme", "example.com")
    tenant = (await accounts.tenants.list_tenants(db))[0]
    message = new_message(tenant.id, mail_from="news@Example.com")
    queue_id = message.id
    await queue.insert_messages(db, SEALER, [message])
    _, failed = await domains.remove("example.com")
    assert failed == 1
    assert "example.com" not in fake_ses.identities
    status = await queue.message_status(db, SEALER, queue_id)
    assert status.recipients[0].state is RecipientState.FAILED
    assert status.recipients[0].last_error == "the sending domain example.com was removed"
    with pytest.raises(NotFoundError):
        await domains.get("example.com")
    async with db.begin() as conn:
        assert (await conn.execute(select(Domain.id))).first() is None


async def test_addresses_can_be_verified_by_email(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    await domains.add("acme", "example.com")
    address = await domains.add_address("Info@example.com", verify_email=True)
    assert address.ses_identity
    assert "Info@example.com" in fake_ses.identities
    fake_ses.set_identity_status("Info@example.com", verification="SUCCESS", dkim=None)
    assert await domains.sync_address(address) == [
        ("address.verified", "SES verified the address for sending")
    ]
    [listed] = await store.list_addresses(db, domain="example.com")
    assert listed.verified_for_sending
    await domains.remove_address("Info@example.com")
    assert "Info@example.com" not in fake_ses.identities


async def test_an_address_needs_its_domain_first(domains: Domains) -> None:
    with pytest.raises(NotFoundError, match="add it first"):
        await domains.add_address("info@nowhere.example")


async def test_restricting_a_domain_to_listed_addresses(domains: Domains) -> None:
    await domains.add("acme", "example.com")
    assert (await domains.set_restricted("example.com", True)).restrict_to_addresses


@pytest.mark.parametrize(
    ("verified", "age", "expected"),
    [
        (True, timedelta(minutes=5), timedelta(days=1)),
        (False, timedelta(minutes=5), timedelta(minutes=1)),
        (False, timedelta(hours=2), timedelta(minutes=15)),
        (False, timedelta(hours=73), None),
    ],
)
def test_check_schedule(verified: bool, age: timedelta, expected: timedelta | None) -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    due = next_check(verified, now - age, now)
    assert (due - now if due else None) == expected


def test_changes_name_each_transition() -> None:
    pending = IdentityState(
        False, "PENDING", "PENDING", mail_from_domain="m.x", mail_from_status="PENDING"
    )
    failed = IdentityState(
        False, "FAILED", "FAILED", mail_from_domain="m.x", mail_from_status="FAILED"
    )
    assert [kind for kind, _ in changes(pending, failed)] == [
        "domain.failed",
        "dkim.failed",
        "mail_from.failed",
    ]


LOG = logging.getLogger("gateway.domains")


async def test_background_sync_verifies_and_records_the_event(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    domain = await domains.add("acme", "example.com")
    await store.update_domain(db, domain.id, next_check_at=datetime.now(UTC))
    fake_ses.set_identity_status("example.com")
    other = Database(db.url)
    # The lease keeps the sync to one instance while a round is shorter than its time to live:
    # 0.3 s was not, on a loaded machine (both instances then recorded the change).
    sync = Periodic("identity-sync", domains.sync_due, 0.1, LOG, "failed", SYNC_LEASE, 3.0)
    schedules = [Schedule([sync], db, "instance-a"), Schedule([sync], other, "instance-b")]
    for schedule in schedules:
        schedule.start()
    try:
        for _ in range(100):
            if (await domains.get("example.com")).state.verified_for_sending:
                break
            await asyncio.sleep(0.05)
    finally:
        for schedule in schedules:
            await schedule.stop()
        await other.close()
    assert (await domains.get("example.com")).state.verified_for_sending
    kinds = [e.kind for e in await activity.list_activity(db, "acme")]
    assert kinds.count("domain.verified") == 1


async def test_a_change_another_instance_stored_first_is_not_recorded_again(
    domains: Domains, fake_ses: FakeSes, db: Database
) -> None:
    await domains.add("acme", "example.com")
    fake_ses.set_identity_status("example.com")
    seen_pending = await domains.get("example.com")  # what both instances read, due alike
    first = await domains.sync(seen_pending)
    again = await domains.sync(seen_pending)  # the other instance, a moment later
    assert "domain.verified" in [kind for kind, _ in first]
    assert again == []
    kinds = [e.kind for e in await activity.list_activity(db, "acme")]
    assert kinds.count("domain.verified") == 1
    assert (await domains.get("example.com")).state.verified_for_sending


async def test_domains_work_against_moto_too(
    db: Database, moto_server: str, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    settings = make_settings(tmp_path, db.url)
    await accounts.create_tenant(db, "acme")
    async with SesClientProvider(settings) as provider:
        domains = Domains(db, SesIdentities(provider), SECRET, settings)
        domain = await domains.add("acme", "moto-shop.example")
        assert domain.state.verified_for_sending  # moto verifies at once
        assert [r.type for r in domains.records(domain)] == ["TXT"]  # moto returns no DKIM tokens
        with pytest.raises(SesPermanentError, match="is added, but SES refused the custom MAIL"):
            await domains.set_mail_from("moto-shop.example", "mail")
        await domains.remove("moto-shop.example")
        assert await SesIdentities(provider).get("acme", "moto-shop.example") is None


async def test_an_aws_account_that_fails_leaves_the_others_identities_synced(
    db: Database, fake_ses: FakeSes, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """west's account cannot be used (its secret was sealed under a key no longer given): its
    domain stays due, the round says so, and acme's domain is synced all the same."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, db.url)
    now = datetime.now(UTC)
    lost = AwsAccountSpec("lost", "eu-west-1", "AKIALOST", "secret")
    await awsaccounts.add_account(db, Sealer(b"a key no longer given, long enough"), lost, now)
    west = await accounts.create_tenant(db, "west")
    await awsaccounts.set_tenant_account(db, "west", "lost")
    await accounts.create_tenant(db, "acme")
    await add_verified_domain(db, west.id, "west.example")
    stuck = await store.find_domain(db, "west.example")
    assert stuck is not None
    due = now - timedelta(hours=1)  # before acme's: the first asked
    await store.update_domain(db, stuck.id, next_check_at=due)
    async with SesClientProvider(settings, TenantAccounts(db, lambda: SEALER)) as provider:
        domains = Domains(db, SesIdentities(provider), SECRET, settings)
        ours = await domains.add("acme", "example.com")
        with pytest.raises(SesTransientError, match="AWS account lost: AccountUnavailable"):
            await domains.sync_due()
        assert (await domains.get("example.com")).checked_at != ours.checked_at
        assert (await domains.get("west.example")).next_check_at == due
