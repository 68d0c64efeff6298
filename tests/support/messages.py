"""Messages as the spool stores them, for tests that queue mail without going through SMTP, and
the outcomes of their delivery attempts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.core.crypto import Sealer
from gateway.core.types.messages import JobResult, NewMessage, RecipientOutcome, RecipientState
from gateway.intake.spool import new_queue_id
from gateway.storage import queue
from gateway.storage.database import Database

SEALER_KEY = b"test secret key"
SEALER = Sealer(SEALER_KEY)
"""Seals the content of the messages that tests store, and opens it (as a gateway with
`SECRET_KEY=test secret key` does)."""


def new_message(
    tenant_id: int,
    recipients: Sequence[str] = ("a@example.org",),
    at: datetime | None = None,
    ttl: timedelta = timedelta(days=1),
    **fields: Any,
) -> NewMessage:
    """A message of `tenant_id` to `recipients`, queued `at` (default now) and expiring `ttl`
    later; `fields` override any other field of `NewMessage` (its header size is that of
    `data`, as the SMTP handler finds it)."""
    created = at or datetime.now(UTC)
    values: dict[str, Any] = {
        "id": new_queue_id(),
        "tenant_id": tenant_id,
        "credential_id": None,
        "mail_from": "demo@example.com",
        "recipients": tuple(recipients),
        "data": b"Subject: t\r\n\r\nhello\r\n",
        "client_address": "127.0.0.1",
        "client_helo": "client",
        "tls": None,
        "auth_username": None,
        "message_id_header": "<m@example.com>",
        "created_at": created,
        "expires_at": created + ttl,
    }
    values |= fields
    values.setdefault("header_size", values["data"].find(b"\r\n\r\n") + 2)
    return NewMessage(**values)


async def queued(
    db: Database,
    tenant_id: int,
    recipients: Sequence[str] = ("a@example.org",),
    at: datetime | None = None,
    **fields: Any,
) -> str:
    """A message accepted at `at` (default now), waiting for its first attempt: its queue id."""
    message = new_message(tenant_id, recipients, at, **fields)
    await queue.insert_messages(db, SEALER, [message])
    return message.id


async def attempt(
    db: Database,
    queue_id: str,
    states: RecipientState | Mapping[str, RecipientState],
    at: datetime,
    error: str | None = None,
) -> None:
    """The outcome of a delivery attempt at `at` for every recipient still waiting (one state,
    or one per address); SES accepts the sent ones as `ses-<queue id>`."""
    status = await queue.message_status(db, SEALER, queue_id)
    outcomes = []
    for r in status.recipients:
        if r.state.final:
            continue
        state = states if isinstance(states, RecipientState) else states[r.address]
        ses = f"ses-{queue_id}" if state is RecipientState.SENT else None
        outcomes.append(RecipientOutcome(r.id, state, ses, error))
    waiting = any(o.state is RecipientState.DEFERRED for o in outcomes)
    result = JobResult(
        queue_id, tuple(outcomes), at + timedelta(minutes=5) if waiting else None, at
    )
    await queue.record(db, [result], keep_bodies=False)
