"""Tenants and their credentials, limits, trusted networks, and the facts the sending policy
reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: int
    name: str
    created_at: datetime
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    id: int
    tenant: str
    username: str
    description: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    allowed_senders: tuple[str, ...] = ()
    """The sender domains and addresses it may use; empty: any of its tenant's."""
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """Who sends: the tenant (and the credential, unless a trusted network vouched)."""

    tenant_id: int
    tenant_paused: str | None = None
    credential_paused: str | None = None
    allowed_senders: tuple[str, ...] = ()
    """Domains or addresses the credential is narrowed to; empty: every sender of the tenant."""
    limits: Limits | None = None
    """The tenant's own limits; None (or a None field): the global default applies."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-tenant limits (`tenant set`); a None field means "the global default"."""

    max_per_second: float | None = None
    max_per_day: int | None = None
    max_recipients: int | None = None
    max_connections: int | None = None
    max_size: int | None = None


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What the gateway knows about one sender address and its domain."""

    address: str
    """`local@domain`, domain in lower-case punycode."""
    domain_owner: int | None = None
    """The tenant that owns the domain (or a parent domain); None: no such sending domain."""
    domain_name: str = ""
    domain_verified: bool = False
    restrict_to_addresses: bool = False
    address_listed: bool = False
    address_verified: bool = False
    """A single address verified with SES by email."""


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    tenant_id: int | None
    credential_id: int | None
    rule: str
    sender: str | None
    recipient: str | None
    client_address: str
    reply: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: int
    tenant_id: int
    tenant: str
    cidr: str
    created_at: datetime
