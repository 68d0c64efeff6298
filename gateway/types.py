"""Plain data shared between the SMTP server, the spool, delivery and storage. A leaf module."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class RecipientState(StrEnum):
    QUEUED = "queued"
    """Waiting for its first attempt."""
    SENT = "sent"
    """Accepted by SES (final here; SES events tell the rest)."""
    DEFERRED = "deferred"
    """A transient error; tried again at the message's next attempt time."""
    FAILED = "failed"
    """A permanent error, or the queue lifetime ran out (final)."""
    SUPPRESSED = "suppressed"
    """On the suppression list with `SUPPRESSION_MODE=drop`: accepted, never sent (final)."""

    @property
    def final(self) -> bool:
        return self in (RecipientState.SENT, RecipientState.FAILED, RecipientState.SUPPRESSED)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an SMTP session acts for: an authenticated credential, or (both None) a client in
    one of the tenant's trusted networks."""

    tenant_id: int
    tenant_name: str
    credential_id: int | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message accepted at the end of DATA, ready to be committed to the spool."""

    id: str
    tenant_id: int
    credential_id: int | None
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    client_address: str
    client_helo: str
    tls: str | None
    auth_username: str | None
    message_id_header: str
    created_at: datetime
    expires_at: datetime
    suppressed: dict[str, str] = field(default_factory=dict)
    """Recipients (of `recipients`) stored as suppressed, never sent: address -> why."""
    subject: str = ""
    """The `Subject:` field for display: unfolded, RFC 2047 words decoded, at most 998
    characters."""
    header_size: int = 0
    """How many bytes at the start of `data` are header fields: kept after the body is deleted,
    to be shown (up to `HEADER_BYTES`)."""


@dataclass(frozen=True, slots=True)
class JobRecipient:
    id: int
    address: str
    attempts: int


@dataclass(slots=True)
class Job:
    """A message claimed by a delivery worker, with the recipients still to be sent."""

    id: str
    tenant_name: str
    mail_from: str
    data: bytes
    attempts: int
    created_at: datetime
    expires_at: datetime
    recipients: list[JobRecipient] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    recipient_id: int
    state: RecipientState
    ses_message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """What one delivery attempt of a job came to."""

    message_id: str
    outcomes: tuple[RecipientOutcome, ...]
    next_attempt_at: datetime | None
    """When the deferred recipients are tried again; None when every recipient is final."""
    finished_at: datetime
    partial: bool = False
    """The outcomes of some recipients while the attempt goes on: the message stays as it is,
    leased (`next_attempt_at` is not used)."""


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: int
    name: str
    created_at: datetime
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    id: int
    tenant: str
    username: str
    description: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    allowed_senders: tuple[str, ...] = ()
    """The sender domains and addresses it may use; empty: any of its tenant's."""
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    id: int
    address: str
    state: RecipientState
    attempts: int
    ses_message_id: str | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageStatus:
    id: str
    tenant: str
    mail_from: str
    subject: str
    size: int
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    completed_at: datetime | None
    has_body: bool
    recipients: tuple[RecipientStatus, ...]


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
class ActivityEvent:
    id: int
    tenant: str | None
    kind: str
    subject: str
    detail: str
    created_at: datetime
    actor: str | None = None
    """Who made the change (a user's email, `apikey:<prefix>`); None for the gateway itself."""
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    """An activity event raised to the operators; `read_at` None while unread."""

    id: int
    activity_id: int
    tenant: str | None
    kind: str
    subject: str
    detail: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class Account:
    """Who sends: the tenant (and the credential, unless a trusted network vouched)."""

    tenant_id: int
    tenant_paused: str | None = None
    credential_paused: str | None = None
    allowed_senders: tuple[str, ...] = ()
    """Domains or addresses the credential is narrowed to; empty: every sender of the tenant."""
    limits: Limits | None = None
    """The tenant's own limits; None (or a None field): the global default applies."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-tenant limits (`tenant set`); a None field means "the global default"."""

    max_per_second: float | None = None
    max_per_day: int | None = None
    max_recipients: int | None = None
    max_connections: int | None = None
    max_size: int | None = None


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What the gateway knows about one sender address and its domain."""

    address: str
    """`local@domain`, domain in lower-case punycode."""
    domain_owner: int | None = None
    """The tenant that owns the domain (or a parent domain); None: no such sending domain."""
    domain_name: str = ""
    domain_verified: bool = False
    restrict_to_addresses: bool = False
    address_listed: bool = False
    address_verified: bool = False
    """A single address verified with SES by email."""


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    tenant_id: int | None
    credential_id: int | None
    rule: str
    sender: str | None
    recipient: str | None
    client_address: str
    reply: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: int
    tenant_id: int
    tenant: str
    cidr: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SuppressionInfo:
    """An address that must not be mailed, for one tenant or (`tenant` None) for all."""

    id: int
    tenant: str | None
    address: str
    """Normalized: lower case, domain in punycode."""
    reason: str
    """`bounce`, `complaint`, `unsubscribe` or `manual`."""
    detail: str
    created_at: datetime
    expires_at: datetime | None


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


class EventKind(StrEnum):
    """What an SES event or notification reports (`ses_events.kind`, `recipient_events.kind`)."""

    SEND = "send"
    REJECT = "reject"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"
    DELIVERY_DELAY = "delivery_delay"
    OPEN = "open"
    CLICK = "click"
    RENDERING_FAILURE = "rendering_failure"
    SUBSCRIPTION = "subscription"
    UNSUBSCRIBE = "unsubscribe"
    """One-click unsubscribe through the gateway's own link (`gateway.tracking`)."""
    RECEIVED = "received"
    """Inbound mail (SES receiving): stored and ignored."""
    UNKNOWN = "unknown"
    """Another type, or a payload that could not be read: stored and acknowledged."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What `gateway.events.ingest` did with one SES event."""

    event_id: int
    """The stored event (`ses_events.id`); on a duplicate, the one stored the first time."""
    duplicate: bool
    """The SNS MessageId was seen before: nothing was changed."""
    kind: EventKind
    ses_message_id: str | None
    tenant_id: int | None
    queue_id: str | None
    """Our message, when the event was matched to one."""
    recipients: tuple[str, ...] = ()
    """The (normalized) addresses the event was recorded against."""
    matched: int = 0
    """How many of them are recipients of ours."""
    suppressed: tuple[str, ...] = ()
    """Addresses suppressed (or whose suppression was renewed) because of this event."""
    reputation: str | None = None
    """`warned` or `paused` when the reputation guard acted on the tenant after this event."""
    note: str = ""
    """Why the event was not (fully) applied: unknown message, unreadable payload, ..."""


