"""Tenant webhooks: every event of a tenant's messages POSTed as signed JSON to its HTTPS URLs.

`enqueue` queues one event for each enabled webhook of its tenant whose filter takes its type;
`gateway.events.ingest` calls it for SES events, and any other source of events (our own open
and click tracking) calls it the same way. Each worker process runs a `Dispatcher`: it claims
due deliveries under leases (so processes sharing PostgreSQL never send one twice at once),
POSTs them and records every attempt. A 2xx delivers. Anything else (another status, a
redirect, a timeout, a refused connection, a TLS failure) is retried with exponential backoff
and jitter until `WEBHOOK_MAX_AGE` after the event was queued, then given up (`failed`). A 410
Gone disables the webhook and gives up its pending deliveries.

The body is schema version 1 (`payload`), the same on every attempt. Each attempt is signed
afresh: `X-SES-Gateway-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` keyed with the
webhook's secret, the Unix `timestamp` in `X-SES-Gateway-Timestamp`. docs/webhooks.md has both,
and how a receiver verifies them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit
from urllib.request import getproxies

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from config import Settings
from gateway import alerts, metrics
from gateway.crypto import decrypt, encrypt, previous_keys
from gateway.delivery import backoff
from gateway.exceptions import DecryptionError, InvalidInputError
from gateway.logs import log_event, utc_iso
from gateway.storage import tenants
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.types import EventFact, EventKind

log = logging.getLogger("gateway.webhooks")

SCHEMA_VERSION: Final = 1
EVENT_TYPES: Final = tuple(
    kind.value for kind in EventKind if kind not in (EventKind.RECEIVED, EventKind.UNKNOWN)
)
"""The types a webhook may be limited to."""
TEST: Final = "test"
"""The type of `webhook test` events, sent whatever the filter."""
TIMESTAMP_HEADER: Final = "X-SES-Gateway-Timestamp"
SIGNATURE_HEADER: Final = "X-SES-Gateway-Signature"
EVENT_ID_HEADER: Final = "X-SES-Gateway-Event-Id"
EVENT_TYPE_HEADER: Final = "X-SES-Gateway-Event-Type"
USER_AGENT: Final = "ses-gateway-webhooks/1"
MAX_URL_LENGTH: Final = 2000
CONCURRENCY: Final = 16
"""POSTs in flight at once in one process."""
RESPONSE_BYTES: Final = 4096
"""The most of a response body read."""
RESPONSE_KEPT: Final = 500
"""The characters of it recorded with the attempt."""
LEASE_MARGIN: Final = 30.0
"""A claim lasts `WEBHOOK_TIMEOUT` plus this, so it never runs out during its POST."""
PURGE_INTERVAL: Final = 3600.0


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event for the webhooks of `tenant_id`."""

    id: str
    """Unique per event, the same on every attempt (`X-SES-Gateway-Event-Id`): a second
    `enqueue` of the same id changes nothing."""
    type: str
    """One of `EVENT_TYPES`, or `TEST`."""
    tenant_id: int
    occurred_at: datetime
    queue_id: str | None = None
    ses_message_id: str | None = None
    recipients: tuple[EventFact, ...] = ()


@dataclass(frozen=True, slots=True)
class TestResult:
    delivery_id: int
    event_id: str
    state: str
    attempt: store.NewAttempt

    @property
    def outcome(self) -> str:
        """`HTTP 200`, or what went wrong."""
        return self.attempt.error or f"HTTP {self.attempt.status_code}"


# -- Schema and signature ----------------------------------------------------------------------


