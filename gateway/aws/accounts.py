"""AWS accounts as clients are made from them: the aioboto3 session of an `AwsAccountSpec`.

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
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from botocore.exceptions import NoCredentialsError

from gateway.core.types.aws import AwsAccountSpec

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
