"""Sessions made from AWS accounts, against moto's STS and SES (state kept per account id)."""

from __future__ import annotations

import pytest

from gateway.aws.accounts import session_for
from gateway.core.types.aws import AwsAccountSpec
from tests.support.motoaccounts import ALPHA, BETA, allow, keys_in


@pytest.fixture
def moto(aws_env: pytest.MonkeyPatch, moto_server: str) -> str:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


async def caller_account(spec: AwsAccountSpec) -> str:
    async with session_for(spec).client("sts") as sts:
        return str((await sts.get_caller_identity())["Account"])


async def test_a_key_pair_acts_in_its_own_account_and_region(moto: str) -> None:
    spec = AwsAccountSpec("alpha", "eu-west-1", *keys_in(moto, ALPHA, "keys", allow("ses:*")))
    assert await caller_account(spec) == ALPHA
    async with session_for(spec).client("sesv2") as ses:
        assert ses.meta.region_name == "eu-west-1"
        await ses.create_email_identity(EmailIdentity="alpha.example")
    other = AwsAccountSpec("beta", "eu-west-1", *keys_in(moto, BETA, "keys", allow("ses:*")))
    async with session_for(other).client("sesv2") as ses:
        assert (await ses.list_email_identities())["EmailIdentities"] == []


async def test_a_role_is_assumed_with_its_external_id(moto: str) -> None:
    role = f"arn:aws:iam::{BETA}:role/ses-gateway"
    spec = AwsAccountSpec("beta", "us-east-1", role_arn=role, external_id="tenant-42")
    # With the process's own credentials (aws_env's), then with the account's key pair.
    assert await caller_account(spec) == BETA
    key_id, secret = keys_in(moto, ALPHA, "assumer", allow("sts:AssumeRole"))
    keyed = AwsAccountSpec("beta", "us-east-1", key_id, secret, role, "tenant-42")
    assert await caller_account(keyed) == BETA


async def test_a_role_without_source_credentials_is_not_the_process_chain(
    moto: str, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    spec = AwsAccountSpec("beta", "us-east-1", role_arn=f"arn:aws:iam::{BETA}:role/x")
    with pytest.raises(Exception, match="Unable to locate credentials"):
        await caller_account(spec)
