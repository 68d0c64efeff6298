"""The SES account's quota and what `sns setup` made in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

DEFAULT_ACCOUNT: Final = "default"
"""The process's own credential chain, as AWS accounts are named (a stored account never is)."""


@dataclass(frozen=True, slots=True)
class AccountQuota:
    """SES's sending limits and state for the account in this region (v2 `GetAccount`, or v1
    `GetSendQuota`, which says nothing of the sandbox, sending or enforcement: None)."""

    max_24_hour_send: int | None
    """Messages (recipients) per rolling 24 hours; None: unlimited (SES's -1)."""
    max_send_rate: float
    """Messages (recipients) per second."""
    sent_last_24_hours: int
    production_access_enabled: bool | None
    """False: the sandbox (verified recipients only, 200 a day, 1 a second)."""
    sending_enabled: bool | None
    enforcement_status: str | None
    """`HEALTHY`, `PROBATION` or `SHUTDOWN`."""
    source: str
    """The call that said it: `GetAccount` or `GetSendQuota`."""
    review_status: str | None = None
    """The request for production access (`ses request-production`): `PENDING`, `GRANTED`,
    `DENIED` or `FAILED`; None: none made (or `GetSendQuota`, which does not say)."""
    review_case_id: str | None = None
    suppressed_reasons: tuple[str, ...] | None = None
    """What SES adds to the account-level suppression list by itself (`BOUNCE`, `COMPLAINT`);
    empty: nothing; None: unknown."""


@dataclass(frozen=True, slots=True)
class ProductionRequest:
    """What SESv2 `PutAccountDetails` asks AWS for when the account leaves the sandbox."""

    mail_type: str
    """`MARKETING` or `TRANSACTIONAL` (the choices of botocore's sesv2 model)."""
    website_url: str
    use_case: str
    """How the account's mail is sent, to whom, and how bounces and complaints are handled."""
    contact_language: str = "EN"
    additional_contacts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SuppressedDestination:
    """An address on SES's account-level suppression list (`ListSuppressedDestinations`)."""

    address: str
    reason: str
    """`BOUNCE` or `COMPLAINT`."""
    last_update: datetime | None


@dataclass(frozen=True, slots=True)
class EventDestinationState:
    """An event destination of an SES configuration set, as SESv2 describes it."""

    name: str
    enabled: bool
    event_types: frozenset[str]
    topic_arn: str | None
    """The SNS topic it publishes to; None for another kind of destination."""


@dataclass(frozen=True, slots=True)
class SnsSetupRecord:
    """What `sns setup` stored: a configuration set whose events go to the topic it set up."""

    configuration_set: str
    topic_arn: str
    endpoint: str
    """The URL subscribed to the topic (`<PUBLIC_URL>/sns/ses`)."""
    created_at: datetime
    default_since: datetime | None
    """Since when sending through its account uses it (unless `CONFIGURATION_SET` is set, for
    the default account); None: not yet."""
    aws_account: str = DEFAULT_ACCOUNT
    """The AWS account it was made in."""


@dataclass(frozen=True, slots=True)
class AwsAccountSpec:
    """An AWS account the gateway sends through (`ses-gateway aws-account add`), as the clients
    are made from it: either a key pair or a role to assume (STS `AssumeRole`, preferred).
    The process's own credential chain is the default account and has no spec."""

    name: str
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    """Decrypted only to make a client; never logged or shown (not in `repr`)."""
    role_arn: str | None = None
    external_id: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AwsAccountInfo:
    """An AWS account as it is shown: never its secret access key, nor its external id (only
    whether it has one)."""

    name: str
    region: str
    access_key_id: str | None
    role_arn: str | None
    has_external_id: bool
    created_at: datetime
    checked_at: datetime | None
    """When `aws-account test` (or `add`) last called SES with it."""
    check_error: str | None
    """What that call found wrong; None: it passed."""
    tenants: tuple[str, ...] = ()
    """The tenants that send through it."""

    @property
    def kind(self) -> str:
        """`role` (STS `AssumeRole`) or `keys` (an access key pair)."""
        return "role" if self.role_arn else "keys"
