"""Sessions made from AWS accounts, against moto's STS and SES (state kept per account id)."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from gateway.aws.accounts import check, explained, session_for
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import AwsAccountSpec
from tests.support.motoaccounts import ALPHA, BETA, allow, iam_enforced, keys_in
from tests.support.ports import closed_port_url


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


async def test_check_returns_the_quota(moto: str) -> None:
    spec = AwsAccountSpec("alpha", "eu-west-1", *keys_in(moto, ALPHA, "ok", allow("ses:*")))
    quota = await check(spec)
    assert quota.max_send_rate > 0


async def check_refused(spec: AwsAccountSpec) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as refused:
        await check(spec)
    assert "\n" not in str(refused.value)
    return refused.value


async def test_check_names_the_permission_missing(moto: str) -> None:
    policy = allow("ses:*", deny=("ses:GetAccount", "ses:GetSendQuota"))
    spec = AwsAccountSpec("alpha", "eu-west-1", *keys_in(moto, ALPHA, "denied", policy))
    with iam_enforced(moto):
        refused = await check_refused(spec)
    assert refused.field == "access_key_id"
    assert re.search(r"may not call ses:Get(Account|SendQuota) \(AccessDenied", str(refused))


async def test_check_says_which_key_is_wrong(moto: str) -> None:
    key_id, secret = keys_in(moto, ALPHA, "wrong", allow("ses:*"))
    with iam_enforced(moto):
        unknown = await check_refused(AwsAccountSpec("a", "eu-west-1", "AKIA0000000000000000", "x"))
        wrong = await check_refused(AwsAccountSpec("a", "eu-west-1", key_id, secret + "x"))
    assert unknown.field == "access_key_id"
    assert "AWS does not know access key AKIA0000000000000000" in str(unknown)
    assert wrong.field == "secret_access_key"
    assert f"the secret access key is wrong for {key_id}" in str(wrong)


async def test_check_says_a_role_may_not_be_assumed(moto: str) -> None:
    key_id, secret = keys_in(moto, ALPHA, "no-assume", allow("ses:*"))
    role = f"arn:aws:iam::{BETA}:role/ses-gateway"
    spec = AwsAccountSpec("beta", "us-east-1", key_id, secret, role, "tenant-42")
    with iam_enforced(moto):
        refused = await check_refused(spec)
    assert refused.field == "role_arn"
    assert f"role {role} may not be assumed (sts:AssumeRole denied)" in str(refused)
    assert "ExternalId" in str(refused)


async def test_check_says_no_ses_answers_in_the_region(
    moto: str, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", closed_port_url())
    refused = await check_refused(AwsAccountSpec("a", "xx-nowhere-1", "AKIA1", "x"))
    assert refused.field == "region"
    assert str(refused) == (
        "AWS account a: no SES endpoint answers in region xx-nowhere-1: is SES offered there?"
    )


KEYS = AwsAccountSpec("a", "eu-west-1", "AKIAEXAMPLE", "secret")
ROLE = AwsAccountSpec("r", "eu-west-1", role_arn=f"arn:aws:iam::{BETA}:role/x", external_id="e1")


def client_error(code: str, operation: str = "GetAccount", status: int = 400) -> ClientError:
    error = {
        "Error": {"Code": code, "Message": "words"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(error, operation)


@pytest.mark.parametrize(
    ("spec", "error", "says", "field"),
    [
        (KEYS, client_error("Throttling"), "AWS throttled the check (Throttling): try again", None),
        (
            ROLE,
            client_error("ExpiredToken"),
            "have expired (ExpiredToken): check this host's clock, then test",
            "role_arn",
        ),
        (
            KEYS,
            client_error("ExpiredTokenException"),
            "have expired (ExpiredTokenException): check this host's clock",
            "access_key_id",
        ),
        (
            KEYS,
            client_error("OptInRequired"),
            "not available to this account in region eu-west-1",
            "region",
        ),
        (
            KEYS,
            client_error("AccessDeniedException"),
            "may not call ses:GetAccount (AccessDeniedException): allow ses:GetAccount",
            "access_key_id",
        ),
        (
            ROLE,
            client_error("AccessDenied", "AssumeRole", 403),
            "its trust policy must name the gateway's principal and ExternalId",
            "role_arn",
        ),
        (
            ROLE,
            client_error("InvalidClientTokenId", "AssumeRole", 403),
            "the gateway's own AWS credentials are not valid",
            None,
        ),
        (KEYS, client_error("MessageRejected"), "GetAccount failed: MessageRejected: words", None),
        (
            ROLE,
            NoCredentialsError(),
            "no AWS credentials of its own to assume the role",
            "role_arn",
        ),
    ],
)
def test_each_fault_is_one_line_naming_its_field(
    spec: AwsAccountSpec, error: Exception, says: str, field: str | None
) -> None:
    message, named = explained(spec, error)
    assert says in message
    assert named == field
