"""Amazon SES (and SNS): sending, identities, the quota, event publishing; every call made
here, with the clients of the AWS account it is for (`gateway.aws.clients`), its errors
translated into ours. The send calls go through `gateway.aws.sendclient`
(`SES_SEND_PATH=direct`), made from that account's session and client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.exceptions import ValidationError as BotoValidationError

from config import Settings
from gateway.core import metrics
from gateway.core.exceptions import SesError, SesPermanentError, SesTransientError
from gateway.core.types.aws import DEFAULT_ACCOUNT, AccountQuota, EventDestinationState
from gateway.core.types.domains import IdentityState

if TYPE_CHECKING:  # `gateway.aws.clients` makes sessions with `accounts`, which reads quotas here
    from gateway.aws.clients import AccountClients, SesClientProvider

MAX_RECIPIENTS_PER_CALL = 50
"""SES counts every recipient of one call (To, Cc, Bcc, Destinations) against this limit."""

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
"""An AWS API's refusals for a missing permission (SES, Route 53, STS alike)."""
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    }
)
"""An AWS API's refusals of the credentials themselves: expired, unknown or wrongly signed."""

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
    # Credentials or permissions the operator must fix: the queue holds the mail meanwhile.
    | DENIED_CODES
    | CREDENTIAL_CODES
)


_CLIENT_ERRORS = (ClientError, BotoCoreError, OSError, asyncio.TimeoutError)


def translate(exc: BaseException) -> SesError:
    """Our error for an exception raised by aiobotocore: transient or permanent."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        if message.lstrip().startswith("<"):  # an HTML error page, not SES's words
            message = f"HTTP {code} from the SES endpoint: it does not support this operation"
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


class SesSender:
    """Sends raw messages with the API chosen by `SES_SEND_API`, through the tenant's AWS
    account; returns SES's MessageId.

    The configuration set is, in the default account, `CONFIGURATION_SET`; else the one
    `default_configuration_set(account)` names (the one `sns setup` made the default in that
    account), else none. A configuration set belongs to its account: another account's name
    would fail every send with `ConfigurationSetDoesNotExist`.
    """

    def __init__(
        self,
        provider: SesClientProvider,
        settings: Settings,
        default_configuration_set: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._provider = provider
        self._api = settings.ses_send_api
        self._configuration_set = settings.configuration_set
        self._default_configuration_set = default_configuration_set

    async def send(self, tenant: str, outgoing: Outgoing) -> str:
        clients = await self._provider.for_tenant(tenant)
        configuration_set = self._configuration_set if clients.name == DEFAULT_ACCOUNT else None
        if configuration_set is None and self._default_configuration_set is not None:
            configuration_set = await self._default_configuration_set(clients.name)
        if self._api == "v2":
            operation = "send_email"
            request: dict[str, Any] = {
                "FromEmailAddress": outgoing.sender,
                "Destination": {"ToAddresses": outgoing.recipients},
                "Content": {"Raw": {"Data": outgoing.raw}},
                "EmailTags": [{"Name": k, "Value": v} for k, v in outgoing.tags.items()],
            }
        else:
            operation = "send_raw_email"
            request = {
                "Source": outgoing.sender,
                "Destinations": outgoing.recipients,
                "RawMessage": {"Data": outgoing.raw},
                "Tags": [{"Name": k, "Value": v} for k, v in outgoing.tags.items()],
            }
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        with clients:
            response = await _call(clients.sender, operation, **request)
        return str(response["MessageId"])


async def _in(
    clients: AccountClients, service: str, operation: str, **request: Any
) -> dict[str, Any]:
    """`_call` with the account's client of `service`, kept open while it runs."""
    with clients:
        return await _call(clients.client(service), operation, **request)


async def _call(client: Any, operation: str, **request: Any) -> dict[str, Any]:
    """`client.<operation>(**request)`, its errors translated; every AWS call goes through here
    and is counted (`gateway.metrics`)."""
    started = time.perf_counter()
    try:
        response: dict[str, Any] = await getattr(client, operation)(**request)
    except _CLIENT_ERRORS as exc:
        error = translate(exc)
        metrics.ses_call(operation, started, error)
        raise error from exc
    metrics.ses_call(operation, started, None)
    return response


