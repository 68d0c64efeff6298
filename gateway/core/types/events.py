"""SES events (bounces, complaints, deliveries, ...) as stored per recipient, and the suppression
list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.core.types.messages import RecipientState


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
