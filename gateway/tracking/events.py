"""Recording opens, clicks and unsubscribes that come through the gateway's own links.

Every one is stored in `tracking_events` with its time, user agent and client address
(anonymized unless `TRACKING_ANONYMIZE_IP` is false). Machine events are flagged there and go no
further:

- `apple-mpp`: an open whose user agent is exactly `Mozilla/5.0`, which is what Apple Mail
  Privacy Protection's proxy sends when it fetches every image of a message on delivery (a mail
  client or browser opened by a person always says more);
- `scanner`: an open or click within `TRACKING_SCANNER_WINDOW` seconds of SES accepting the
  message, which is what security gateways scanning links and images on delivery do.

An unsubscribe is a POST, which scanners do not send: it is never a machine event. It marks
the address `unsubscribed` (how `link`, when the POST came) on every list of the tenant that has
it subscribed (`gateway.audience.contacts.unsubscribe_by_link`), for a campaign's message or
any other, and suppresses it for the tenant, reason `unsubscribe` (which stops the rest of the
tenant's mail to it).

People's events are also recorded like SES's events (`gateway.feedback.record`, so that they
are folded into the recipient's report and counted) and queued for the tenant's webhooks; of
a recipient's unsubscribes, only the first.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from config import Settings
from gateway.audience.contacts import unsubscribe_by_link
from gateway.core.logs import log_event
from gateway.core.types.events import EventFact, EventKind
from gateway.feedback.record import record_event
from gateway.feedback.suppressions import add as suppress
from gateway.feedback.suppressions import lookup_key
from gateway.storage import events as event_store
from gateway.storage import suppressions as suppression_store
from gateway.storage import tracking as store
from gateway.storage.database import Database
from gateway.tracking.tokens import LinkKind, Token

log = logging.getLogger("gateway.tracking")

APPLE_PROXY_USER_AGENT = "Mozilla/5.0"
KINDS = {
    LinkKind.OPEN: EventKind.OPEN,
    LinkKind.CLICK: EventKind.CLICK,
    LinkKind.UNSUBSCRIBE: EventKind.UNSUBSCRIBE,
}
SES_TYPES = {EventKind.OPEN: "Open", EventKind.CLICK: "Click", EventKind.UNSUBSCRIBE: "Unsubscribe"}
"""The `ses_type` of our events, in SES's spelling."""
EVENT_ID_PREFIX = "tracking-"
"""Our events' ids in place of an SNS MessageId (`ses_events.sns_message_id`, webhook ids)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A request for one of our links."""

    token: Token
    at: datetime
    user_agent: str = ""
    client_address: str = ""


def anonymize(address: str) -> str:
    """The address with its last IPv4 octet or last 80 bits of IPv6 zeroed; "" for a non-IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def machine_reason(
    kind: EventKind, user_agent: str, sent_at: datetime | None, at: datetime, window: float
) -> str | None:
    """`apple-mpp`, `scanner`, or None for an event taken for a person's."""
    if kind is EventKind.UNSUBSCRIBE:
        return None
    if kind is EventKind.OPEN and user_agent.strip() == APPLE_PROXY_USER_AGENT:
        return "apple-mpp"
    if sent_at is not None and window > 0 and at - sent_at < timedelta(seconds=window):
        return "scanner"
    return None


async def record(db: Database, settings: Settings, hit: Hit) -> store.RecipientRef | None:
    """Record the hit and return its recipient; None when its message or recipient is no longer
    stored (nothing is recorded)."""
    kind = KINDS[hit.token.kind]
    recipient = await store.find_recipient(db, hit.token.queue_id, hit.token.recipient_id)
    if recipient is None:
        log_event(log, "tracking-unknown-recipient", kind=kind.value, queue_id=hit.token.queue_id)
        return None
    address = hit.client_address
    if settings.tracking_anonymize_ip:
        address = anonymize(address)
    machine = machine_reason(
        kind, hit.user_agent, recipient.sent_at, hit.at, settings.tracking_scanner_window
    )
    event = store.NewTrackingEvent(
        recipient, kind.value, hit.at, hit.token.url, hit.user_agent[:1000], address[:64], machine
    )
    first = await store.insert_event(db, event)
    contacts = None
    if kind is EventKind.UNSUBSCRIBE:
        contacts = await _unsubscribe(db, recipient, hit.at)
    if machine is None and (first or kind is not EventKind.UNSUBSCRIBE):
        await _publish(db, kind, event)
    log_event(
        log,
        f"tracking-{kind.value}",
        queue_id=recipient.queue_id,
        recipient_id=recipient.recipient_id,
        tenant=recipient.tenant,
        machine=machine,
        contacts=contacts,
    )
    return recipient


async def _unsubscribe(db: Database, recipient: store.RecipientRef, at: datetime) -> int:
    """Unsubscribe the tenant's contacts of the address, then suppress it for the tenant unless
    it is suppressed there for good already (the contacts first: a repeat after a crash between
    the two still marks them). How many contacts were unsubscribed."""
    address = lookup_key(recipient.address)
    contacts = await unsubscribe_by_link(db, recipient.tenant_id, address, at)
    existing = await suppression_store.get(db, address, recipient.tenant_id)
    if existing is not None and existing.expires_at is None:
        return contacts
    detail = f"one-click unsubscribe from message {recipient.queue_id}"
    await suppress(db, recipient.address, recipient.tenant, "unsubscribe", detail)
    return contacts


async def _publish(db: Database, kind: EventKind, event: store.NewTrackingEvent) -> None:
    """Store a person's event like an SES event and queue it for the tenant's webhooks."""
    recipient = event.recipient
    event_id = f"{EVENT_ID_PREFIX}{uuid.uuid4()}"
    detail = event.url if kind is EventKind.CLICK else event.user_agent
    fact = EventFact(lookup_key(recipient.address), event.occurred_at, detail=detail[:2000])
    payload = {
        "eventType": SES_TYPES[kind],
        "queueId": recipient.queue_id,
        "recipient": fact.address,
        "timestamp": event.occurred_at.isoformat(),
        "userAgent": event.user_agent,
        "ipAddress": event.client_address,
        "link": event.url or None,
    }
    stored = await record_event(
        db,
        sns_message_id=event_id,
        topic_arn="",
        kind=kind,
        ses_type=SES_TYPES[kind],
        ses_message_id=recipient.ses_message_id,
        tenant_id=recipient.tenant_id,
        queue_id=recipient.queue_id,
        occurred_at=event.occurred_at,
        received_at=event.occurred_at,
        note="gateway tracking",
        payload=json.dumps(payload),
        recipients=[
            event_store.NewRecipientEvent(
                fact.address, kind, event.occurred_at, recipient.recipient_id, fact
            )
        ],
    )
    if stored is not None:
        await event_store.mark_processed(db, stored, event.occurred_at)
