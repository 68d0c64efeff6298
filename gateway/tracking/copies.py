"""Per-recipient copies: when the sender's domain tracks opens or clicks or adds the unsubscribe
header, each recipient's copy of the stored message is rewritten with its own signed links.

The spool keeps the message as it was submitted; the rewrite happens at delivery, in a thread.
What the rewriter leaves alone (signed or encrypted mail, a message with a `DKIM-Signature`
without `TRACKING_STRIP_DKIM`, a part it cannot re-encode) is recorded once, as an activity event
of the tenant (`tracking.skipped`); a message it does not change at all is sent as it is, in
batches.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from config import Settings
from gateway.core.logs import log_event
from gateway.core.types.messages import Job
from gateway.feedback.suppressions import lookup_key
from gateway.storage import activity as activity_store
from gateway.storage import domains as domain_store
from gateway.storage import senders
from gateway.storage.database import Database
from gateway.tracking.rewrite import Rewrite, Rewritten, rewrite
from gateway.tracking.tokens import LinkKind, Token, host_of, sign, signing_keys

log = logging.getLogger("gateway.tracking")

CACHE_SECONDS = 10.0
"""How long a domain's tracking settings are reused: a change applies within this time."""


def base_url(settings: Settings, tracking_host: str | None) -> str:
    """`<scheme>://<host>` of a domain's links: `PUBLIC_URL`, with the domain's tracking host
    (if it has one) in place of its host and port."""
    base = settings.base_url
    return f"{urlsplit(base).scheme}://{tracking_host}" if tracking_host else base


def unreachable(url: str) -> bool:
    """Whether the URL's host is a loopback or unspecified address, which no mail reader can
    reach."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@dataclass(frozen=True, slots=True)
class Options:
    """What a sending domain tracks, and where its links point."""

    tenant_id: int
    open_tracking: bool
    click_tracking: bool
    unsubscribe: bool
    base_url: str
    """`<scheme>://<host>` of the links: the domain's tracking host, else `PUBLIC_URL`."""


class Copier:
    """The copies of one message, one per recipient."""

    def __init__(self, key: bytes, job: Job, options: Options, strip_dkim: bool) -> None:
        self._key = key
        self._job = job
        self._options = options
        self._strip_dkim = strip_dkim
        self._host = host_of(urlsplit(options.base_url).netloc)
        self._ready: dict[int, bytes] = {}

    def _url(self, kind: LinkKind, recipient_id: int, path: str, url: str = "") -> str:
        token = sign(self._key, Token(kind, self._job.id, recipient_id, self._host, url))
        return f"{self._options.base_url}/{path}/{token}"

    def rewrite(self, recipient_id: int) -> Rewritten:
        """The copy for one recipient (CPU-bound: call it in a thread)."""
        options = self._options
        return rewrite(
            self._job.data,
            Rewrite(
                open_pixel_url=self._url(LinkKind.OPEN, recipient_id, "t/o") + ".gif"
                if options.open_tracking
                else None,
                link=(lambda url: self._url(LinkKind.CLICK, recipient_id, "t/c", url))
                if options.click_tracking
                else None,
                unsubscribe_url=self._url(LinkKind.UNSUBSCRIBE, recipient_id, "u")
                if options.unsubscribe
                else None,
                strip_dkim=self._strip_dkim,
            ),
        )

    def keep(self, recipient_id: int, copy: Rewritten) -> None:
        """Keep a copy made already, for `copy` to hand out once."""
        self._ready[recipient_id] = copy.data

    async def copy(self, recipient_id: int) -> bytes:
        ready = self._ready.pop(recipient_id, None)
        if ready is not None:
            return ready
        return (await asyncio.to_thread(self.rewrite, recipient_id)).data


def _failed(lookup: asyncio.Future[Options | None]) -> bool:
    return lookup.done() and (lookup.cancelled() or lookup.exception() is not None)


class Tracking:
    """Which messages get per-recipient copies, and the copiers that make them."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._keys: tuple[bytes, ...] | None = None
        self._cache: dict[str, tuple[float, asyncio.Future[Options | None]]] = {}
        self._swept_at = 0.0
        self._warned = False

    async def options(self, mail_from: str) -> Options | None:
        """The tracking of the sender's domain (or the nearest parent); None: none at all."""
        # Cached by the domain as given (normalizing it for every message cost 5% of a worker's
        # CPU), as the lookup itself: the messages of one claim ask for it at once.
        domain = mail_from.rpartition("@")[2].lower()
        if not domain:
            return None
        now = time.monotonic()
        entry = self._cache.get(domain)
        if entry is None or entry[0] <= now or _failed(entry[1]):
            if now - self._swept_at > CACHE_SECONDS:  # entries that ran out go, now and then
                self._swept_at = now
                self._cache = {name: kept for name, kept in self._cache.items() if kept[0] > now}
            entry = (now + CACHE_SECONDS, asyncio.ensure_future(self._look_up(mail_from)))
            self._cache[domain] = entry
        return await asyncio.shield(entry[1])

    async def _look_up(self, mail_from: str) -> Options | None:
        facts = await senders.sender_facts(self._db, lookup_key(mail_from))
        info = await domain_store.find_domain(self._db, facts.domain_name)
        if facts.domain_owner is None or info is None:
            return None
        options = Options(
            facts.domain_owner,
            info.open_tracking,
            info.click_tracking,
            info.unsubscribe,
            base_url(self._settings, info.tracking_host),
        )
        if not (options.open_tracking or options.click_tracking or options.unsubscribe):
            return None
        if not self._warned and unreachable(options.base_url):
            self._warned = True
            log_event(
                log,
                "tracking-links-unreachable",
                level=logging.WARNING,
                domain=facts.domain_name,
                base_url=options.base_url,
                note="tracking links point at a loopback address: set PUBLIC_URL",
            )
        return options

    async def copier(self, job: Job) -> Copier | None:
        """The copier of `job` when its sender's domain tracks and the rewriter changes it;
        None: send it as it is, in batches. What the rewriter left alone is recorded on the
        message's first attempt."""
        if not job.recipients:
            return None
        options = await self.options(job.mail_from)
        if options is None:
            return None
        if self._keys is None:
            self._keys = await asyncio.to_thread(signing_keys, self._settings)
        copier = Copier(self._keys[0], job, options, self._settings.tracking_strip_dkim)
        first = await asyncio.to_thread(copier.rewrite, job.recipients[0].id)
        if first.skipped is not None and job.attempts <= 1:
            log_event(log, "tracking-skipped", queue_id=job.id, reason=first.skipped)
            await activity_store.record_activity(
                self._db,
                options.tenant_id,
                "tracking.skipped",
                job.id,
                f"not tracked: {first.skipped}",
                datetime.now(UTC),
            )
        if first.changed:
            copier.keep(job.recipients[0].id, first)
            return copier
        return None