def payload(event: WebhookEvent, tenant: str, created_at: datetime) -> str:
    """The JSON body of schema version 1 (docs/webhooks.md)."""
    document: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "id": event.id,
        "type": event.type,
        "tenant": tenant,
        "occurred_at": utc_iso(event.occurred_at),
        "created_at": utc_iso(created_at),
        "message": {"queue_id": event.queue_id, "ses_message_id": event.ses_message_id},
        "recipients": [
            {
                "address": fact.address,
                "occurred_at": utc_iso(fact.occurred_at or event.occurred_at),
                "bounce_type": fact.bounce_type,
                "subtype": fact.subtype,
                "status": fact.status,
                "diagnostic": fact.diagnostic,
                "smtp_response": fact.smtp_response,
                "processing_ms": fact.processing_ms,
                "feedback_type": fact.feedback_type,
                "detail": fact.detail,
            }
            for fact in event.recipients
        ],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-SES-Gateway-Signature` value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`
    keyed with the secret's UTF-8 bytes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def new_event_id() -> str:
    return str(uuid.uuid4())


# -- Management ----------------------------------------------------------------------------------


def check_url(url: str, allow_private: bool) -> str:
    """`url` if it can be a webhook: https, with a host, no user or password and, unless
    `allow_private` (`WEBHOOK_ALLOW_PRIVATE`), neither `localhost` nor a non-public IP address;
    `InvalidInputError` says why not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInputError(f"{url!r} is not a URL: {exc}", "url") from exc
    if parts.scheme != "https":
        raise InvalidInputError(
            f"{url!r}: only https:// URLs are accepted (events name recipients; they are not "
            "sent in the clear)",
            "url",
        )
    if not parts.hostname:
        raise InvalidInputError(f"{url!r} names no host", "url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(
            "a webhook URL must not carry a user or password (it would be logged and listed): "
            "receivers authenticate the POSTs by their signature",
            "url",
        )
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise InvalidInputError(
            f"{url!r}: URLs are at most {MAX_URL_LENGTH} characters, no spaces", "url"
        )
    if not allow_private and _private_host(parts.hostname):
        raise InvalidInputError(
            f"{url!r}: {parts.hostname} is not a public address: give a public https URL, or "
            "set SES_GATEWAY_WEBHOOK_ALLOW_PRIVATE=true for receivers on your own network",
            "url",
        )
    return url


def private_address(address: str) -> bool:
    """Whether an IP address is outside the public internet: loopback, private, link-local,
    shared, reserved, unspecified or multicast. `ValueError` if it is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def _private_host(host: str) -> bool:
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return private_address(name)
    except ValueError:
        return False


def check_event_types(types: Iterable[str]) -> tuple[str, ...]:
    """The types of a filter, without repeats; none: every type."""
    chosen = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInputError(
            f"unknown event type {', '.join(unknown)}: choose from {', '.join(EVENT_TYPES)}",
            "events",
        )
    return chosen


async def add(
    db: Database,
    secret_key: bytes,
    tenant: str,
    url: str,
    events: tuple[str, ...],
    *,
    allow_private: bool,
) -> tuple[store.WebhookInfo, str]:
    """Register a webhook for `tenant`; (the webhook, its signing secret in clear, shown once).
    `allow_private`: `WEBHOOK_ALLOW_PRIVATE` (see `check_url`)."""
    owner = await tenants.get_tenant(db, tenant)
    secret = new_secret()
    now = datetime.now(UTC)
    webhook_id = await store.insert_webhook(
        db, owner.id, check_url(url, allow_private), events, encrypt(secret_key, secret), now
    )
    log_event(log, "webhook-added", tenant=tenant, webhook=webhook_id, url=url)
    return await store.get_webhook(db, webhook_id), secret


# -- Queueing and sending ------------------------------------------------------------------------


async def enqueue(db: Database, event: WebhookEvent) -> int:
    """Queue `event` for its tenant's enabled webhooks that take its type; how many deliveries
    were made (none for a webhook that has this event id queued already)."""
    tenant, webhook_ids = await store.subscribers(db, event.tenant_id, event.type)
    if not webhook_ids:
        return 0
    now = datetime.now(UTC)
    body = payload(event, tenant, now)
    return len(await store.insert_deliveries(db, webhook_ids, event.id, event.type, body, now))


def client_context(settings: Settings) -> ssl.SSLContext:
    """The system's trust store, and `WEBHOOK_CA_FILE`'s CAs when set."""
    context = ssl.create_default_context()
    if settings.webhook_ca_file is not None:
        context.load_verify_locations(cafile=settings.webhook_ca_file)
    return context


