"""The clients of each AWS account, against moto (which keeps each account's state apart): a
tenant's sends and identities go through its account's clients in its region, made once and
kept, made again when the account changes; an account whose clients cannot be made fails its
own tenants' calls only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from moto.ses.models import ses_backends

from admin.runtime import Parts
from gateway.aws.accounts import session_for
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import Outgoing, SesIdentities, SesSender
from gateway.core.crypto import Sealer
from gateway.core.exceptions import SesTransientError
from gateway.core.types.aws import AwsAccountSpec
from gateway.identity import accounts
from gateway.identity.tenancy import TenantAccounts
from gateway.storage import awsaccounts
from gateway.storage.database import Database
from tests.conftest import make_settings
from tests.support.messages import SEALER
from tests.support.motoaccounts import ALPHA, BETA, allow, keys_in

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
RAW = b"From: demo@x\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture
def moto(aws_env: pytest.MonkeyPatch, moto_server: str) -> str:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


def spec_in(moto: str, name: str, account_id: str, region: str) -> AwsAccountSpec:
    """A key pair of a new IAM user of `account_id` (moto's state is shared by the session)."""
    user = f"gw-{uuid.uuid4().hex[:8]}"
    return AwsAccountSpec(name, region, *keys_in(moto, account_id, user, allow("ses:*", "sns:*")))


@pytest.fixture
async def two_accounts(db: Database, moto: str) -> dict[str, AwsAccountSpec]:
    """Tenants `north` on AWS account `alpha` (moto's 111111111111, eu-west-1), `south` on
    `beta` (222222222222, us-west-2), `home` on the process's own credentials."""
    specs = {
        "alpha": spec_in(moto, "alpha", ALPHA, "eu-west-1"),
        "beta": spec_in(moto, "beta", BETA, "us-west-2"),
    }
    for spec in specs.values():
        await awsaccounts.add_account(db, SEALER, spec, NOW)
    for tenant, account in (("north", "alpha"), ("south", "beta"), ("home", None)):
        await accounts.create_tenant(db, tenant)
        if account is not None:
            await awsaccounts.set_tenant_account(db, tenant, account)
    return specs


@pytest.fixture
async def provider(
    db: Database, tmp_path: Path, ses_send_path: str
) -> AsyncIterator[SesClientProvider]:
    settings = make_settings(tmp_path, db.url, ses_send_path=ses_send_path)
    async with SesClientProvider(settings, TenantAccounts(db, lambda: SEALER)) as opened:
        yield opened


def sent_ids(account_id: str, region: str) -> set[str]:
    """What moto's SES sent in that account and region."""
    return {m.id for m in ses_backends[account_id][region].sent_messages}


async def identities_in(spec: AwsAccountSpec) -> set[str]:
    async with session_for(spec).client("sesv2") as ses:
        found = (await ses.list_email_identities())["EmailIdentities"]
    return {i["IdentityName"] for i in found}


async def test_each_tenant_sends_and_registers_identities_in_its_own_account(
    two_accounts: dict[str, AwsAccountSpec],
    provider: SesClientProvider,
    tmp_path: Path,
    db: Database,
) -> None:
    identities = SesIdentities(provider)
    sender = SesSender(provider, make_settings(tmp_path, db.url))
    sent: dict[str, str] = {}
    domains: dict[str, str] = {}
    for tenant in ("north", "south", "home"):
        domains[tenant] = domain = f"{tenant}-{uuid.uuid4().hex[:6]}.example"
        await identities.create(tenant, domain)
        outgoing = Outgoing(f"demo@{domain}", ["x@example.org"], RAW, {"tenant": tenant})
        sent[tenant] = await sender.send(tenant, outgoing)

    assert [await identities.region(t) for t in ("north", "south", "home")] == [
        "eu-west-1",
        "us-west-2",
        "us-east-1",
    ]
    assert sent["north"] in sent_ids(ALPHA, "eu-west-1")
    assert sent["south"] in sent_ids(BETA, "us-west-2")
    assert sent["north"] not in sent_ids(BETA, "us-west-2")
    assert {sent["north"], sent["south"]}.isdisjoint(sent_ids("123456789012", "us-east-1"))
    in_alpha = await identities_in(two_accounts["alpha"])
    in_beta = await identities_in(two_accounts["beta"])
    assert domains["north"] in in_alpha - in_beta
    assert domains["south"] in in_beta - in_alpha
    assert domains["home"] not in in_alpha | in_beta


async def test_an_account_has_one_set_of_clients_while_it_does_not_change(
    two_accounts: dict[str, AwsAccountSpec], provider: SesClientProvider
) -> None:
    north = await provider.for_tenant("north")
    assert await provider.for_tenant("north") is north
    assert (north.name, north.region) == ("alpha", "eu-west-1")
    assert (await provider.for_tenant("south")).name == "beta"
    assert (await provider.for_tenant("home")).name == "default"
    assert (await provider.for_tenant("nobody-yet")).name == "default"

    with north:  # a call in flight on alpha's clients
        provider.forget("alpha")
        again = await provider.for_tenant("north")
        assert again is not north
        assert north.closed is None, "closed under a call in flight"
    assert north.closed is not None
    await north.closed
    assert again.client("sesv2") is not None


async def test_a_tenant_moved_to_another_account_sends_through_it_at_once(
    two_accounts: dict[str, AwsAccountSpec], db: Database, tmp_path: Path, moto: str
) -> None:
    """Through the change bus, as a worker process hears `tenant set --aws-account`."""
    settings = make_settings(tmp_path, db.url, secret_key="test secret key")
    async with Parts.open(settings, migrate=False) as parts:
        provider = await parts.ses()
        alpha = await provider.for_tenant("north")
        assert alpha.name == "alpha"
        await awsaccounts.set_tenant_account(parts.db, "north", "beta")  # heard at its commit
        beta = await provider.for_tenant("north")
        assert beta.name == "beta"
        assert alpha.closed is not None, "alpha changed: its clients are made again"
        outgoing = Outgoing("demo@north.example", ["x@example.org"], RAW, {})
        async with session_for(two_accounts["beta"]).client("sesv2") as ses:
            await ses.create_email_identity(EmailIdentity="north.example")
        ses_id = await SesSender(provider, settings).send("north", outgoing)
        assert ses_id in sent_ids(BETA, "us-west-2")


async def test_an_account_whose_clients_cannot_be_made_fails_its_own_tenants_only(
    two_accounts: dict[str, AwsAccountSpec], db: Database, provider: SesClientProvider
) -> None:
    other_key = Sealer(b"another secret key, long enough to be one")
    lost = AwsAccountSpec("lost", "eu-west-1", "AKIALOST", "sealed under another key")
    await awsaccounts.add_account(db, other_key, lost, NOW)
    await accounts.create_tenant(db, "west")
    await awsaccounts.set_tenant_account(db, "west", "lost")

    with pytest.raises(SesTransientError, match=r"AccountUnavailable.*AWS account lost"):
        await provider.for_tenant("west")
    assert (await provider.for_tenant("north")).name == "alpha"
