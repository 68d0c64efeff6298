"""Mail with a history, for the tests of what counts it: messages queued and sent through the
spool, what SES reports about them ingested as SNS delivers it (`gateway.events.ingest`), and
SMTP refusals as the server records them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from config import Settings
from gateway.core.types.messages import RecipientState
from gateway.core.types.tenants import RefusalRecord
from gateway.feedback import events
from gateway.storage.database import Database
from gateway.storage.refusals import record_refusals
from tests.support import sesevents
from tests.support.messages import attempt, queued
from tests.support.site import Site

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
_sns = count(1)


async def sent(
    db: Database, tenant_id: int, recipients: Sequence[str], at: datetime, mail_from: str
) -> str:
    """A message accepted at `at` and sent to every recipient at once: its queue id (SES's
    message id is `ses-<queue id>`)."""
    queue_id = await queued(db, tenant_id, recipients, at, mail_from=mail_from)
    await attempt(db, queue_id, RecipientState.SENT, at)
    return queue_id


async def reported(
    db: Database, settings: Settings, queue_id: str, address: str, name: str, at: datetime
) -> None:
    """SES reports `name` (delivery, delivery_delay, open, click, bounce, complaint) about a
    recipient of the message, at `at`."""
    payload = sesevents.about(name, f"ses-{queue_id}", address, at)
    result = await events.ingest(db, settings, f"sns-traffic-{next(_sns)}", TOPIC, payload, at)
    assert not result.duplicate


async def refused(db: Database, tenant_id: int, sender: str, at: datetime, times: int = 1) -> None:
    """The SMTP server refused `times` commands of the tenant's sender at `at`."""
    record = RefusalRecord(tenant_id, None, "rate", sender, None, "127.0.0.1", "451 4.7.0", at)
    await record_refusals(db, [record] * times)


CARD = re.compile(r'<div class="stat (\w+)">\s*<div class="value">([\d,]+)</div>')


def counts(html: str) -> dict[str, int]:
    """The stat cards of the page: {"sent": 4, ...}."""
    return {name: int(value.replace(",", "")) for name, value in CARD.findall(html)}


@dataclass
class Traffic:
    acme: int
    other: int
    now: datetime


async def two_tenants(site: Site) -> Traffic:
    """Mail of two tenants, for the dashboard and the stats: two hours ago acme sent 3
    recipients from example.com (a delivered, opened and clicked; in another message b bounced,
    c delayed) and one from shop.example (d complained), and 2 of its commands were refused;
    other sent 4 recipients from o.test, all delivered. Three days ago acme sent one more.
    Acme's counts of the last 24 hours are `ACME_DAY`."""
    db, settings = site.db, site.services.settings
    acme, other = await site.tenant("acme"), await site.tenant("other")
    for tenant, domain in (("acme", "example.com"), ("acme", "shop.example"), ("other", "o.test")):
        await site.services.domains.add(tenant, domain)
    now = datetime.now(UTC)
    at = now - timedelta(hours=2)
    opened = await sent(db, acme, ["a@x.test"], at, "app@example.com")
    for name in ("delivery", "open", "click"):
        await reported(db, settings, opened, "a@x.test", name, at)
    failed = await sent(db, acme, ["b@x.test", "c@x.test"], at, "app@example.com")
    await reported(db, settings, failed, "b@x.test", "bounce", at)
    await reported(db, settings, failed, "c@x.test", "delivery_delay", at)
    second = await sent(db, acme, ["d@x.test"], at, "news@shop.example")
    await reported(db, settings, second, "d@x.test", "complaint", at)
    await refused(db, acme, "app@example.com", at, times=2)
    theirs = await sent(db, other, ["e@y.test", "f@y.test", "g@y.test", "h@y.test"], at, "z@o.test")
    for address in ("e@y.test", "f@y.test", "g@y.test", "h@y.test"):
        await reported(db, settings, theirs, address, "delivery", at)
    await sent(db, acme, ["old@x.test"], now - timedelta(days=3), "app@example.com")
    return Traffic(acme, other, now)


ACME_DAY = {
    "sent": 4,
    "delivered": 1,
    "bounced": 1,
    "complained": 1,
    "opened": 1,
    "clicked": 1,
    "rejected": 2,
    "deferred": 1,
}