class PublicResolver(AbstractResolver):
    """DNS without the answers that are not public addresses (`private_address`): a webhook's
    host name is checked each time a connection is made, so that no DNS change can lead the
    POSTs into the gateway's own network. The `HTTPS_PROXY` host, when set, is resolved as is.
    (An IP address in a URL is never resolved: `check_url` checks it.)"""

    def __init__(self) -> None:
        self._dns = ThreadedResolver()
        self._proxy = urlsplit(getproxies().get("https", "")).hostname

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._dns.resolve(host, port, family)
        if host == self._proxy:
            return found
        public = [answer for answer in found if not private_address(answer["host"])]
        if not public:
            raise OSError(
                errno.EACCES, f"{host} has no public address (WEBHOOK_ALLOW_PRIVATE is off)"
            )
        return public

    async def close(self) -> None:
        await self._dns.close()


def _session(context: ssl.SSLContext, allow_private: bool) -> aiohttp.ClientSession:
    resolver = None if allow_private else PublicResolver()
    connector = aiohttp.TCPConnector(ssl=context, limit=CONCURRENCY, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, trust_env=True)


async def post(
    session: aiohttp.ClientSession,
    claim: store.Claim,
    secret_keys: Sequence[bytes],
    time_limit: float,
) -> store.NewAttempt:
    """One signed POST of a claimed delivery; what came of it (never raises for the endpoint's
    failures). `secret_keys`: `SECRET_KEY`, then the previous keys that still decrypt."""
    attempted_at, started = datetime.now(UTC), time.monotonic()
    status: int | None = None
    response_text, error = "", None
    try:
        secret = decrypt(secret_keys[0], claim.secret, secret_keys[1:])
        body = claim.payload.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_ID_HEADER: claim.event_id,
            EVENT_TYPE_HEADER: claim.event_type,
        }
        async with session.post(
            claim.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=time_limit),
        ) as response:
            status = response.status
            data = await response.content.read(RESPONSE_BYTES)
            response_text = data.decode("utf-8", "replace")[:RESPONSE_KEPT]
            if not 200 <= status < 300:
                error = f"HTTP {status} {response.reason or ''}".rstrip()
    except DecryptionError as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {time_limit:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        error = str(exc) or type(exc).__name__
    duration_ms = round((time.monotonic() - started) * 1000)
    return store.NewAttempt(attempted_at, status, response_text, error, duration_ms)


async def conclude(
    db: Database, settings: Settings, claim: store.Claim, attempt: store.NewAttempt, retry: bool
) -> str:
    """Record `attempt` and the delivery's new state, which is returned: delivered on a 2xx;
    else pending until `WEBHOOK_MAX_AGE` (with `retry`), then failed. A 410 disables the webhook."""
    now = attempt.attempted_at
    next_attempt = None
    if attempt.error is None:
        state = store.DELIVERED
    elif attempt.status_code == 410:
        state = store.FAILED
    else:
        deadline = claim.created_at + timedelta(seconds=settings.webhook_max_age)
        state = store.PENDING if retry and now < deadline else store.FAILED
        delay = backoff(
            claim.attempts, settings.webhook_retry_base_delay, settings.webhook_retry_max_delay
        )
        next_attempt = min(now + timedelta(seconds=delay), deadline)
    await store.record(db, claim.delivery_id, attempt, state, next_attempt)
    metrics.webhook_attempts.labels(state).inc()
    fields: dict[str, Any] = {
        "webhook": claim.webhook_id,
        "event_id": claim.event_id,
        "attempts": claim.attempts,
        "status": attempt.status_code,
        "error": attempt.error,
    }
    if attempt.status_code == 410:
        reason = f"the endpoint answered 410 Gone on {utc_iso(now)}"
        await store.disable(db, claim.webhook_id, reason, now)
        log_event(log, "webhook-disabled", level=logging.WARNING, reason=reason, **fields)
    elif state == store.PENDING:
        retry_at = utc_iso(next_attempt) if next_attempt else None
        log_event(log, "webhook-retry", next_attempt=retry_at, **fields)
    else:
        level = logging.INFO if state == store.DELIVERED else logging.WARNING
        log_event(log, f"webhook-{state}", level=level, **fields)
    if attempt.error is not None and (retry or attempt.status_code == 410):
        await alerts.webhook_failing(db, claim, attempt, state, attempt.status_code == 410)
    return state


async def send_test(
    db: Database, settings: Settings, secret_key: bytes, webhook_id: int
) -> TestResult:
    """POST a `test` event to a webhook now, once (not retried), and record the attempt."""
    webhook = await store.get_webhook(db, webhook_id)
    now = datetime.now(UTC)
    event = WebhookEvent(new_event_id(), TEST, 0, now)
    lease = ("test", now + timedelta(seconds=settings.webhook_timeout + LEASE_MARGIN))
    [delivery_id] = await store.insert_deliveries(
        db, [webhook.id], event.id, TEST, payload(event, webhook.tenant, now), now, lease
    )
    [claim] = await store.claimed(db, [delivery_id])
    async with _session(client_context(settings), settings.webhook_allow_private) as session:
        keys = (secret_key, *previous_keys(settings))
        attempt = await post(session, claim, keys, settings.webhook_timeout)
    state = await conclude(db, settings, claim, attempt, retry=False)
    return TestResult(delivery_id, event.id, state, attempt)


class Dispatcher:
    """Claims due deliveries and POSTs them, up to `CONCURRENCY` at once, until `stop()`."""

    def __init__(self, db: Database, settings: Settings, secret_key: bytes, owner: str) -> None:
        self._db = db
        self._settings = settings
        self._secret_keys = (secret_key, *previous_keys(settings))
        self._owner = owner
        self._context = client_context(settings)
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Stop claiming; `run()` then lets the POSTs in flight finish and returns."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        purger = asyncio.create_task(self._purge(), name="webhook-purge")
        try:
            async with _session(self._context, self._settings.webhook_allow_private) as session:
                await self._claim_loop(session)
                if self._inflight:
                    await asyncio.wait(self._inflight)
        finally:
            purger.cancel()
            await asyncio.gather(purger, return_exceptions=True)
            await store.release(self._db, self._owner)

    async def _claim_loop(self, session: aiohttp.ClientSession) -> None:
        lease = timedelta(seconds=self._settings.webhook_timeout + LEASE_MARGIN)
        while not self._stopping:
            self._wake.clear()
            free = CONCURRENCY - len(self._inflight)
            claims: list[store.Claim] = []
            if free > 0:
                now = datetime.now(UTC)
                try:
                    claims = await store.claim(self._db, self._owner, free, now, now + lease)
                except Exception:
                    log.exception("claiming due webhook deliveries failed; trying again shortly")
                for claim in claims:
                    task = asyncio.create_task(
                        self._deliver(session, claim), name=f"webhook-{claim.delivery_id}"
                    )
                    self._inflight.add(task)
                    task.add_done_callback(self._done)
                if claims and len(claims) == free:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.delivery_poll_interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _deliver(self, session: aiohttp.ClientSession, claim: store.Claim) -> None:
        attempt = await post(session, claim, self._secret_keys, self._settings.webhook_timeout)
        try:
            await conclude(self._db, self._settings, claim, attempt, retry=True)
        except Exception:
            # The lease runs out and the delivery is tried again: a duplicate, never a loss.
            log.exception("recording webhook delivery %s failed", claim.delivery_id)

    async def _purge(self) -> None:
        """Finished deliveries go `EVENT_RETENTION_DAYS` after they were queued, like events."""
        keep = timedelta(days=self._settings.event_retention_days)
        while True:
            try:
                purged = await store.purge(self._db, datetime.now(UTC) - keep)
                if purged:
                    log_event(log, "webhook-deliveries-purged", count=purged)
            except Exception:
                log.exception("purging old webhook deliveries failed")
            await asyncio.sleep(PURGE_INTERVAL)
