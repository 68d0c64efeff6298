"""Sending domains and addresses: registration with SES, the records to publish, verification.

SES is the source of truth for "verified for sending"; `sync` copies its view into our database
on a schedule (at the next run once added, every minute (or `IDENTITY_SYNC_INTERVAL`, if shorter)
for the first hour, every 15 minutes up to 72 hours, then daily once verified) and records every
change as an activity event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from config import Settings
from gateway.aws.ses import SesIdentities
from gateway.core import crypto
from gateway.core.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SesError,
    SesPermanentError,
    SesTransientError,
)
from gateway.core.logs import log_event
from gateway.core.types.domains import (
    AddressInfo,
    DnsRecord,
    DomainInfo,
    IdentityState,
    RecordCheck,
)
from gateway.domains import records
from gateway.domains.dnscheck import DnsChecker
from gateway.domains.names import DomainName, normalize_domain
from gateway.storage import activity as activity_store
from gateway.storage import domains as store
from gateway.storage import queue, tenants
from gateway.storage.database import Database

log = logging.getLogger("gateway.domains")

FAST_CHECKS = timedelta(hours=1)
SES_GIVES_UP = timedelta(hours=72)
VERIFIED_CHECK = timedelta(days=1)
SLOW_CHECK = timedelta(minutes=15)
FAST_CHECK = timedelta(minutes=1)
NOTIFIED = frozenset(
    {
        "domain.verified",
        "domain.unverified",
        "domain.failed",
        "domain.missing",
        "dkim.failed",
        "mail_from.failed",
        "address.failed",
    }
)
"""The changes someone must act on or wait for: they are also raised as notifications."""


def next_check(
    verified: bool, created_at: datetime, now: datetime, fast: timedelta = FAST_CHECK
) -> datetime | None:
    """When to ask SES again; None once SES has stopped looking (72 hours) without success.
    `fast`: how often in the first hour."""
    if verified:
        return now + VERIFIED_CHECK
    age = now - created_at
    if age < FAST_CHECKS:
        return now + fast
    if age < SES_GIVES_UP:
        return now + SLOW_CHECK
    return None


def first_check(verified: bool, now: datetime) -> datetime | None:
    """When to ask SES about an identity just added: a pending one at the sync's next run (SES
    may find records published beforehand in seconds), then on the schedule of `next_check`."""
    return next_check(verified, now, now) if verified else now


def changes(old: IdentityState, new: IdentityState) -> list[tuple[str, str]]:
    """The activity events (kind, detail) between two views of an identity."""
    events: list[tuple[str, str]] = []
    if new.verified_for_sending and not old.verified_for_sending:
        events.append(("domain.verified", "SES verified the identity for sending"))
    elif old.verified_for_sending and not new.verified_for_sending:
        events.append(
            ("domain.unverified", f"SES no longer lets it send ({new.verification_status})")
        )
    if new.verification_status != old.verification_status and new.verification_status in (
        "FAILED",
        "TEMPORARY_FAILURE",
    ):
        events.append(("domain.failed", f"verification {new.verification_status}"))
    for kind, before, after in (
        ("dkim", old.dkim_status, new.dkim_status),
        ("mail_from", old.mail_from_status, new.mail_from_status),
    ):
        if after != before and after in ("SUCCESS", "FAILED", "TEMPORARY_FAILURE"):
            outcome = "verified" if after == "SUCCESS" else "failed"
            events.append((f"{kind}.{outcome}", f"{kind.replace('_', ' ').upper()} {after}"))
    return events


def mail_from_domain(domain: str, value: str) -> str:
    """`mail` or `mail.example.com` under `example.com` → `mail.example.com`."""
    full = value.lower().removesuffix(".")
    if not full.endswith("." + domain):
        full = f"{full}.{domain}"
    refused = InvalidInputError(
        f"MAIL FROM {value!r}: use a subdomain such as mail.{domain}", "mail_from"
    )
    if full.count(".") < domain.count(".") + 1:
        raise refused
    try:
        return normalize_domain(full).ascii
    except InvalidInputError as exc:
        raise refused from exc


@dataclass(frozen=True, slots=True)
class Address:
    local: str
    domain: DomainName

    def __str__(self) -> str:
        return f"{self.local}@{self.domain.ascii}"


def parse_address(value: str) -> Address:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local:
        raise InvalidInputError(f"{value!r} is not an address: expected local-part@domain")
    if not local.isascii() or any(c.isspace() or not c.isprintable() for c in local):
        raise InvalidInputError(
            f"{value!r}: the local part must be printable ASCII (SES cannot deliver SMTPUTF8)"
        )
    if len(local) > 64:
        raise InvalidInputError(f"{value!r}: the local part is longer than 64 characters")
    return Address(local, normalize_domain(domain))


@dataclass(frozen=True, slots=True)
class DomainSync:
    """A domain as it is after asking SES, and the changes (kind, detail) SES reported."""

    domain: DomainInfo
    events: list[tuple[str, str]]


class Domains:
    """Operations on domains and addresses, for the CLI, the API and the background sync."""

    def __init__(
        self, db: Database, ses: SesIdentities, secret_key: bytes, settings: Settings
    ) -> None:
        self._db = db
        self._ses = ses
        self._secret_key = secret_key
        self._settings = settings
        self._fast = min(FAST_CHECK, timedelta(seconds=settings.identity_sync_interval))

    def _next_check(
        self, state: IdentityState, created_at: datetime, now: datetime
    ) -> datetime | None:
        if state.verified_for_sending and state.mail_from_status == "PENDING":
            return now + self._fast  # SES is still looking for the MAIL FROM MX (72 hours)
        return next_check(state.verified_for_sending, created_at, now, self._fast)

    def records(self, domain: DomainInfo) -> list[DnsRecord]:
        return records.domain_records(
            domain.name,
            domain.region,
            domain.state,
            domain.dkim_public_key,
            self._settings.dmarc_report_address,
        )

    async def add(
        self, tenant_name: str, value: str, dkim: str = "easy", mail_from: str | None = None
    ) -> DomainInfo:
        name = normalize_domain(value)
        tenant = await tenants.get_tenant(self._db, tenant_name)
        existing = await store.find_domain(self._db, name.ascii)
        if existing is not None:
            if existing.tenant != tenant.name:
                raise ConflictError(f"domain {name} belongs to another tenant")
            raise ConflictError(f"domain {name} is already added")
        if dkim not in ("easy", "byodkim"):
            raise InvalidInputError("DKIM must be easy or byodkim", "dkim")
        if mail_from:
            mail_from_domain(name.ascii, mail_from)  # a bad value is refused before SES is asked
        now = datetime.now(UTC)
        selector = private_key = public_key = None
        if dkim == "byodkim":
            selector = f"gw{now:%Y%m}"
            private_key, public_key = await asyncio.to_thread(crypto.new_dkim_key)
        byodkim = (selector, private_key) if selector and private_key else None
        state = await self._ses.create(tenant.name, name.ascii, byodkim)
        await store.insert_domain(
            self._db,
            tenant.id,
            {
                "name": name.ascii,
                "display_name": name.unicode,
                "region": await self._ses.region(tenant.name),
                "dkim_mode": dkim,
                "dkim_selector": selector,
                "dkim_private_key": crypto.encrypt(self._secret_key, private_key)
                if private_key
                else None,
                "dkim_public_key": public_key,
                "created_at": now,
                "checked_at": now,
                "verified_at": now if state.verified_for_sending else None,
                "next_check_at": first_check(state.verified_for_sending, now),
                **store.state_columns(state),
            },
        )
        if mail_from:
            return await self.set_mail_from(name.ascii, mail_from)
        return await store.get_domain(self._db, name.ascii)

    async def set_mail_from(self, value: str, mail_from: str) -> DomainInfo:
        """Use a custom MAIL FROM domain (SES falls back to its own while the MX is missing)."""
        domain = await self.get(value)
        mail_from_name = mail_from_domain(domain.name, mail_from)
        try:
            await self._ses.set_mail_from(domain.tenant, domain.name, mail_from_name)
        except SesError as exc:
            raise SesPermanentError(
                exc.code,
                f"{domain.name} is added, but SES refused the custom MAIL FROM "
                f"{mail_from_name} ({exc}): set the MAIL FROM subdomain again later",
            ) from exc
        state = await self._ses.get(domain.tenant, domain.name)
        if state is not None:  # due at the sync's next run: SES now looks for the MX
            now = datetime.now(UTC)
            await store.update_domain(self._db, domain.id, state=state, next_check_at=now)
        return await self.get(domain.name)

    async def get(self, value: str) -> DomainInfo:
        return await store.get_domain(self._db, normalize_domain(value).ascii)

    async def check(self, value: str, checker: DnsChecker) -> tuple[DomainInfo, list[RecordCheck]]:
        """Look the domain's records up in DNS: what is still wrong, record by record."""
        domain = await self.get(value)
        dkim_verified = domain.state.dkim_status == "SUCCESS"
        return domain, await checker.check(self.records(domain), dkim_verified=dkim_verified)

    async def sync(self, domain: DomainInfo) -> list[tuple[str, str]]:
        """Ask SES about the domain now; store its answer and record what changed."""
        now = datetime.now(UTC)
        state = await self._ses.get(domain.tenant, domain.name)
        tenant = await tenants.get_tenant(self._db, domain.tenant)
        if state is None:
            events = [("domain.missing", "SES no longer has this identity: add the domain again")]
            values = {
                "state": IdentityState(False, "NOT_FOUND"),
                "checked_at": now,
                "next_check_at": None,
            }
        else:
            events = changes(domain.state, state)
            verified_at = domain.verified_at
            if state.verified_for_sending and not domain.state.verified_for_sending:
                verified_at = now
            values = {
                "state": state,
                "checked_at": now,
                "verified_at": verified_at,
                "next_check_at": self._next_check(state, domain.created_at, now),
            }
        activity = [
            (tenant.id, kind, domain.name, detail, kind in NOTIFIED) for kind, detail in events
        ]
        stored = await store.update_domain(
            self._db, domain.id, activity=activity, now=now, was=domain.state, **values
        )
        if not stored:  # another instance stored (and recorded) this change first
            return []
        for kind, detail in events:
            log_event(log, kind, domain=domain.name, tenant=domain.tenant, detail=detail)
        return events

    async def sync_now(self, domain: DomainInfo) -> DomainSync:
        """`sync`, then the domain read back."""
        events = await self.sync(domain)
        return DomainSync(await self.get(domain.name), events)

    async def sync_due(self) -> int:
        """Sync every domain and address whose check is due; return how many were asked.

        An AWS account whose SES fails is skipped for the rest of the round (its identities
        stay due), and the others' are synced: the round then raises, saying which failed."""
        now = datetime.now(UTC)
        failed: dict[str, SesError] = {}
        asked = 0
        for domain in await store.due_domains(self._db, now):
            asked += await self._sync_in_account(failed, domain.tenant, partial(self.sync, domain))
        for address in await store.due_addresses(self._db, now):
            synced = partial(self.sync_address, address)
            asked += await self._sync_in_account(failed, address.tenant, synced)
        if failed:
            raise SesTransientError(
                "IdentitySync", "; ".join(f"AWS account {a}: {e}" for a, e in failed.items())
            )
        return asked

    async def _sync_in_account(
        self, failed: dict[str, SesError], tenant: str, sync: Callable[[], Awaitable[object]]
    ) -> int:
        """Run `sync` unless the tenant's account failed this round; 1 if it ran."""
        account = await self._ses.account(tenant)
        if account in failed:
            return 0
        try:
            await sync()
        except SesError as exc:
            failed[account] = exc
        return 1

    async def remove(self, value: str) -> tuple[DomainInfo, int]:
        """Delete the SES identity and our records; fail what is still queued from it."""
        domain = await self.get(value)
        await self._ses.delete(domain.tenant, domain.name)
        for address in await store.list_addresses(self._db, domain=domain.name):
            if address.ses_identity:
                await self._ses.delete(domain.tenant, address.address)
        now = datetime.now(UTC)
        tenant = await tenants.get_tenant(self._db, domain.tenant)
        failed = await queue.fail_pending_from_domain(
            self._db, tenant.id, domain.name, f"the sending domain {domain.name} was removed", now
        )
        await store.delete_domain(self._db, domain.id)
        return domain, failed

    async def set_restricted(self, value: str, restricted: bool) -> DomainInfo:
        domain = await self.get(value)
        await store.update_domain(self._db, domain.id, restrict_to_addresses=restricted)
        return await self.get(value)

    async def set_tracking(
        self,
        value: str,
        open_tracking: bool | None = None,
        click_tracking: bool | None = None,
        unsubscribe: bool | None = None,
        tracking_host: str | None = None,
    ) -> DomainInfo:
        """Turn open and click tracking and the unsubscribe header on or off (None: as it is);
        `tracking_host` "" goes back to `PUBLIC_URL`'s host."""
        if unsubscribe and urlsplit(self._settings.base_url).scheme != "https":
            raise InvalidInputError(
                "the unsubscribe header needs https links (RFC 8058), and tracking links take "
                f"their scheme from PUBLIC_URL, which is {self._settings.base_url}: set an https "
                "PUBLIC_URL first",
                "unsubscribe",
            )
        domain = await self.get(value)
        changes: dict[str, Any] = {
            name: setting
            for name, setting in (
                ("open_tracking", open_tracking),
                ("click_tracking", click_tracking),
                ("unsubscribe", unsubscribe),
            )
            if setting is not None
        }
        if tracking_host is not None:
            try:
                host = normalize_domain(tracking_host).ascii if tracking_host else None
            except InvalidInputError as exc:
                raise InvalidInputError(f"tracking host: {exc}", "tracking_host") from exc
            changes["tracking_host"] = host
        await store.update_domain(self._db, domain.id, **changes)
        return await self.get(value)

    async def update(
        self,
        value: str,
        restrict_to_addresses: bool | None = None,
        mail_from: str | None = None,
        open_tracking: bool | None = None,
        click_tracking: bool | None = None,
        unsubscribe: bool | None = None,
        tracking_host: str | None = None,
    ) -> DomainInfo:
        """Change the domain's options (None: as it is); SES is asked last, once the other
        values are accepted."""
        domain = await self.get(value)
        if mail_from is not None:
            mail_from_domain(domain.name, mail_from)
        tracking = (open_tracking, click_tracking, unsubscribe, tracking_host)
        if tracking != (None,) * 4:
            domain = await self.set_tracking(domain.name, *tracking)
        if restrict_to_addresses is not None:
            domain = await self.set_restricted(domain.name, restrict_to_addresses)
        if mail_from is not None:
            domain = await self.set_mail_from(domain.name, mail_from)
        return domain

    async def add_address(self, value: str, verify_email: bool = False) -> AddressInfo:
        address = parse_address(value)
        domain = await store.find_domain(self._db, address.domain.ascii)
        if domain is None:
            raise NotFoundError(
                f"no domain {address.domain}: add it first (`ses-gateway domain add`)"
            )
        tenant = await tenants.get_tenant(self._db, domain.tenant)
        now = datetime.now(UTC)
        state = IdentityState(False, "NOT_STARTED")
        if verify_email:
            state = await self._ses.create(tenant.name, str(address))
        await store.insert_address(
            self._db,
            domain,
            tenant.id,
            {
                "address": str(address),
                "ses_identity": verify_email,
                "verified_for_sending": state.verified_for_sending,
                "verification_status": state.verification_status if verify_email else None,
                "created_at": now,
                "checked_at": now if verify_email else None,
                "next_check_at": first_check(state.verified_for_sending, now)
                if verify_email
                else None,
            },
        )
        found = await store.find_address(self._db, str(address))
        assert found is not None
        return found

    async def sync_address(self, address: AddressInfo) -> list[tuple[str, str]]:
        now = datetime.now(UTC)
        state = await self._ses.get(address.tenant, address.address)
        tenant = await tenants.get_tenant(self._db, address.tenant)
        verified = bool(state and state.verified_for_sending)
        status = state.verification_status if state else "NOT_FOUND"
        events: list[tuple[str, str]] = []
        if verified and not address.verified_for_sending:
            events.append(("address.verified", "SES verified the address for sending"))
        elif status in ("FAILED", "NOT_FOUND") and status != address.verification_status:
            events.append(("address.failed", f"verification {status}"))
        await store.update_address(
            self._db,
            address.id,
            verified_for_sending=verified,
            verification_status=status,
            checked_at=now,
            next_check_at=next_check(verified, address.created_at, now, self._fast)
            if state
            else None,
        )
        for kind, detail in events:
            await activity_store.record_activity(
                self._db, tenant.id, kind, address.address, detail, now, notify=kind in NOTIFIED
            )
        return events

    async def remove_address(self, value: str) -> AddressInfo:
        address = await store.find_address(self._db, str(parse_address(value)))
        if address is None:
            raise NotFoundError(f"no address {value}")
        if address.ses_identity:
            await self._ses.delete(address.tenant, address.address)
        await store.delete_address(self._db, address.id)
        return address


SYNC_LEASE = "identity-sync"
