"""The database schema. Alembic migrations under `migrations/` create exactly these tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, returned as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Set while sending is paused (by an admin, or by the reputation guard)."""
    max_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_recipients: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_connections: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    aws_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("aws_accounts.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    """The AWS account its mail and identities go through; None: the process's own."""


class AwsAccount(Base):
    """An AWS account tenants may send through: a key pair (the secret sealed under
    `SECRET_KEY`) or a role to assume. The process's own credential chain is not stored."""

    __tablename__ = "aws_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(32))
    access_key_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The secret access key, AES-GCM under a key derived from `SECRET_KEY`."""
    role_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    sealed_external_id: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """What the last `test` found missing; None: it passed (or never ran)."""


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    allowed_senders: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Domains or addresses this credential may send from; empty: all of its tenant's."""


class Message(Base):
    """One submitted message: its envelope and delivery schedule. The raw bytes are in bodies."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_due", "state", "next_attempt_at"),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),  # a tenant's, newest first
        # A tenant's campaign messages waiting for SES, counted from the index alone before
        # each round of a campaign (`campaigns.in_flight`): through `ix_messages_due` each
        # queued message's row was read, 11 ms a round with 20,000 queued.
        Index("ix_messages_tenant_via_state", "tenant_id", "via", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="SET NULL"), nullable=True
    )
    mail_from: Mapped[str] = mapped_column(String(320))
    size: Mapped[int] = mapped_column(BigInteger)
    message_id_header: Mapped[str] = mapped_column(String(998))
    subject: Mapped[str] = mapped_column(String(998), default="", server_default="")
    """The `Subject:` field in clear, of messages spooled before it was sealed: emptied by the
    `reseal` task, which moves it to `sealed_subject`. Empty for the others."""
    sealed_subject: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The `Subject:` field, decoded for display (`gateway.intake.message.header_subject`),
    sealed (`gateway.storage.content.SUBJECT`)."""
    headers: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The header fields as relayed (at most 64 KiB), shown after the body is deleted."""
    client_address: Mapped[str] = mapped_column(String(64))
    client_helo: Mapped[str] = mapped_column(String(255))
    tls: Mapped[str | None] = mapped_column(String(128), nullable=True)
    auth_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    """`queued` until every recipient is final, then `done`."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    via: Mapped[str] = mapped_column(String(8), default="smtp", server_default="smtp")
    """How it was submitted: `smtp`, `api` (the send API) or `campaign`."""


class MessageBody(Base):
    """The raw relayed bytes, deleted when every recipient is final (or after the retention)."""

    __tablename__ = "message_bodies"

    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    """The sealed body; empty when it is stored in `chunks` `MessageBodyChunk`s."""
    chunks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MessageBodyChunk(Base):
    """A part of a large body (over `SPILL_THRESHOLD`), sealed on its own, so that a large body
    is written and read a chunk at a time; deleted with its body."""

    __tablename__ = "message_body_chunks"

    message_id: Mapped[str] = mapped_column(
        ForeignKey("message_bodies.message_id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """0, 1, ...: the body is the chunks in this order."""
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (Index("ix_recipients_state_updated", "state", "updated_at"),)  # sends by time

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ses_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Domain(Base):
    """A sending domain of one tenant, registered as an SES identity in `region`."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    """ASCII (punycode) form."""
    display_name: Mapped[str] = mapped_column(String(253))
    region: Mapped[str] = mapped_column(String(32))
    dkim_mode: Mapped[str] = mapped_column(String(16))
    """`easy` (SES keeps the key) or `byodkim` (our key, encrypted with SECRET_KEY)."""
    dkim_selector: Mapped[str | None] = mapped_column(String(63), nullable=True)
    dkim_private_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    dkim_public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    restrict_to_addresses: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_for_sending: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_status: Mapped[str] = mapped_column(String(32))
    dkim_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dkim_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    signing_origin: Mapped[str | None] = mapped_column(String(32), nullable=True)
    signing_hosted_zone: Mapped[str | None] = mapped_column(String(253), nullable=True)
    mail_from_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    mail_from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    open_tracking: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unsubscribe: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tracking_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    """The host in tracking links; NULL: the one of `PUBLIC_URL`."""


class PublishedRecordSet(Base):
    """A record set `domain publish` wrote to a Route 53 hosted zone, so that a later publish
    updates what the gateway made and never what it did not. `pending` is written before the
    batch is sent and becomes `record_values` once Route 53 took it; a process killed in between
    leaves `pending`, which the next publish decides from the zone (the batch is all or none)."""

    __tablename__ = "published_record_sets"
    __table_args__ = (UniqueConstraint("domain_id", "name", "type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    zone_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(16))
    record_values: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    pending: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Address(Base):
    """A sender address under a domain; with `ses_identity`, also verified with SES by email."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    ses_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_for_sending: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class Activity(Base):
    """Something that happened, for the audit log and notifications (`domain.verified`, ...)."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(320))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(320), nullable=True)
    """Who made the change (a user's email, `apikey:<prefix>`); NULL for the gateway itself."""
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Where the change came from (the HTTP client's address)."""


class User(Base):
    """A person who signs in to the admin panel: `admin` (every tenant), or `owner` or
    `viewer` of one tenant."""

    __tablename__ = "users"
    # A removed user's id is never given to a new user (whose sessions it would otherwise open).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    session_key: Mapped[str] = mapped_column(String(64))
    """Random, part of every session cookie: replaced at sign-out and by a password change, which
    ends the user's sessions."""


class ApiKey(Base):
    """A bearer key for the JSON API: of one tenant (an owner's rights) or, with no tenant, an
    admin's. Only its prefix is stored in clear; the secret part is hashed with argon2id."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notification(Base):
    """An activity event that an operator must act on or know of, until marked read."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activity.id", ondelete="CASCADE"), unique=True
    )
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class Lease(Base):
    """A named job that only one instance may run at a time (until `expires_at`)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Marker(Base):
    """A fact about the whole database that saves work once it is known (e.g. which key every
    message's content was last found sealed under)."""

    __tablename__ = "markers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Suppression(Base):
    """An address that must not be mailed: for one tenant, or for all (`tenant_id` NULL)."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_address_tenant", "address", "tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    address: Mapped[str] = mapped_column(String(320))
    """Normalized: lower case, domain in punycode."""
    reason: Mapped[str] = mapped_column(String(16))
    """`bounce`, `complaint`, `unsubscribe` or `manual`."""
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TrustedNetwork(Base):
    """Clients in this network may send without AUTH, as the tenant."""

    __tablename__ = "trusted_networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    cidr: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refusal(Base):
    """A refused command: which rule, for whom, for the panel and API to list and count."""

    __tablename__ = "refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="SET NULL"), nullable=True
    )
    rule: Mapped[str] = mapped_column(String(32), index=True)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    client_address: Mapped[str] = mapped_column(String(64))
    reply: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuthFailure(Base):
    """A failed AUTH, counted per client address across instances (without the secret)."""

    __tablename__ = "auth_failures"
    __table_args__ = (
        Index("ix_auth_failures_client_time", "client_address", "created_at"),
        Index("ix_auth_failures_username_time", "username", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_address: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    service: Mapped[str] = mapped_column(String(8), default="smtp", server_default="smtp")
    """`smtp` (AUTH) or `web` (the admin panel's login, where `username` is the email)."""


class Usage(Base):
    """Messages accepted per tenant per UTC day, for the daily cap shared by every instance."""

    __tablename__ = "usage"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class SesEvent(Base):
    """One SES notification received through SNS, kept as it came until `EVENT_RETENTION_DAYS`.

    A repeated SNS `MessageId` is refused by its unique key: SNS retries change nothing."""

    __tablename__ = "ses_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sns_message_id: Mapped[str] = mapped_column(String(128), unique=True)
    topic_arn: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    """`gateway.types.EventKind`: `bounce`, `delivery`, ..., `received`, `unknown`."""
    ses_type: Mapped[str] = mapped_column(String(64))
    """SES's own name (`eventType` or `notificationType`); empty when it gave none."""
    ses_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True, index=True
    )
    queue_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    """Our message, when the SES message id (or our `queue_id` tag) matched one."""
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """SES's time of the event (the receipt time when it gave none)."""
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Set once suppressions and the reputation check are done; NULL: redo them on a retry."""
    note: Mapped[str] = mapped_column(Text, default="")
    """Why the event was not (fully) applied: an unknown message, an unreadable payload, ..."""
    payload: Mapped[str] = mapped_column(Text)
    """The SES JSON document as received (SNS `Message`)."""


class RecipientEvent(Base):
    """What one SES event says about one recipient (a bounce names several: one row each)."""

    __tablename__ = "recipient_events"
    __table_args__ = (
        Index("ix_recipient_events_tenant_kind_time", "tenant_id", "kind", "occurred_at"),
        Index("ix_recipient_events_address_kind", "address", "kind"),
        Index("ix_recipient_events_kind_time", "kind", "occurred_at"),  # every tenant's, by time
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("ses_events.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True
    )
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True, index=True
    )
    """Our recipient; NULL when the address is not one of a message of ours."""
    address: Mapped[str] = mapped_column(String(320))
    """Normalized: lower case, domain in punycode."""
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bounce_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """`Permanent`, `Transient` or `Undetermined`."""
    subtype: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The bounce subtype (`General`, `OnAccountSuppressionList`, ...) or complaint subtype."""
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The DSN status of a bounce or delay (`5.1.1`)."""
    diagnostic: Mapped[str | None] = mapped_column(Text, nullable=True)
    smtp_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    processing_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    """The rest, by kind: reject reason, rendering error, clicked link, delay type, ..."""


class Webhook(Base):
    """An HTTPS URL of a tenant's that its events are POSTed to, signed with `secret`."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The event types sent; empty: all of them."""
    secret: Mapped[str] = mapped_column(Text)
    """The signing secret, encrypted with SECRET_KEY."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why no more events are sent (the endpoint answered 410 Gone)."""


class WebhookDelivery(Base):
    """One event to POST to one webhook, retried until it succeeds or `WEBHOOK_RETRY_HOURS`."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        UniqueConstraint("webhook_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    """The JSON body, the same on every attempt."""
    state: Mapped[str] = mapped_column(String(16))
    """`pending`, `delivered` or `failed` (given up)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")
    """The start of the response body."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why there was no response (refused, timed out, TLS) or why it counts as a failure."""
    duration_ms: Mapped[int] = mapped_column(Integer)


class SnsSetup(Base):
    """A configuration set that `sns setup` made publish SES events to an SNS topic subscribed
    at `/sns/ses`, in an AWS account. Its topic is allowed at `/sns/ses`, for that account's
    tenants; the one made default last in an account is used for sending through it."""

    __tablename__ = "sns_setups"

    aws_account: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="default")
    """The account's name (`AwsAccount.name`), or `default`: the process's own credentials."""
    configuration_set: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic_arn: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    default_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TrackingEvent(Base):
    """An open, click or unsubscribe through the gateway's own links (`gateway.tracking`)."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        Index("ix_tracking_events_recipient_kind", "recipient_id", "kind"),
        Index("ix_tracking_events_tenant_kind_time", "tenant_id", "kind", "occurred_at"),
        Index("ix_tracking_events_occurred_at", "occurred_at"),  # the purge by age
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))
    """`open`, `click` or `unsubscribe`."""
    url: Mapped[str] = mapped_column(Text, default="")
    """The link clicked."""
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")
    """Anonymized unless `TRACKING_ANONYMIZE_IP` is false."""
    machine: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Why it is taken for a machine (`apple-mpp`, `scanner`); NULL: a person."""


class MessageTemplate(Base):
    """A tenant's template: a subject, an HTML part (sanitised) and, when written, a text part,
    with `{{variables}}` (gateway/compose/templates.py)."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(998))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """None: the text part is made from the HTML when the template is rendered."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactList(Base):
    """A tenant's list of contacts (recipients of campaigns)."""

    __tablename__ = "contact_lists"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


FIELDS_TYPE = JSON().with_variant(JSONB(), "postgresql")
"""A contact's fields: JSONB on PostgreSQL, so that an import merges them with `||`."""


class Contact(Base):
    """One address on one list, with its fields. `status` is `subscribed` or `unsubscribed`;
    suppression is read from the suppression list, never stored here."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("list_id", "email"),
        Index("ix_contacts_list_created", "list_id", "created_at", "id"),  # newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_lists.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(Integer)
    """The list's tenant, copied for the suppression check. No foreign key of its own: the
    list's cascade removes the contacts with the tenant's lists, and a key checked for each of a
    million imported rows (a trigger on PostgreSQL) would slow an import's merge."""
    email: Mapped[str] = mapped_column(String(320))
    fields: Mapped[dict[str, str]] = mapped_column(FIELDS_TYPE)
    status: Mapped[str] = mapped_column(String(16))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_how: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """A send API request's `Idempotency-Key`: the answer given to the first request with it,
    given again to a repeat within a day (`gateway.storage.idempotency`)."""

    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the request (its path and body): a repeat must be the same request."""
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The first answer's HTTP status; None while the first request is being answered."""
    answer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ContactImport(Base):
    """A CSV import into a list, and its report."""

    __tablename__ = "contact_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    """`running`, `done` or `failed`."""
    rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ContactImportRow(Base):
    """A valid row of an import still running: staged here, then merged into `contacts` in one
    transaction when the whole file has been read (docs/contacts.md, "Transactions"). Unlogged
    on PostgreSQL (migration 0023): no WAL for rows that live a minute."""

    __tablename__ = "contact_import_rows"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    """The primary key drops a later row of the same address: a duplicate within the file."""
    fields: Mapped[str] = mapped_column(Text)
    """The fields as JSON text, parsed once, when they are merged (`jsonb` on PostgreSQL)."""


class ContactImportError(Base):
    """An invalid row of an import: its line number and what is wrong with it."""

    __tablename__ = "contact_import_errors"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)


class Campaign(Base):
    """A tenant's mass mailing: a template sent to the contacts of lists (`gateway.campaigns`).
    The template's parts are copied at launch: an edit of the template later changes nothing
    of a campaign under way."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_templates.id", ondelete="SET NULL"), nullable=True
    )
    list_ids: Mapped[list[int]] = mapped_column(JSON)
    exclude_list_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sender: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When to start; None: at launch."""
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    """The zone `send_at` was given in, to show it as it was written."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    """`draft`, `scheduled`, `sending`, `paused`, `done` or `cancelled`."""
    subject: Mapped[str | None] = mapped_column(String(998), nullable=True)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    """How many recipients launching made."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CampaignRecipient(Base):
    """One address a campaign mails, once (unique per campaign): `pending`, then `spooling`
    with the queue id its message is stored under, then `queued` once that message is stored;
    or `skipped` (unsubscribed or suppressed when its turn came) or `refused` (by the policy)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "address"),
        Index("ix_campaign_recipients_campaign_state", "campaign_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    fields: Mapped[dict[str, str]] = mapped_column(FIELDS_TYPE)
    state: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The message's id, chosen before it is stored (so a restart finds whether it was)."""
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="SET NULL"), nullable=True, index=True
    )
    """The list it was made from (the first of the campaign's lists that has the address),
    for the figures per list; None: made before lists were recorded, or its list deleted."""