def _identity_state(response: dict[str, Any]) -> IdentityState:
    dkim = response.get("DkimAttributes") or {}
    mail_from = response.get("MailFromAttributes") or {}
    return IdentityState(
        # Either says "may send"; moto reports only the second.
        verified_for_sending=bool(response.get("VerifiedForSendingStatus"))
        or response.get("VerificationStatus") == "SUCCESS",
        verification_status=str(response.get("VerificationStatus") or "PENDING"),
        dkim_status=dkim.get("Status"),
        dkim_tokens=tuple(dkim.get("Tokens") or ()),
        signing_origin=dkim.get("SigningAttributesOrigin"),
        signing_hosted_zone=dkim.get("SigningHostedZone"),
        mail_from_domain=mail_from.get("MailFromDomain"),
        mail_from_status=mail_from.get("MailFromDomainStatus"),
    )


class SesIdentities:
    """Domain and address identities (SESv2), in the tenant's AWS account and region."""

    def __init__(self, provider: SesClientProvider) -> None:
        self._provider = provider

    async def account(self, tenant: str) -> str:
        """The name of the AWS account the tenant's identities live in."""
        return await self._provider.account_of(tenant)

    async def region(self, tenant: str) -> str:
        """The region of the tenant's account: where its identities live."""
        return (await self._provider.for_tenant(tenant)).region

    async def _call(self, tenant: str, operation: str, **request: Any) -> dict[str, Any]:
        return await _in(await self._provider.for_tenant(tenant), "sesv2", operation, **request)

    async def create(
        self, tenant: str, identity: str, byodkim: tuple[str, str] | None = None
    ) -> IdentityState:
        """Register a domain or address; one SES already has is adopted, not an error.

        `byodkim` is (selector, base64 DER private key); without it a domain gets Easy DKIM with
        2048-bit keys.
        """
        request: dict[str, Any] = {"EmailIdentity": identity}
        if byodkim is not None:
            selector, private_key = byodkim
            request["DkimSigningAttributes"] = {
                "DomainSigningSelector": selector,
                "DomainSigningPrivateKey": private_key,
            }
        elif "@" not in identity:
            request["DkimSigningAttributes"] = {"NextSigningKeyLength": "RSA_2048_BIT"}
        try:
            await self._call(tenant, "create_email_identity", **request)
        except SesPermanentError as exc:
            if exc.code != "AlreadyExistsException":
                raise
        state = await self.get(tenant, identity)
        if state is None:
            raise SesPermanentError("NotFoundException", f"SES lost the new identity {identity}")
        return state

    async def get(self, tenant: str, identity: str) -> IdentityState | None:
        """SES's view of the identity; None when SES does not know it."""
        try:
            response = await self._call(tenant, "get_email_identity", EmailIdentity=identity)
        except SesPermanentError as exc:
            if exc.code == "NotFoundException":
                return None
            raise
        return _identity_state(response)

    async def delete(self, tenant: str, identity: str) -> None:
        try:
            await self._call(tenant, "delete_email_identity", EmailIdentity=identity)
        except SesPermanentError as exc:
            if exc.code != "NotFoundException":
                raise

    async def set_mail_from(self, tenant: str, domain: str, mail_from: str) -> None:
        """A custom MAIL FROM domain; SES uses its default one while the MX is missing."""
        await self._call(
            tenant,
            "put_email_identity_mail_from_attributes",
            EmailIdentity=domain,
            MailFromDomain=mail_from,
            BehaviorOnMxFailure="USE_DEFAULT_VALUE",
        )


_V2_UNAVAILABLE_CODES = frozenset(
    {
        "UnknownOperationException",
        "InvalidAction",
        # Not allowed by the IAM policy: `ses:GetSendQuota` may be.
        "AccessDenied",
        "AccessDeniedException",
    }
)


