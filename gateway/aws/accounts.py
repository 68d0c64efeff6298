"""AWS accounts as clients are made from them: the aioboto3 session of an `AwsAccountSpec`,
and the check that an account works (`check`), with one line for what does not.

An account is a key pair, or a role to assume (preferred: nothing long-lived is stored). A
role is assumed with STS `AssumeRole` by botocore's own machinery (aiobotocore's
`AioAssumeRoleCredentialFetcher` behind `AioDeferredRefreshableCredentials`): nothing is asked
of STS until the first call, and the temporary credentials are fetched again shortly before
they expire, by every client of the session, for as long as it lives. The role is assumed
with the account's key pair when it has one, else with the process's own credential chain
(its environment, profile or instance role), and with the account's external id.

Endpoints come from the standard settings (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS`, ...),
as for the process's own account; the region is the account's.
"""

from __future__ import annotations

from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from gateway.aws.ses import DENIED_CODES
from gateway.aws.ses import _quota_from_account as quota_from_account
from gateway.aws.ses import _quota_from_send_quota as quota_from_send_quota
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import AccountQuota, AwsAccountSpec

ROLE_SESSION_PREFIX = "ses-gateway-"
"""How the gateway's sessions of an assumed role are named (in CloudTrail): the prefix, then
the account's name."""


def session_for(spec: AwsAccountSpec) -> aioboto3.Session:
    """A session whose clients act in `spec`'s account and region. Making it calls nothing;
    a role is assumed at the first call of one of its clients."""
    if spec.role_arn is None:
        return aioboto3.Session(
            aws_access_key_id=spec.access_key_id,
            aws_secret_access_key=spec.secret_access_key,
            region_name=spec.region,
        )
    source = aioboto3.Session(
        aws_access_key_id=spec.access_key_id,
        aws_secret_access_key=spec.secret_access_key,
        region_name=spec.region,
    )
    botocore_session = AioSession()
    resolver = botocore_session.get_component("credential_provider")
    resolver.insert_before("env", _AssumedRole(spec, source._session))
    return aioboto3.Session(botocore_session=botocore_session, region_name=spec.region)


class _AssumedRole(CredentialProvider):  # type: ignore[misc]  # botocore has no types
    """The first provider of the session's chain: the role, assumed with the credentials of
    `source` (the account's key pair, or the process's chain)."""

    METHOD = "assume-role"
    CANONICAL_NAME = "custom-ses-gateway-assume-role"

    def __init__(self, spec: AwsAccountSpec, source: AioSession) -> None:
        super().__init__()
        self._spec = spec
        self._source = source

    async def load(self) -> Any:
        assert self._spec.role_arn is not None
        extra: dict[str, str] = {"RoleSessionName": (ROLE_SESSION_PREFIX + self._spec.name)[:64]}
        if self._spec.external_id is not None:
            extra["ExternalId"] = self._spec.external_id
        source = await self._source.get_credentials()
        if source is None:  # not None: the chain would go on to the process's own credentials
            raise NoCredentialsError()
        fetcher = AioAssumeRoleCredentialFetcher(
            client_creator=self._source.create_client,
            source_credentials=source,
            role_arn=self._spec.role_arn,
            extra_args=extra,
        )
        return AioDeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method=self.METHOD
        )


CHECK_CONFIG = AioConfig(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=10,
    read_timeout=20,
    user_agent="ses-gateway",
)
"""The check is a person waiting at a prompt or a form: one retry, answers within seconds."""

_BAD_KEYS = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure"}
)
_BAD_SECRET = frozenset({"SignatureDoesNotMatch", "IncompleteSignature"})
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
_NO_OPERATION = frozenset({"InvalidAction", "UnknownOperationException"})
"""The endpoint lacks the operation (an emulator without `GetAccount`)."""
_NOT_HERE = frozenset({"OptInRequired", *_NO_OPERATION})
"""SES is not there for this account (a region not enabled; an endpoint without SES)."""


async def check(spec: AwsAccountSpec) -> AccountQuota:
    """Call SES with the account, as the gateway will: SESv2 `GetAccount`, or v1
    `GetSendQuota` where the endpoint lacks it (HTTP 404: moto); for a role, `AssumeRole`
    first. Its quota, or `InvalidInputError` with one line saying what is wrong and the field
    at fault: the keys, the role, a permission missing (named), the region, throttling."""
    session = session_for(spec)
    try:
        async with session.client("sesv2", config=CHECK_CONFIG) as sesv2:
            try:
                return quota_from_account(await sesv2.get_account())
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = exc.response.get("Error", {}).get("Code")
                if status != 404 and code not in _NO_OPERATION:
                    raise
        async with session.client("ses", config=CHECK_CONFIG) as ses:
            return quota_from_send_quota(await ses.get_send_quota())
    except (TimeoutError, ClientError, BotoCoreError, OSError) as exc:
        message, field = explained(spec, exc)
        raise InvalidInputError(f"AWS account {spec.name}: {message}", field) from exc


def explained(spec: AwsAccountSpec, exc: BaseException) -> tuple[str, str | None]:
    """One line for a failed check, and the field at fault (None: none, try again)."""
    credentials = "role_arn" if spec.role_arn else "access_key_id"
    if isinstance(exc, NoCredentialsError):
        return (
            "the gateway has no AWS credentials of its own to assume the role with: give the "
            "account an access key pair too, or the process credentials (an instance role, "
            "AWS_ACCESS_KEY_ID)",
            "role_arn",
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return f"no SES endpoint answers in region {spec.region}: is SES offered there?", "region"
    if not isinstance(exc, ClientError):
        return f"AWS could not be reached ({type(exc).__name__}): try again", None
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    assuming = exc.operation_name == "AssumeRole"
    if assuming and code in DENIED_CODES:
        external = " and ExternalId" if spec.external_id else ""
        return (
            f"role {spec.role_arn} may not be assumed (sts:AssumeRole denied): its trust policy "
            f"must name the gateway's principal{external}",
            "role_arn",
        )
    if code in _BAD_KEYS:
        if assuming and spec.access_key_id is None:
            return "the gateway's own AWS credentials are not valid to assume the role", None
        return f"AWS does not know access key {spec.access_key_id} ({code})", "access_key_id"
    if code in _BAD_SECRET:
        return f"the secret access key is wrong for {spec.access_key_id} ({code})", (
            "secret_access_key"
        )
    if code in _EXPIRED:
        again = ", then test the account again (the role is assumed anew)" if spec.role_arn else ""
        return (
            f"AWS says the credentials or the request have expired ({code}): check this host's "
            f"clock{again}",
            credentials,
        )
    if code in DENIED_CODES:
        action = f"ses:{exc.operation_name}"
        return (
            f"the account's credentials may not call {action} ({code}): allow {action} in "
            "their IAM policy (docs/aws-accounts.md)",
            credentials,
        )
    if code in _THROTTLED:
        return f"AWS throttled the check ({code}): try again in a minute", None
    if code in _NOT_HERE:
        return f"SES is not available to this account in region {spec.region} ({code})", "region"
    return f"{exc.operation_name} failed: {code}: {error.get('Message') or ''}".rstrip(": "), None
