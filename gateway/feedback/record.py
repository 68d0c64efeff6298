"""Recording an event: stored once under its id, then queued for its tenant's webhooks.

SES events (`events.ingest`), people's opens, clicks and unsubscribes (`gateway.tracking.events`)
and SNS's own messages to `/sns/ses` (`gateway.endpoints.sns`) are all recorded by `record_event`,
so that what is stored and what a webhook hears of it never differ between them. The id is the
SNS MessageId (or one of ours, for tracking): a second recording of it stores and queues nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from gateway.core.types.events import EventKind
from gateway.storage import events as store
from gateway.storage.database import Database
from gateway.webhooks import dispatcher
from gateway.webhooks.schema import EVENT_TYPES, WebhookEvent


async def record_event(
    db: Database,
    *,
    sns_message_id: str,
    topic_arn: str,
    kind: EventKind,
    ses_type: str,
    ses_message_id: str | None,
    tenant_id: int | None,
    queue_id: str | None,
    occurred_at: datetime,
    received_at: datetime,
    note: str,
    payload: str,
    recipients: Sequence[store.NewRecipientEvent] = (),
) -> int | None:
    """Store the event and its recipient rows, then queue it for its tenant's webhooks; its id,
    or None when an event with `sns_message_id` is stored already (nothing is written or queued
    then: the first recording queued it). Raises when storage fails."""
    event = store.NewEvent(
        sns_message_id=sns_message_id,
        topic_arn=topic_arn,
        kind=kind,
        ses_type=ses_type,
        ses_message_id=ses_message_id,
        tenant_id=tenant_id,
        queue_id=queue_id,
        occurred_at=occurred_at,
        received_at=received_at,
        note=note,
        payload=payload,
    )
    event_id = await store.insert_event(db, event, recipients)
    if event_id is not None:
        await queue_webhooks(
            db,
            event_id=sns_message_id,
            kind=kind,
            tenant_id=tenant_id,
            occurred_at=occurred_at,
            queue_id=queue_id,
            ses_message_id=ses_message_id,
            recipients=recipients,
        )
    return event_id


async def queue_webhooks(
    db: Database,
    *,
    event_id: str,
    kind: EventKind,
    tenant_id: int | None,
    occurred_at: datetime,
    queue_id: str | None,
    ses_message_id: str | None,
    recipients: Sequence[store.NewRecipientEvent],
) -> None:
    """Queue a stored event for its tenant's webhooks (none for an event of no tenant, or of a
    type no webhook takes); again for the same `event_id` changes nothing."""
    if tenant_id is None or kind.value not in EVENT_TYPES:
        return
    facts = tuple(replace(r.fact, address=r.address, occurred_at=r.occurred_at) for r in recipients)
    await dispatcher.enqueue(
        db,
        WebhookEvent(event_id, kind.value, tenant_id, occurred_at, queue_id, ses_message_id, facts),
    )