def _v2_unavailable(exc: BaseException | None) -> bool:
    """v2 `GetAccount` is missing at this endpoint (HTTP 404: moto) or not allowed."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in _V2_UNAVAILABLE_CODES


def _daily_limit(value: Any) -> int | None:
    limit = float(value if value is not None else -1)
    return None if limit < 0 else int(limit)


def _quota_from_account(response: dict[str, Any]) -> AccountQuota:
    quota = response.get("SendQuota") or {}
    review = (response.get("Details") or {}).get("ReviewDetails") or {}
    suppression = response.get("SuppressionAttributes")
    return AccountQuota(
        max_24_hour_send=_daily_limit(quota.get("Max24HourSend")),
        max_send_rate=float(quota.get("MaxSendRate") or 0),
        sent_last_24_hours=int(float(quota.get("SentLast24Hours") or 0)),
        production_access_enabled=response.get("ProductionAccessEnabled"),
        sending_enabled=response.get("SendingEnabled"),
        enforcement_status=response.get("EnforcementStatus"),
        source="GetAccount",
        review_status=review.get("Status"),
        review_case_id=review.get("CaseId"),
        suppressed_reasons=(
            None if suppression is None else tuple(suppression.get("SuppressedReasons") or ())
        ),
    )


def _quota_from_send_quota(response: dict[str, Any]) -> AccountQuota:
    return AccountQuota(
        max_24_hour_send=_daily_limit(response.get("Max24HourSend")),
        max_send_rate=float(response.get("MaxSendRate") or 0),
        sent_last_24_hours=int(float(response.get("SentLast24Hours") or 0)),
        production_access_enabled=None,
        sending_enabled=None,
        enforcement_status=None,
        source="GetSendQuota",
    )


class SesAccount:
    """The sending quota and state of SES in one AWS account (`name`), in its region."""

    def __init__(self, provider: SesClientProvider, name: str = DEFAULT_ACCOUNT) -> None:
        self._provider = provider
        self.name = name
        self.region = (provider.region or "") if name == DEFAULT_ACCOUNT else ""
        """Known once the account's clients are open (`quota`)."""
        self.endpoint = provider.endpoint if name == DEFAULT_ACCOUNT else ""

    async def quota(self) -> AccountQuota:
        """v2 `GetAccount`; v1 `GetSendQuota` with `SES_SEND_API=v1`, or when the endpoint lacks
        `GetAccount` (HTTP 404, as moto) or the IAM policy does not allow it."""
        clients = await self._provider.account(self.name)
        self.region, self.endpoint = clients.region, clients.endpoint
        if self._provider.service == "sesv2":
            try:
                return _quota_from_account(await _in(clients, "sesv2", "get_account"))
            except SesError as exc:
                if not _v2_unavailable(exc.__cause__):
                    raise
        return _quota_from_send_quota(await _in(clients, "ses", "get_send_quota"))


EVENT_TYPES = (
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
)
"""Every event type SESv2 publishes."""

PENDING_CONFIRMATION = "PendingConfirmation"
"""SNS's subscription ARN while an HTTP(S) endpoint has not confirmed yet."""


def _destination_state(destination: dict[str, Any]) -> EventDestinationState:
    return EventDestinationState(
        name=str(destination["Name"]),
        enabled=bool(destination.get("Enabled")),
        event_types=frozenset(destination.get("MatchingEventTypes") or ()),
        topic_arn=(destination.get("SnsDestination") or {}).get("TopicArn"),
    )


