"""Messages as the spool stores them, for tests that queue mail without going through SMTP."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.spool import new_queue_id
from gateway.types import NewMessage


def new_message(
    tenant_id: int,
    recipients: Sequence[str] = ("a@example.org",),
    at: datetime | None = None,
    ttl: timedelta = timedelta(days=1),
    **fields: Any,
) -> NewMessage:
    """A message of `tenant_id` to `recipients`, queued `at` (default now) and expiring `ttl`
    later; `fields` override any other field of `NewMessage`."""
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
    return NewMessage(**(values | fields))
