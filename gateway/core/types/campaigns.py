"""Campaigns and their recipients: what storage returns and the stages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

STATES = ("draft", "scheduled", "sending", "paused", "done", "cancelled")
"""A campaign's life: made (`draft`), launched for later (`scheduled`) or now (`sending`),
`paused` and resumed, then `done` (every recipient's message made) or `cancelled`."""

RECIPIENT_STATES = ("pending", "spooling", "queued", "skipped", "refused")
"""A campaign recipient's: waiting (`pending`); its message's queue id chosen and being stored
(`spooling`); stored (`queued`: the spool delivers it from there); not mailed because it was
unsubscribed or suppressed when its turn came (`skipped`) or refused by the policy (`refused`)."""


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    id: int
    tenant_id: int
    tenant: str
    name: str
    template_id: int | None
    list_ids: list[int]
    exclude_list_id: int | None
    sender: str
    reply_to: str | None
    send_at: datetime | None
    time_zone: str
    state: str
    subject: str | None
    """The template's parts as copied at launch (None before)."""
    html: str | None
    text: str | None
    recipients: int
    created_at: datetime
    launched_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class CampaignRecipient:
    id: int
    address: str
    fields: dict[str, str]
    state: str
    queue_id: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """A campaign's figures, from its recipients' messages, SES events and tracking events
    (people's only: machine opens and clicks are left out)."""

    recipients: int
    pending: int
    skipped: int
    refused: int
    sent: int
    """Messages SES accepted."""
    delivered: int
    bounced: int
    complained: int
    opened: int
    """Recipients who opened (unique)."""
    opens: int
    """Opens in all."""
    clicked: int
    clicks: int
    unsubscribed: int
    links: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Each link clicked: (recipients who clicked it, clicks)."""

    def rate(self, count: int) -> float:
        """`count` as a share of the messages sent (0 before any)."""
        return round(count / self.sent, 4) if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class Share:
    """One part of figures: a list's part of a campaign's (the recipients made from it), or a
    campaign's part of a list's (its recipients made from that list)."""

    id: int
    """The list's, or the campaign's."""
    name: str
    report: Report
