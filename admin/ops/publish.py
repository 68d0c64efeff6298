"""A domain's DNS records published to the Route 53 hosted zone that holds it: the change set
shown first (`dry_run`), then sent as one batch, waited for until Route 53's nameservers have it
(`INSYNC`), and checked with the live DNS check. The CLI, the panel and the API all call
`publish_domain`.

Nothing is left half made: the batch is all or none, and what the gateway is about to write is
stored before it is sent, so that a process killed while sending leaves a record the next
publish settles from the zone (`gateway.domains.publish.settle`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from admin.ops import domains
from admin.ops.context import Context
from gateway.core.exceptions import InvalidInputError, Route53Error
from gateway.core.types.domains import DomainInfo, PublishedRecord, RecordCheck, RecordSet
from gateway.domains.publish import Action, ChangeSet, choose_zone, plan, settle
from gateway.domains.records import TTL
from gateway.storage.published import published_records, save_published

INSYNC_WAIT = 300.0
"""Seconds to wait for Route 53 to say `INSYNC` (it usually takes under a minute)."""
POLL_INTERVAL = 5.0
"""Seconds between two `GetChange` calls while waiting."""


@dataclass(frozen=True, slots=True)
class Published:
    """What `publish_domain` did: the change set, and, unless it was a dry run, the change sent
    (None: nothing to change), its status and the live DNS check."""

    domain: DomainInfo
    change_set: ChangeSet
    dry_run: bool
    change_id: str | None = None
    status: str | None = None
    """`INSYNC`, or `PENDING` when the wait ran out (Route 53 still applies it)."""
    check: list[RecordCheck] | None = None
    """The live DNS check once the change is in sync (or when nothing had to change)."""


def step_rows(change_set: ChangeSet) -> list[dict[str, Any]]:
    """Each step as the CLI, the panel and the API show it."""
    return [
        {
            "action": step.action.value,
            "type": step.record.type,
            "name": step.record.name,
            "value": step.record.value,
            "found": list(step.found),
            "values": list(step.values),
            "detail": step.detail,
        }
        for step in change_set.steps
    ]


async def publish_domain(
    ctx: Context,
    name: str,
    zone_id: str | None = None,
    *,
    dry_run: bool = False,
    expect: str | None = None,
    wait: float = INSYNC_WAIT,
    progress: Callable[[str], None] | None = None,
) -> Published:
    """Publish the domain's records to its hosted zone (`zone_id`, else the one found). `expect`:
    the fingerprint of the change set the user confirmed; another is refused, nothing sent."""
    if not dry_run:
        ctx.require_write()
    view = await domains.get_domain(ctx, name)
    domain, route53 = view.domain, ctx.services.route53
    zone = choose_zone(domain.name, await route53.zones(domain.tenant), zone_id)
    rrsets = await route53.record_sets(domain.tenant, zone.id)
    stored = await published_records(ctx.db, domain.id)
    settled = settle(stored, rrsets)
    change_set = plan(zone, domain.name, view.records, rrsets, settled)
    if dry_run:
        return Published(domain, change_set, True)
    now = datetime.now(UTC)
    if settled != stored:
        await save_published(ctx.db, domain.id, settled, now)
        await ctx.audit(
            "domain.published",
            domain.name,
            f"settled an interrupted publish to zone {zone.id} from what the zone holds",
            tenant=domain.tenant,
        )
    if expect is not None and expect != change_set.fingerprint:
        raise InvalidInputError(
            "the hosted zone changed since the change set was shown: look at it again", "zone_id"
        )
    if not change_set.changes:
        checked = await domains.check_domain(ctx, domain.name)
        return Published(domain, change_set, False, status="INSYNC", check=checked.records)
    writes = [
        (
            "CREATE" if step.action is Action.CREATE else "UPSERT",
            RecordSet(step.record.name.lower(), step.record.type, step.values),
        )
        for step in change_set.changes
    ]
    before = {(r.name, r.type): r for r in settled if r.zone_id == zone.id}
    pending = {
        (w.name, w.type): PublishedRecord(
            w.name,
            w.type,
            zone.id,
            before[(w.name, w.type)].values if (w.name, w.type) in before else None,
            w.values,
        )
        for _, w in writes
    }
    intent = [r for r in settled if (r.name, r.type) not in pending] + list(pending.values())
    await save_published(ctx.db, domain.id, intent, now)
    try:
        change_id = await route53.change(
            domain.tenant, zone.id, writes, TTL, f"ses-gateway: {domain.name}"
        )
    except Route53Error as exc:
        if not exc.refused:  # no answer: the next publish finds out from the zone
            raise Route53Error(
                exc.code,
                f"{exc}; whether Route 53 made the change is not known: `domain publish "
                f"{domain.name}` again finds out from the zone and goes on",
            ) from exc
        await save_published(ctx.db, domain.id, settled, now)  # Route 53 changed nothing
        raise
    written = [
        PublishedRecord(r.name, r.type, r.zone_id, r.pending or r.values, None) for r in intent
    ]
    await save_published(ctx.db, domain.id, written, datetime.now(UTC))
    counts = ", ".join(
        f"{len([s for s in change_set.steps if s.action is action])} {action}"
        for action in (Action.CREATE, Action.UPDATE, Action.CONFLICT)
    )
    await ctx.audit(
        "domain.published",
        domain.name,
        f"zone {zone.name} ({zone.id}), change {change_id}: {counts}",
        tenant=domain.tenant,
    )
    status = await _in_sync(ctx, domain.tenant, change_id, wait, progress)
    check = None
    if status == "INSYNC":
        check = (await domains.check_domain(ctx, domain.name)).records
    return Published(domain, change_set, False, change_id, status, check)


async def _in_sync(
    ctx: Context,
    tenant: str,
    change_id: str,
    wait: float,
    progress: Callable[[str], None] | None,
) -> str:
    """The change's status once `INSYNC`, or when `wait` seconds have passed."""
    started = time.monotonic()
    while True:
        status = await ctx.services.route53.status(tenant, change_id)
        waited = time.monotonic() - started
        if status == "INSYNC" or waited >= wait:
            return status
        if progress is not None:
            progress(
                f"Route 53 change {change_id}: {status} after {waited:.0f}s (up to {wait:.0f}s)"
            )
        await asyncio.sleep(min(POLL_INTERVAL, max(wait - waited, 0.0)))
