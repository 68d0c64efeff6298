"""AWS accounts in moto's server: moto keeps each account's state apart, and takes a request's
account from its access key (one moto made), so a key pair made here acts in its account."""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

ALPHA = "111111111111"
BETA = "222222222222"
_serial = itertools.count()


def keys_in(
    endpoint: str, account_id: str, user: str, policy: dict[str, object]
) -> tuple[str, str]:
    """A new IAM user of `account_id` with `policy` inline, and its key pair (made through a
    role assumed in that account, which is how moto learns the account of a new key). The
    user's name gets a number: moto's server lives as long as the tests."""
    user = f"{user}-{next(_serial)}"
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    assumed = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/admin", RoleSessionName="tests"
    )["Credentials"]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="gateway", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def allow(*actions: str, deny: tuple[str, ...] = ()) -> dict[str, object]:
    """An IAM policy allowing `actions` (and denying `deny`) on every resource."""
    statements: list[dict[str, object]] = [
        {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    ]
    if deny:
        statements.append({"Effect": "Deny", "Action": list(deny), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


@contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """Within: moto checks every request's signature and IAM policy (moto's server is shared
    by the tests of a process, so only within)."""
    _no_auth_actions(endpoint, b"0")
    try:
        yield
    finally:
        _no_auth_actions(endpoint, b"inf")


def _no_auth_actions(endpoint: str, count: bytes) -> None:
    url = f"{endpoint}/moto-api/reset-auth"  # the loopback moto server
    headers = {"Content-Type": "text/plain"}  # not a form: moto reads the body as it is
    request = urllib.request.Request(url, count, headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        answer.read()