class SesEventPublishing:
    """SES event publishing to SNS: configuration sets and their event destinations (SESv2),
    topics and HTTP(S) subscriptions (SNS). These belong to one AWS account (`account`) and
    its region."""

    def __init__(self, provider: SesClientProvider, account: str = DEFAULT_ACCOUNT) -> None:
        self._provider = provider
        self.account = account

    async def _call(self, service: str, operation: str, **request: Any) -> dict[str, Any]:
        clients = await self._provider.account(self.account)
        return await _in(clients, service, operation, **request)

    async def has_configuration_set(self, name: str) -> bool:
        try:
            await self._call("sesv2", "get_configuration_set", ConfigurationSetName=name)
        except SesPermanentError as exc:
            if exc.code == "NotFoundException":
                return False
            raise
        return True

    async def create_configuration_set(self, name: str) -> bool:
        """False when it exists already."""
        try:
            await self._call("sesv2", "create_configuration_set", ConfigurationSetName=name)
        except SesPermanentError as exc:
            if exc.code == "AlreadyExistsException":
                return False
            raise
        return True

    async def event_destinations(self, configuration_set: str) -> list[EventDestinationState]:
        response = await self._call(
            "sesv2",
            "get_configuration_set_event_destinations",
            ConfigurationSetName=configuration_set,
        )
        return [_destination_state(d) for d in response.get("EventDestinations") or ()]

    async def put_event_destination(
        self, configuration_set: str, name: str, topic_arn: str, *, exists: bool
    ) -> None:
        """Every event type to `topic_arn`, enabled: create it, or update the one that exists."""
        # Named in full: tests/test_docs_iam.py finds every operation the gateway calls.
        if exists:
            operation = "update_configuration_set_event_destination"
        else:
            operation = "create_configuration_set_event_destination"
        await self._call(
            "sesv2",
            operation,
            ConfigurationSetName=configuration_set,
            EventDestinationName=name,
            EventDestination={
                "Enabled": True,
                "MatchingEventTypes": list(EVENT_TYPES),
                "SnsDestination": {"TopicArn": topic_arn},
            },
        )

    async def find_topic(self, name: str) -> str | None:
        """The ARN of the topic called `name`, if there is one."""
        request: dict[str, Any] = {}
        while True:
            response = await self._call("sns", "list_topics", **request)
            for topic in response.get("Topics") or ():
                if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                    return str(topic["TopicArn"])
            if not response.get("NextToken"):
                return None
            request["NextToken"] = response["NextToken"]

    async def create_topic(self, name: str) -> str:
        """Its ARN (SNS returns the existing topic's if there is one)."""
        return str((await self._call("sns", "create_topic", Name=name))["TopicArn"])

    async def topic_policy(self, topic_arn: str) -> dict[str, Any]:
        """The topic's access policy (a JSON document)."""
        response = await self._call("sns", "get_topic_attributes", TopicArn=topic_arn)
        policy = (response.get("Attributes") or {}).get("Policy")
        return dict(json.loads(policy)) if policy else {"Version": "2012-10-17", "Statement": []}

    async def set_topic_policy(self, topic_arn: str, policy: dict[str, Any]) -> None:
        await self._call(
            "sns",
            "set_topic_attributes",
            TopicArn=topic_arn,
            AttributeName="Policy",
            AttributeValue=json.dumps(policy),
        )

    async def subscriptions(self, topic_arn: str) -> dict[str, str]:
        """The HTTP(S) endpoints subscribed to the topic, with their subscription ARNs
        (`PENDING_CONFIRMATION` while not confirmed)."""
        found: dict[str, str] = {}
        request: dict[str, Any] = {"TopicArn": topic_arn}
        while True:
            response = await self._call("sns", "list_subscriptions_by_topic", **request)
            for subscription in response.get("Subscriptions") or ():
                if subscription.get("Protocol") in ("http", "https"):
                    found[subscription["Endpoint"]] = subscription["SubscriptionArn"]
            if not response.get("NextToken"):
                return found
            request["NextToken"] = response["NextToken"]

    async def subscribe(self, topic_arn: str, endpoint: str) -> str:
        """Subscribe an HTTP(S) URL; SNS then POSTs it a `SubscriptionConfirmation`."""
        response = await self._call(
            "sns",
            "subscribe",
            TopicArn=topic_arn,
            Protocol=endpoint.split(":", 1)[0],
            Endpoint=endpoint,
            ReturnSubscriptionArn=True,
        )
        return str(response["SubscriptionArn"])
