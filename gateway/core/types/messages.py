"""Messages and their recipients: what the spool stores, delivery claims and sends, and what the
message pages show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.core.spill import SpilledRest


class RecipientState(StrEnum):
    QUEUED = "queued"
    """Waiting for its first attempt."""
    SENT = "sent"
    """Accepted by SES (final here; SES events tell the rest)."""
    DEFERRED = "deferred"
    """A transient error; tried again at the message's next attempt time."""
    FAILED = "failed"
    """A permanent error, or the queue lifetime ran out (final)."""
    SUPPRESSED = "suppressed"
    """On the suppression list with `SUPPRESSION_MODE=drop`: accepted, never sent (final)."""

    @property
    def final(self) -> bool:
        return self in (RecipientState.SENT, RecipientState.FAILED, RecipientState.SUPPRESSED)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an SMTP session acts for: an authenticated credential, or (both None) a client in
    one of the tenant's trusted networks."""

    tenant_id: int
    tenant_name: str
    credential_id: int | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message accepted at the end of DATA, ready to be committed to the spool."""

    id: str
    tenant_id: int
    credential_id: int | None
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    client_address: str
    client_helo: str
    tls: str | None
    auth_username: str | None
    message_id_header: str
    created_at: datetime
    expires_at: datetime
    suppressed: dict[str, str] = field(default_factory=dict)
    """Recipients (of `recipients`) stored as suppressed, never sent: address -> why."""
    subject: str = ""
    """The `Subject:` field for display: unfolded, RFC 2047 words decoded, at most 998
    characters."""
    header_size: int = 0
    """How many bytes at the start of `data` are header fields: kept after the body is deleted,
    to be shown (up to `HEADER_BYTES`)."""
    via: str = "smtp"
    """How it was submitted: `smtp`, `api` (the send API) or `campaign`."""
    not_before: datetime | None = None
    """Not delivered before this time (the send API's `scheduled_at`); None: at once."""
    rest: SpilledRest | None = None
    """A message over `SPILL_THRESHOLD`: `data` is its header block, and this the rest of it
    (from the blank line on), still on disk."""

    @property
    def size(self) -> int:
        return len(self.data) + (self.rest.size if self.rest is not None else 0)


@dataclass(frozen=True, slots=True)
class JobRecipient:
    id: int
    address: str
    attempts: int


@dataclass(slots=True)
class Job:
    """A message claimed by a delivery worker, with the recipients still to be sent."""

    id: str
    tenant_name: str
    mail_from: str
    data: bytes
    attempts: int
    created_at: datetime
    expires_at: datetime
    recipients: list[JobRecipient] = field(default_factory=list)
    unreadable: str | None = None
    """Why the stored body does not decrypt (then `data` is empty): no key opens it, or it was
    altered. None: `data` is the message."""
    chunks: int = 0
    """A body stored in this many chunks: `data` stays empty until it is read, just before it
    is sent (`gateway.storage.content.read_chunks`)."""


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    recipient_id: int
    state: RecipientState
    ses_message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """What one delivery attempt of a job came to."""

    message_id: str
    outcomes: tuple[RecipientOutcome, ...]
    next_attempt_at: datetime | None
    """When the deferred recipients are tried again; None when every recipient is final."""
    finished_at: datetime
    partial: bool = False
    """The outcomes of some recipients while the attempt goes on: the message stays as it is,
    leased (`next_attempt_at` is not used)."""


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    id: int
    address: str
    state: RecipientState
    attempts: int
    ses_message_id: str | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageStatus:
    id: str
    tenant: str
    mail_from: str
    subject: str
    size: int
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    completed_at: datetime | None
    has_body: bool
    recipients: tuple[RecipientStatus, ...]
    via: str = "smtp"
    """How it was submitted: `smtp`, `api` or `campaign`."""
