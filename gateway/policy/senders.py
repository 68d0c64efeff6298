"""The facts the sending policy needs, read from storage and kept for a few seconds.

Every MAIL needs the account's pause state and the sender domain's ownership and verification;
reading them once per few seconds instead of once per message keeps the database out of the hot
path. A change is dropped from the cache as soon as this process hears of it (`forget`, from
the change bus, `gateway.runtime.changes`): at once for the changes made by this process and,
on PostgreSQL, by every other; else (SQLite, another process) within `ttl` seconds.

`Directory` is what one SMTP process's policy talks to: these cached facts, and beside them the
refusal log it writes (`refusals.RefusalLog`) and the near-cap alert it raises
(`gateway.feedback.alerts.NearLimit`), started and stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from gateway.core.exceptions import InvalidInputError
from gateway.core.types.changes import Change, Topic
from gateway.core.types.events import SuppressionInfo
from gateway.core.types.messages import Principal
from gateway.core.types.tenants import Account, NetworkInfo, SenderFacts
from gateway.domains.names import normalize_domain
from gateway.feedback.alerts import NearLimit
from gateway.feedback.suppressions import lookup_key
from gateway.policy.refusals import RefusalLog
from gateway.storage import networks, senders, tenants
from gateway.storage import suppressions as suppression_store
from gateway.storage.database import Database

K = TypeVar("K")
V = TypeVar("V")

FACTS_TTL = 5.0


class _TtlCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], Awaitable[V]], ttl: float) -> None:
        self._load = load
        self._ttl = ttl
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        # One read for every caller that misses at once (a campaign's batch submits thousands
        # of messages together: each would read the same facts again).
        loading = self._loading.get(key)
        if loading is not None:
            return await asyncio.shield(loading)
        loading = self._loading[key] = asyncio.ensure_future(self._load(key))
        try:
            value = await asyncio.shield(loading)
        finally:
            dropped = self._loading.get(key) is not loading  # a change came while it was read
            if not dropped:
                del self._loading[key]
        if dropped:
            return value
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (now + self._ttl, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep `value`, read by the caller itself, as a load would."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._ttl, value)

    def drop(self, stale: Callable[[K, V], bool] | None = None) -> None:
        """Forget the entries `stale` says are (every entry when None), and every read under
        way: a value read before the change is not kept."""
        self._loading.clear()
        if stale is None:
            self._entries.clear()
            return
        for key in [k for k, (_, v) in self._entries.items() if stale(k, v)]:
            del self._entries[key]


def _sending_form(address: str) -> str:
    """`local@domain` with the domain in its stored (punycode) form, when it is a valid one."""
    local, _, domain = address.rpartition("@")
    with contextlib.suppress(InvalidInputError):  # else not a sending domain: the policy says so
        domain = normalize_domain(domain).ascii
    return f"{local}@{domain}"


def _under(address: str, domain: str) -> bool:
    """Whether `address` is at `domain` or below it: the only addresses whose sender facts a
    change of the sending domain `domain` (added, changed, removed) can change."""
    host = address.rpartition("@")[2]
    return host == domain or host.endswith(f".{domain}")


async def _suppression(
    db: Database, tenant_id: int, address: str
) -> tuple[str, SuppressionInfo | None]:
    stored = lookup_key(address)
    return stored, await suppression_store.suppressed(db, tenant_id, stored, datetime.now(UTC))


class Directory:
    """Account, sender, network and suppression facts for the policy, cached; with the refusal
    log (`refusals`) and the near-cap alert (`near_limit`) of the same process."""

    def __init__(self, db: Database, ttl: float = FACTS_TTL) -> None:
        self._db = db
        self._accounts: _TtlCache[tuple[int, int | None], Account] = _TtlCache(
            lambda key: tenants.account(db, *key), ttl
        )
        # Keyed by the address as given (lower-cased): normalizing (IDNA, public suffixes) is
        # paid on a miss only, not on every message.
        self._senders: _TtlCache[str, SenderFacts] = _TtlCache(
            lambda address: senders.sender_facts(db, _sending_form(address)), ttl
        )
        self._networks: _TtlCache[None, list[NetworkInfo]] = _TtlCache(
            lambda _: networks.list_networks(db), ttl
        )
        # With the address as stored beside the entry, so that a change of it drops its entries.
        self._suppressions: _TtlCache[tuple[int, str], tuple[str, SuppressionInfo | None]] = (
            _TtlCache(lambda key: _suppression(db, *key), ttl)
        )
        self.refusals = RefusalLog(db)
        self.near_limit = NearLimit(db)

    def start(self) -> None:
        self.refusals.start()
        normalize_domain("example.com")  # loads the Public Suffix List now, not at the first MAIL

    async def stop(self) -> None:
        await self.refusals.stop()

    TOPICS = (Topic.TENANT, Topic.CREDENTIAL, Topic.SUPPRESSION, Topic.SENDER, Topic.NETWORK)
    """The topics whose changes `forget` drops facts for."""

    def forget(self, change: Change) -> None:
        """Drop the cached facts that `change` makes stale (a subscriber of the change bus)."""
        topic, key = change.topic, change.key
        if topic is Topic.TENANT:
            self._accounts.drop(lambda k, _: str(k[0]) == key)
        elif topic is Topic.CREDENTIAL:
            self._accounts.drop(lambda k, _: str(k[1]) == key)
        elif topic is Topic.SUPPRESSION:
            self._suppressions.drop((lambda _, v: v[0] == key) if key else None)
        elif topic is Topic.SENDER:
            self._senders.drop((lambda _, v: _under(v.address, key)) if key else None)
        elif topic is Topic.NETWORK:
            self._networks.drop()
        elif topic is Topic.RESET:
            self._accounts.drop()
            self._senders.drop()
            self._networks.drop()
            self._suppressions.drop()

    async def trusted(self, client: str) -> Principal | None:
        """The tenant whose trusted network holds `client`, as a principal without credential."""
        address = ipaddress.ip_address(client.removeprefix("::ffff:"))
        for network in await self._networks.get(None):
            if address in ipaddress.ip_network(network.cidr):
                return Principal(network.tenant_id, network.tenant)
        return None

    async def suppressed(self, tenant_id: int, address: str) -> SuppressionInfo | None:
        """The suppression entry in force for `address` when `tenant_id` sends to it."""
        return (await self._suppressions.get((tenant_id, address.lower())))[1]

    def not_suppressed(self, tenant_id: int, addresses: Iterable[str]) -> None:
        """Note that no suppression is in force for `addresses` when `tenant_id` sends to them,
        as a read of many at once just found (a campaign's batch): the policy's check of each
        then reads nothing again. A change of the suppression list drops them, as any entry."""
        for address in addresses:
            self._suppressions.put((tenant_id, address.lower()), (lookup_key(address), None))

    async def usage(self, tenant_id: int) -> int:
        """Messages the tenant had accepted today (UTC), by every instance."""
        return await tenants.usage_today(self._db, tenant_id, datetime.now(UTC).date().isoformat())

    async def account(self, principal: Principal) -> Account:
        return await self._accounts.get((principal.tenant_id, principal.credential_id))

    async def sender(self, address: str) -> SenderFacts:
        local, _, domain = address.rpartition("@")
        return await self._senders.get(f"{local}@{domain.lower()}")