@dataclass(frozen=True, slots=True)
class SesEventInfo:
    """One stored SES event, with the SES JSON as received."""

    id: int
    sns_message_id: str
    topic_arn: str
    kind: EventKind
    ses_type: str
    ses_message_id: str | None
    tenant_id: int | None
    tenant: str | None
    queue_id: str | None
    occurred_at: datetime
    received_at: datetime
    processed_at: datetime | None
    note: str
    payload: str


@dataclass(frozen=True, slots=True)
class RecipientEventInfo:
    """What one SES event says about one recipient."""

    id: int
    event_id: int
    sns_message_id: str
    tenant: str | None
    queue_id: str | None
    ses_message_id: str | None
    address: str
    kind: EventKind
    occurred_at: datetime
    received_at: datetime
    bounce_type: str | None = None
    subtype: str | None = None
    """Of a bounce (`General`, `OnAccountSuppressionList`, ...) or a complaint."""
    status: str | None = None
    diagnostic: str | None = None
    smtp_response: str | None = None
    processing_ms: int | None = None
    feedback_type: str | None = None
    detail: str = ""
    recipient_id: int | None = None
    """Our recipient; None when the address is not one of a message of ours."""


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """Everything SES said about one recipient of a message, folded from its events."""

    address: str
    state: RecipientState | None
    """The queue's state; None for an address SES named that is not one of the recipients."""
    ses_message_id: str | None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    smtp_response: str | None = None
    processing_ms: int | None = None
    bounced_at: datetime | None = None
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    bounce_status: str | None = None
    diagnostic: str | None = None
    complained_at: datetime | None = None
    feedback_type: str | None = None
    delayed_at: datetime | None = None
    """The last delay."""
    rejected_at: datetime | None = None
    reject_reason: str | None = None
    rendering_failed_at: datetime | None = None
    rendering_error: str | None = None
    opened_at: datetime | None = None
    """The first open."""
    opens: int = 0
    clicked_at: datetime | None = None
    """The first click."""
    clicks: int = 0
    unsubscribed_at: datetime | None = None

    @property
    def outcome(self) -> str:
        """The most telling fact: `complained`, `bounced`, `delivered`, `rejected`,
        `rendering_failed`, `delayed`, `sent` (accepted by SES), or `` (no event yet). A
        transient bounce after a delivery (an auto-reply) leaves it `delivered`."""
        if self.complained_at:
            return "complained"
        if self.bounced_at and self.bounce_type != "Transient":
            return "bounced"
        if self.delivered_at:
            return "delivered"
        facts = (
            (self.bounced_at, "bounced"),
            (self.rejected_at, "rejected"),
            (self.rendering_failed_at, "rendering_failed"),
            (self.delayed_at, "delayed"),
            (self.sent_at, "sent"),
        )
        return next((name for at, name in facts if at), "")


