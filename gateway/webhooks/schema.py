"""The webhook event document, schema version 1 (docs/webhooks.md): what a webhook receives, the
same on every attempt, and the event types a webhook may be limited to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gateway.core.exceptions import InvalidInputError
from gateway.core.logs import utc_iso
from gateway.core.types.events import EventFact, EventKind

SCHEMA_VERSION: Final = 1
EVENT_TYPES: Final = tuple(
    kind.value for kind in EventKind if kind not in (EventKind.RECEIVED, EventKind.UNKNOWN)
)
"""The types a webhook may be limited to."""
TEST: Final = "test"
"""The type of `webhook test` events, sent whatever the filter."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event for the webhooks of `tenant_id`."""

    id: str
    """Unique per event, the same on every attempt (`X-SES-Gateway-Event-Id`): a second
    `enqueue` of the same id changes nothing."""
    type: str
    """One of `EVENT_TYPES`, or `TEST`."""
    tenant_id: int
    occurred_at: datetime
    queue_id: str | None = None
    ses_message_id: str | None = None
    recipients: tuple[EventFact, ...] = ()


def payload(
    event: WebhookEvent, tenant: str, created_at: datetime, campaign_id: int | None = None
) -> str:
    """The JSON body of schema version 1 (docs/webhooks.md); `campaign_id`: the campaign whose
    message it is about."""
    document: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "id": event.id,
        "type": event.type,
        "tenant": tenant,
        "occurred_at": utc_iso(event.occurred_at),
        "created_at": utc_iso(created_at),
        "message": {
            "queue_id": event.queue_id,
            "ses_message_id": event.ses_message_id,
            "campaign_id": campaign_id,
        },
        "recipients": [
            {
                "address": fact.address,
                "occurred_at": utc_iso(fact.occurred_at or event.occurred_at),
                "bounce_type": fact.bounce_type,
                "subtype": fact.subtype,
                "status": fact.status,
                "diagnostic": fact.diagnostic,
                "smtp_response": fact.smtp_response,
                "processing_ms": fact.processing_ms,
                "feedback_type": fact.feedback_type,
                "detail": fact.detail,
            }
            for fact in event.recipients
        ],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def new_event_id() -> str:
    return str(uuid.uuid4())


def check_event_types(types: Iterable[str]) -> tuple[str, ...]:
    """The types of a filter, without repeats; none: every type."""
    chosen = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInputError(
            f"unknown event type {', '.join(unknown)}: choose from {', '.join(EVENT_TYPES)}",
            "events",
        )
    return chosen
