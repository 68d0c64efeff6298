"""Contact lists, their contacts and CSV imports: what storage returns and the stages share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATUSES = ("subscribed", "unsubscribed", "suppressed")
"""A contact's status as it is read: `suppressed` is derived from the suppression list at read
time (the tenant's own entries and the global ones in force), never stored."""


@dataclass(frozen=True, slots=True)
class ListInfo:
    id: int
    tenant: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ListCounts:
    """How many contacts a list holds, by status as read now."""

    total: int
    subscribed: int
    unsubscribed: int
    suppressed: int


@dataclass(frozen=True, slots=True)
class ContactInfo:
    id: int
    list_id: int
    email: str
    """Normalized: lower case, the domain in punycode."""
    fields: dict[str, str]
    status: str
    """One of `STATUSES`."""
    unsubscribed_at: datetime | None
    unsubscribed_how: str | None
    """How the contact unsubscribed: `manual` (an operator), `link` (the unsubscribe link)..."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Recipient:
    """A contact to mail, as a campaign reads it: subscribed and not suppressed."""

    contact_id: int
    email: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImportInfo:
    """A CSV import and its report. `state`: `running`, `done` or `failed` (`error` says why:
    the file was refused as a whole and nothing of it was imported)."""

    id: int
    list_id: int
    tenant: str
    filename: str
    state: str
    rows: int
    added: int
    updated: int
    duplicates: int
    invalid: int
    error: str | None
    actor: str
    created_at: datetime
    finished_at: datetime | None
