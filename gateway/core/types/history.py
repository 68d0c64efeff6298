"""A message's history as the pages show it: its outcome, each recipient's timeline, opens and
clicks, and every SES event about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.core.types.events import RecipientEventInfo, RecipientReport
from gateway.core.types.messages import MessageStatus, RecipientState, RecipientStatus


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

    @property
    def outcome(self) -> str:
        """Its one status, the furthest it went: what SES said of it (`complained`, `bounced`,
        `rejected`, `rendering_failed`, `delivered`; an auto-reply after a delivery leaves it
        `delivered`), else where the queue has it (`deferred`, also for SES's delivery delay;
        `sent`, `queued`, `failed`, `suppressed`)."""
        said = self.report.outcome
        if said in ("complained", "bounced", "rejected", "rendering_failed", "delivered"):
            return said
        if self.status.state is RecipientState.SENT and said == "delayed":
            return "deferred"
        return self.status.state.value


@dataclass(frozen=True, slots=True)
class RefusedRecipient:
    """A recipient refused at `RCPT TO` in the transaction that gave a message."""

    address: str
    rule: str
    """The policy that refused it (`suppressed`, `recipient_domain`, ...)."""
    reply: str
    """The SMTP reply the client read."""
    at: datetime


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
    refused: tuple[RefusedRecipient, ...] = ()
    """Recipients refused at `RCPT TO` before it was accepted (`gateway.storage.refusals`)."""