@dataclass(frozen=True, slots=True)
class MessageEvents:
    """A message's recipients as SES reported them, and the events themselves in order."""

    queue_id: str
    tenant: str
    recipients: tuple[RecipientReport, ...]
    events: tuple[RecipientEventInfo, ...]


@dataclass(frozen=True, slots=True)
class EventFact:
    """What an SES event says about one recipient (`address` empty: every recipient)."""

    address: str = ""
    occurred_at: datetime | None = None
    bounce_type: str | None = None
    subtype: str | None = None
    status: str | None = None
    diagnostic: str | None = None
    smtp_response: str | None = None
    processing_ms: int | None = None
    feedback_type: str | None = None
    detail: str = ""


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
    """Since when sending uses it (unless `CONFIGURATION_SET` is set); None: not yet."""


class Role(StrEnum):
    """What a user may do: `admin` everything; `owner` and `viewer` one tenant, `viewer` reading
    only."""

    ADMIN = "admin"
    OWNER = "owner"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    role: Role
    tenant: str | None
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key without its secret; `tenant` None: an admin key."""

    id: int
    prefix: str
    tenant: str | None
    description: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class RecipientTracking:
    """One recipient's opens and clicks, people's apart from machines', and its unsubscribe."""

    recipient_id: int
    address: str
    opens: int = 0
    first_open_at: datetime | None = None
    machine_opens: int = 0
    clicks: int = 0
    first_click_at: datetime | None = None
    machine_clicks: int = 0
    unsubscribed_at: datetime | None = None


class MessageOutcome(StrEnum):
    """Where a message stands, from its recipients' states and events: the first that holds
    (docs/messages.md)."""

    QUEUED = "queued"
    """In the queue, no recipient deferred (waiting for an attempt, or being sent)."""
    DEFERRED = "deferred"
    """In the queue, a recipient deferred by a transient error: it will be tried again."""
    COMPLAINED = "complained"
    """Done; a recipient complained."""
    BOUNCED = "bounced"
    """Done; a recipient bounced, and not a Transient bounce."""
    FAILED = "failed"
    """Done; a recipient failed (refused by SES, or its queue lifetime ran out), or SES
    rejected the message (a Reject event)."""
    DELIVERED = "delivered"
    """Done; every recipient sent has a delivery event."""
    SENT = "sent"
    """Done; recipients accepted by SES, not all of them delivered (yet)."""
    SUPPRESSED = "suppressed"
    """Done; every recipient was suppressed: nothing was sent."""


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A message as a search lists it."""

    id: str
    tenant: str
    mail_from: str
    subject: str
    recipient_count: int
    recipients: tuple[str, ...]
    """The first few recipients (`gateway.storage.messages.SUMMARY_RECIPIENTS`), in order."""
    status: MessageOutcome
    created_at: datetime
    completed_at: datetime | None
    size: int


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of a recipient's way: `queued`, `sent`, `deferred`, `failed`, `suppressed`, or
    the kind of a recipient event (`delivery`, `bounce`, `open`, ...)."""

    at: datetime
    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecipientDetail:
    status: RecipientStatus
    report: RecipientReport
    """Its events folded (`gateway.storage.events.fold`)."""
    tracking: RecipientTracking | None
    """Its opens and clicks through the gateway's links, machines' counted apart."""
    timeline: tuple[TimelineEntry, ...]
    """In time order."""


@dataclass(frozen=True, slots=True)
class MessageDetail:
    """Everything stored about a message, but its body."""

    message: MessageStatus
    status: MessageOutcome
    headers: tuple[tuple[str, str], ...] | None
    """The header fields (name, unfolded value) of the stored body; None once the body is
    deleted (when every recipient is final, or after `BODY_RETENTION_DAYS`)."""
    recipients: tuple[RecipientDetail, ...]
    strangers: tuple[RecipientReport, ...]
    """Addresses that SES events of the message named but that are not its recipients."""
    events: tuple[RecipientEventInfo, ...]
    """Every recipient event of the message, in time order."""


@dataclass(frozen=True, slots=True)
class Counts:
    """What happened to mail in a time span (`gateway.storage.stats` says what each counts)."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    complained: int = 0
    opened: int = 0
    clicked: int = 0
    rejected: int = 0
    deferred: int = 0


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start: datetime
    """The bucket is [start, start + bucket)."""
    counts: Counts


@dataclass(frozen=True, slots=True)
class Series:
    since: datetime
    until: datetime
    bucket: timedelta
    points: tuple[SeriesPoint, ...]
    """Every bucket from `since`, empty ones included; the last may end after `until`, but
    counts nothing from `until` on."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Bounces and complaints over a window of sends, as the reputation guard counts them."""

    sends: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sends if self.sends else 0.0
