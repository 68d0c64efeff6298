"""Sending domains and addresses: their SES identity state and the DNS records they need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A record a tenant must (or should) publish for a sending domain."""

    type: str
    """`CNAME`, `TXT` or `MX`."""
    name: str
    """Fully qualified, without the trailing dot."""
    value: str
    """Presentation form without quotes: `abc.dkim.amazonses.com`, `v=spf1 ...`, `10 host`."""
    purpose: str
    required: bool


class CheckStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"
    CONFLICT = "conflict"
    UNCHECKED = "unchecked"
    """The lookup failed (timeout, SERVFAIL): nothing is known, which is not "missing"."""


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """What DNS says about one expected record."""

    type: str
    name: str
    expected: str
    found: tuple[str, ...]
    status: CheckStatus
    detail: str
    nameserver: str | None
    """Which nameserver answered (`host:port`), when one did."""


@dataclass(frozen=True, slots=True)
class IdentityState:
    """What SES says about an identity (GetEmailIdentity), the source of truth for sending."""

    verified_for_sending: bool
    verification_status: str
    dkim_status: str | None = None
    dkim_tokens: tuple[str, ...] = ()
    signing_origin: str | None = None
    signing_hosted_zone: str | None = None
    mail_from_domain: str | None = None
    mail_from_status: str | None = None


@dataclass(frozen=True, slots=True)
class DomainInfo:
    id: int
    tenant: str
    name: str
    display_name: str
    region: str
    dkim_mode: str
    dkim_selector: str | None
    dkim_public_key: str | None
    restrict_to_addresses: bool
    state: IdentityState
    created_at: datetime
    verified_at: datetime | None
    checked_at: datetime | None
    next_check_at: datetime | None
    open_tracking: bool = False
    click_tracking: bool = False
    unsubscribe: bool = False
    """Add a one-click `List-Unsubscribe` header to messages that have none."""
    tracking_host: str | None = None
    """The host in tracking links (a CNAME to the gateway); None: `PUBLIC_URL`'s."""


@dataclass(frozen=True, slots=True)
class AddressInfo:
    id: int
    tenant: str
    domain: str
    address: str
    ses_identity: bool
    verified_for_sending: bool
    verification_status: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HostedZone:
    """A Route 53 hosted zone, as `domain publish` chooses one."""

    id: str
    """Without the `/hostedzone/` prefix: `Z0123456789ABC`."""
    name: str
    """Lower-case, without the final dot."""
    private: bool
    """Answered only inside its VPCs: not what the world's resolvers (and SES) see."""


@dataclass(frozen=True, slots=True)
class RecordSet:
    """One record set of a hosted zone (a name and a type), its values in presentation form."""

    name: str
    """Lower-case, without the final dot."""
    type: str
    values: tuple[str, ...]
    """As Route 53 holds them: TXT quoted (`"v=spf1 ..."`), host names as written."""
    special: bool = False
    """An alias or a routing policy (weighted, latency, ...): the gateway never touches it."""


@dataclass(frozen=True, slots=True)
class PublishedRecord:
    """A record set the gateway wrote to a hosted zone (`domain publish`): what it may update
    later while the zone still holds what it wrote."""

    name: str
    type: str
    zone_id: str
    values: tuple[str, ...] | None
    """The record set as written and confirmed; None: no batch of ours confirmed yet."""
    pending: tuple[str, ...] | None
    """The record set a batch was sent to write, its outcome not known yet (the process may
    have died waiting): the next publish finds out from the zone."""
