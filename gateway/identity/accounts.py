"""Tenants and SMTP credentials: validation and creation, over the storage functions."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from config import Settings
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.tenants import CredentialInfo, Limits, NetworkInfo, TenantInfo
from gateway.domains.names import normalize_domain
from gateway.identity import passwords
from gateway.storage import networks, queue, tenants
from gateway.storage.database import Database

TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

LIMITS: dict[str, type[int] | type[float]] = {
    "max_per_second": float,
    "max_per_day": int,
    "max_recipients": int,
    "max_connections": int,
    "max_size": int,
}
"""A tenant's own limits (`Limits`) and their types: only the rate may be a fraction."""


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A credential as created: the only time its password is known."""

    credential: CredentialInfo
    password: str


def now() -> datetime:
    return datetime.now(UTC)


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid tenant name {name!r}: use 1 to 63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (it is sent to SES as a message tag)"
        )
    return name


async def create_tenant(db: Database, name: str) -> TenantInfo:
    return await tenants.create_tenant(db, check_tenant_name(name), now())


def check_limit(name: str, value: str | float) -> int | float:
    """A tenant's limit `name` as given, as text (the CLI, a form) or a number (JSON): a number
    of its type more than 0. The one check of every interface, with one message. `inf` and `nan`
    are refused: either would switch the limit off (every comparison with nan is false)."""
    kind = LIMITS[name]
    try:
        number = kind(value) if isinstance(value, str) else value
    except ValueError:
        number = math.nan
    whole = kind is int
    if (
        isinstance(number, bool)
        or not math.isfinite(number)
        or number <= 0
        or (whole and number != int(number))
    ):
        what = "a whole number" if whole else "a finite number"
        raise InvalidInputError(f"{name} must be {what} more than 0", name)
    return kind(number)


async def set_limits(db: Database, name: str, changes: dict[str, str | float | None]) -> Limits:
    """Change some of the tenant's limits (None: back to the gateway's default)."""
    checked = {k: None if v is None else check_limit(k, v) for k, v in changes.items()}
    return await tenants.set_limits(db, name, checked)


async def create_credential(
    db: Database, tenant_name: str, description: str = "", allow: Sequence[str] = ()
) -> NewCredential:
    """A credential with a generated username and password, optionally narrowed to some sender
    domains (and their subdomains) or addresses."""
    if len(description) > 255:
        raise InvalidInputError(
            "the description is too long (at most 255 characters)", "description"
        )
    allowed = [check_sender_scope(entry) for entry in allow]
    tenant = await tenants.get_tenant(db, tenant_name)
    password = passwords.new_password()
    credential = await tenants.create_credential(
        db,
        tenant,
        passwords.new_username(),
        passwords.hash_password(password),
        description,
        now(),
        allowed,
    )
    return NewCredential(credential, password)


def check_sender_scope(entry: str) -> str:
    """`example.com` or `news@example.org`, normalized."""
    local, at, domain = entry.strip().rpartition("@")
    try:
        name = normalize_domain(domain).ascii
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc), "allow") from exc
    if at and (not local or not local.isascii() or " " in local):
        raise InvalidInputError(f"{entry!r}: expected a domain or local-part@domain", "allow")
    return f"{local}@{name}" if at else name


def _check_reason(reason: str | None) -> None:
    if reason is not None and not reason.strip():
        raise InvalidInputError("give a reason for the pause: senders will read it", "reason")


async def pause_tenant(db: Database, name: str, reason: str | None) -> TenantInfo:
    """Pause (with a reason people will read in the SMTP refusal) or resume (None); the
    tenant's queued messages are held, or made queued again (`queue.hold`)."""
    _check_reason(reason)
    tenant = await tenants.set_tenant_paused(db, name, reason)
    await queue.hold(db, tenant.id, reason is not None)
    return tenant


async def pause_credential(db: Database, credential_id: int, reason: str | None) -> CredentialInfo:
    """Refuse the credential's mail at MAIL with `reason`, or (None) lift the pause."""
    _check_reason(reason)
    await tenants.set_credential_paused(db, credential_id, reason)
    return await tenants.get_credential(db, credential_id)


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
"""IPv4-mapped IPv6 addresses: the gateway sees such clients as the IPv4 address they hold."""


def check_network(cidr: str) -> str:
    """A network in CIDR form, normalized (`10.1.2.0/24`); host bits set are refused. An
    IPv4-mapped range (`::ffff:10.1.0.0/112`) is the IPv4 network it maps (`10.1.0.0/16`)."""
    try:
        network = ipaddress.ip_network(cidr.strip())
    except ValueError as exc:
        raise InvalidInputError(f"{cidr!r} is not a network: {exc}", "cidr") from exc
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return str(ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED.prefixlen)))
    return str(network)


def check_trusted_network(cidr: str, settings: Settings) -> str:
    """`check_network`, and no wider than `TRUSTED_IPV4_MIN_PREFIX` / `TRUSTED_IPV6_MIN_PREFIX`:
    every client in a trusted network sends as the tenant without AUTH."""
    normalized = check_network(cidr)
    network = ipaddress.ip_network(normalized)
    if network.prefixlen == 0:
        raise InvalidInputError(
            f"{normalized} is every address: that would be an open relay", "cidr"
        )
    widest, setting = (
        (settings.trusted_ipv4_min_prefix, "TRUSTED_IPV4_MIN_PREFIX")
        if network.version == 4
        else (settings.trusted_ipv6_min_prefix, "TRUSTED_IPV6_MIN_PREFIX")
    )
    if network.prefixlen < widest:
        raise InvalidInputError(
            f"{cidr.strip()} is too wide to trust: every client in it could send without AUTH; "
            f"trust at most a /{widest} (the setting {setting}), or several smaller networks",
            "cidr",
        )
    return normalized


async def trust_network(
    db: Database, tenant_name: str, cidr: str, settings: Settings
) -> NetworkInfo:
    """Clients in `cidr` may send without AUTH as the tenant (every other rule still applies)."""
    normalized = check_trusted_network(cidr, settings)
    tenant = await tenants.get_tenant(db, tenant_name)
    await networks.add_network(db, tenant.id, normalized, now())
    [added] = [n for n in await networks.list_networks(db, tenant.name) if n.cidr == normalized]
    return added


async def untrust_network(db: Database, cidr: str) -> str:
    """Stop trusting a network; its normalized CIDR."""
    normalized = check_network(cidr)
    await networks.remove_network(db, normalized)
    return normalized
