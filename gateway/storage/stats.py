"""What happened to mail over time, for dashboards: counts per time bucket and in total, and the
reputation rates. Each count is one indexed query grouped in SQL, on SQLite and PostgreSQL.

- `sent`: recipients accepted by SES (state `sent`), at the time SES accepted them;
- `delivered`, `complained`: `delivery` and `complaint` events;
- `bounced`: `bounce` events, but Transient ones (auto-replies, full mailboxes);
- `opened`, `clicked`: `open` and `click` events, SES's and people's through the gateway's
  links (machines' are not events);
- `deferred`: `delivery_delay` events (SES could not deliver yet, and keeps trying);
- `rejected`: SMTP commands the gateway refused (`refusals`), when refused.

Events count at their time, as stored (one per recipient an event names). The gateway's own
retries after a transient SES error are not counted: the queue keeps no history of them, only
their current state (`queue.pending_summary` gives the queue's depth).

With a tenant, only its mail; with a `domain` (ASCII, as stored), only mail whose envelope
sender is at that domain itself (not its subdomains): events of addresses that are none of our
recipients do not count then, and refusals count by their sender. With a campaign, only its
messages' recipients and events, and as `rejected` its recipients the policy refused when their
message was to be made (at that time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, cast, func, select

from gateway.core.exceptions import InvalidInputError
from gateway.core.types.events import EventKind
from gateway.core.types.messages import RecipientState
from gateway.core.types.stats import Counts, Rates, Series, SeriesPoint
from gateway.storage import campaigns
from gateway.storage import reputation as reputation_store
from gateway.storage.database import Database
from gateway.storage.models import Message, Recipient, RecipientEvent, Refusal
from gateway.storage.queue import at_domain

MAX_BUCKETS = 1000

_EVENT_KINDS = {
    "delivered": EventKind.DELIVERY,
    "bounced": EventKind.BOUNCE,
    "complained": EventKind.COMPLAINT,
    "opened": EventKind.OPEN,
    "clicked": EventKind.CLICK,
    "deferred": EventKind.DELIVERY_DELAY,
}


def _sources(
    tenant_id: int | None, domain: str | None, campaign_id: int | None = None
) -> dict[str, Select[Any]]:
    """Each count's rows, filtered by tenant, domain and campaign, as their times (`at`)."""
    sent = select(Recipient.updated_at.label("at")).where(
        Recipient.state == RecipientState.SENT.value
    )
    if campaign_id is not None:
        sent = sent.where(Recipient.message_id.in_(campaigns.messages_of(campaign_id)))
    if tenant_id is not None or domain is not None:
        sent = sent.join(Message, Message.id == Recipient.message_id)
    if tenant_id is not None:
        sent = sent.where(Message.tenant_id == tenant_id)
    if domain is not None:
        sent = sent.where(at_domain(Message.mail_from, domain))
    sources = {"sent": sent}
    for name, kind in _EVENT_KINDS.items():
        query = select(RecipientEvent.occurred_at.label("at")).where(
            RecipientEvent.kind == kind.value
        )
        if name == "bounced":
            query = query.where(func.coalesce(RecipientEvent.bounce_type, "") != "Transient")
        if tenant_id is not None:
            query = query.where(RecipientEvent.tenant_id == tenant_id)
        if domain is not None:
            query = (
                query.join(Recipient, Recipient.id == RecipientEvent.recipient_id)
                .join(Message, Message.id == Recipient.message_id)
                .where(at_domain(Message.mail_from, domain))
            )
        if campaign_id is not None:
            ours = select(Recipient.id).where(
                Recipient.message_id.in_(campaigns.messages_of(campaign_id))
            )
            query = query.where(RecipientEvent.recipient_id.in_(ours))
        sources[name] = query
    if campaign_id is not None:  # its recipients the policy refused when their turn came
        sources["rejected"] = campaigns.refused_of(campaign_id)
        return sources
    refused = select(Refusal.created_at.label("at"))
    if tenant_id is not None:
        refused = refused.where(Refusal.tenant_id == tenant_id)
    if domain is not None:
        refused = refused.where(at_domain(Refusal.sender, domain))
    sources["rejected"] = refused
    return sources


def _within(query: Select[Any], since: datetime, until: datetime) -> Any:
    """The rows of a source in [since, until), as a subquery of their times."""
    at = query.selected_columns.at
    return query.where(at >= since, at < until).subquery()


def _bucket(is_sqlite: bool, at: Any, since: datetime, seconds: int) -> Any:
    """The number of the bucket of `at` (a stored UTC time, at or after `since`)."""
    start = int(since.timestamp())
    if is_sqlite:
        return (cast(func.strftime("%s", at), Integer) - start) // seconds
    return cast(func.floor((func.extract("epoch", at) - start) / seconds), BigInteger)


def _check(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInputError("since and until must be aware datetimes", "since")
    if until <= since:
        raise InvalidInputError("until must be after since", "until")


async def series(
    db: Database,
    tenant_id: int | None,
    domain: str | None,
    since: datetime,
    until: datetime,
    bucket: timedelta,
    campaign_id: int | None = None,
) -> Series:
    """The counts per bucket of `bucket` from `since` (to the second) until `until`: every
    bucket, empty ones with zeros. `bucket` is a whole number of seconds, and there are at
    most `MAX_BUCKETS`; else `InvalidInputError`."""
    _check(since, until)
    since = since.astimezone(UTC).replace(microsecond=0)
    seconds = int(bucket.total_seconds())
    if seconds < 1 or bucket != timedelta(seconds=seconds):
        raise InvalidInputError(f"a bucket is a whole number of seconds, not {bucket}", "bucket")
    count = -(-(until - since) // bucket)
    if count > MAX_BUCKETS:
        raise InvalidInputError(f"{count} buckets; at most {MAX_BUCKETS}", "bucket")
    found: dict[int, dict[str, int]] = {}
    async with db.read() as conn:
        for name, query in _sources(tenant_id, domain, campaign_id).items():
            times = _within(query, since, until)
            numbered = select(_bucket(db.is_sqlite, times.c.at, since, seconds).label("n"))
            counted = numbered.subquery()
            grouped = select(counted.c.n, func.count()).group_by(counted.c.n)
            for number, n in await conn.execute(grouped):
                found.setdefault(int(number), {})[name] = n
    points = tuple(
        SeriesPoint(since + i * bucket, Counts(**found.get(i, {}))) for i in range(count)
    )
    return Series(since, until, bucket, points)


async def totals(
    db: Database,
    tenant_id: int | None,
    domain: str | None,
    since: datetime,
    until: datetime,
    campaign_id: int | None = None,
) -> Counts:
    """The counts in [since, until): the sums of `series` over the same span."""
    _check(since, until)
    since = since.astimezone(UTC).replace(microsecond=0)
    counted: dict[str, int] = {}
    async with db.read() as conn:
        for name, query in _sources(tenant_id, domain, campaign_id).items():
            total = select(func.count()).select_from(_within(query, since, until))
            counted[name] = (await conn.execute(total)).scalar_one()
    return Counts(**counted)


async def rates(db: Database, tenant_id: int | None, since: datetime, max_sends: int) -> Rates:
    """Bounces and complaints over the last `max_sends` sends since `since`, of a tenant or
    (None) of every tenant, counted as the reputation guard counts them (`reputation.py`,
    which starts a tenant's window at its last pause by the guard when that is later)."""
    return Rates(*await reputation_store.reputation_counts(db, tenant_id, since, max_sends))
