"""The gateway's activity log and the notifications raised with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
