"""Amazon SES: the one module that speaks to it (aioboto3), translating its errors into ours.

Credentials, region and endpoint come from the standard AWS chain only (`AWS_REGION`,
`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SESV2`, profiles, instance roles).
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.exceptions import ValidationError as BotoValidationError

from config import Settings
from gateway.exceptions import GatewayError, SesError, SesPermanentError, SesTransientError

MAX_RECIPIENTS_PER_CALL = 50
"""SES counts every recipient of one call (To, Cc, Bcc, Destinations) against this limit."""

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        # Sending paused by the operator or SES: resumed sending delivers what waited.
        "SendingPausedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)


class SesSetupError(GatewayError):
    """The AWS chain gives no region, so no SES endpoint can be chosen."""


def translate(exc: BaseException) -> SesError:
    """Our error for an exception raised by aiobotocore: transient or permanent."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return SesTransientError(code, message)
        return SesPermanentError(code, message)
    if isinstance(exc, BotoValidationError | ParamValidationError):
        return SesPermanentError(type(exc).__name__, str(exc))
    if isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError):
        return SesTransientError(type(exc).__name__, str(exc))
    raise TypeError(f"not an SES client error: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One SES send call: the raw bytes to a batch of at most 50 envelope recipients."""

    sender: str
    recipients: list[str]
    raw: bytes
    tags: dict[str, str]


class SesClientProvider:
    """One long-lived aioboto3 client per process, opened once and shared by every send.

    `client_for(tenant)` is the seam where per-tenant AWS accounts can come later.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session = aioboto3.Session()
        self._stack = AsyncExitStack()
        self._client: Any = None

    @property
    def service(self) -> str:
        return "sesv2" if self._settings.ses_send_api == "v2" else "ses"

    @property
    def region(self) -> str | None:
        """botocore reads `AWS_DEFAULT_REGION` and profiles; the other SDKs' `AWS_REGION` too."""
        region: str | None = self._session.region_name or os.environ.get("AWS_REGION")
        return region

    @property
    def ready(self) -> bool:
        return self._client is not None

    async def has_credentials(self) -> bool:
        return await self._session.get_credentials() is not None

    async def __aenter__(self) -> SesClientProvider:
        if not self.region:
            raise SesSetupError(
                "no AWS region is set: set AWS_REGION "
                "(or AWS_DEFAULT_REGION, or a profile's region)"
            )
        config = AioConfig(
            # The queue owns the retry policy: one quick retry in botocore at most.
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=min(10.0, self._settings.ses_timeout),
            read_timeout=self._settings.ses_timeout,
            max_pool_connections=self._settings.delivery_concurrency,
        )
        self._client = await self._stack.enter_async_context(
            self._session.client(self.service, region_name=self.region, config=config)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client = None
        await self._stack.aclose()

    def client_for(self, tenant: str) -> Any:
        if self._client is None:
            raise RuntimeError("the SES client is not open")
        return self._client

    @property
    def endpoint(self) -> str:
        if self._client is None:
            return ""
        return str(self._client.meta.endpoint_url)


class SesSender:
    """Sends raw messages with the API chosen by `SES_SEND_API`; returns SES's MessageId."""

    def __init__(self, provider: SesClientProvider, settings: Settings) -> None:
        self._provider = provider
        self._api = settings.ses_send_api
        self._configuration_set = settings.configuration_set

    async def send(self, tenant: str, outgoing: Outgoing) -> str:
        client = self._provider.client_for(tenant)
        try:
            if self._api == "v2":
                request: dict[str, Any] = {
                    "FromEmailAddress": outgoing.sender,
                    "Destination": {"ToAddresses": outgoing.recipients},
                    "Content": {"Raw": {"Data": outgoing.raw}},
                    "EmailTags": [{"Name": k, "Value": v} for k, v in outgoing.tags.items()],
                }
                if self._configuration_set:
                    request["ConfigurationSetName"] = self._configuration_set
                response = await client.send_email(**request)
            else:
                request = {
                    "Source": outgoing.sender,
                    "Destinations": outgoing.recipients,
                    "RawMessage": {"Data": outgoing.raw},
                    "Tags": [{"Name": k, "Value": v} for k, v in outgoing.tags.items()],
                }
                if self._configuration_set:
                    request["ConfigurationSetName"] = self._configuration_set
                response = await client.send_raw_email(**request)
        except (TimeoutError, ClientError, BotoCoreError, OSError) as exc:
            raise translate(exc) from exc
        return str(response["MessageId"])
