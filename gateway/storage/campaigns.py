"""Campaigns and their recipients: the campaign rows, the recipients a launch materialises
(one row per campaign and address: the unique key drops an address a second list repeats),
the sender's steps (take a batch, mark what became of it), and the figures of a campaign read
through its recipients' queue ids.

Why a queue id is chosen before its message is stored: the sender marks a batch `spooling` with
their queue ids in one transaction, then stores each message under its id, then marks it
`queued`. After a crash a `spooling` row is either stored (its id is in `messages`: mark it) or
not (store it again under the same id; the primary key refuses a second copy), so nobody gets a
campaign's message twice and nobody is missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    delete,
    distinct,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.core.exceptions import NotFoundError
from gateway.core.types.campaigns import CampaignInfo, CampaignRecipient, Report
from gateway.core.types.events import EventKind
from gateway.core.types.messages import RecipientState
from gateway.storage.database import Database
from gateway.storage.models import (
    Campaign,
    Contact,
    Message,
    Recipient,
    RecipientEvent,
    Suppression,
    Tenant,
    TrackingEvent,
)
from gateway.storage.models import CampaignRecipient as RecipientRow

RowTable = cast(Table, RecipientRow.__table__)
"""The table itself, for updates of many rows by `bindparam`."""

_CAMPAIGN = select(
    Campaign.id,
    Campaign.tenant_id,
    Tenant.name,
    Campaign.name,
    Campaign.template_id,
    Campaign.list_ids,
    Campaign.exclude_list_id,
    Campaign.sender,
    Campaign.reply_to,
    Campaign.send_at,
    Campaign.time_zone,
    Campaign.state,
    Campaign.subject,
    Campaign.html,
    Campaign.text,
    Campaign.recipients,
    Campaign.created_at,
    Campaign.launched_at,
    Campaign.finished_at,
).join(Tenant, Tenant.id == Campaign.tenant_id)


def _campaign(row: Any) -> CampaignInfo:
    return CampaignInfo(*row)


async def add_campaign(db: Database, **values: Any) -> int:
    async with db.begin() as conn:
        result = await conn.execute(insert(Campaign).values(**values).returning(Campaign.id))
        return int(result.scalar_one())


async def get_campaign(db: Database, campaign_id: int) -> CampaignInfo:
    async with db.read() as conn:
        row = (await conn.execute(_CAMPAIGN.where(Campaign.id == campaign_id))).first()
    if row is None:
        raise NotFoundError(f"no campaign {campaign_id}")
    return _campaign(row)


async def list_campaigns(
    db: Database, tenant_id: int | None = None, states: Sequence[str] = ()
) -> list[CampaignInfo]:
    """Newest first; of one tenant (None: every tenant's); in `states` (empty: any)."""
    query = _CAMPAIGN.order_by(Campaign.id.desc())
    if tenant_id is not None:
        query = query.where(Campaign.tenant_id == tenant_id)
    if states:
        query = query.where(Campaign.state.in_(states))
    async with db.read() as conn:
        return [_campaign(row) for row in await conn.execute(query)]


async def change_state(
    db: Database, campaign_id: int, before: Iterable[str], after: str, **values: Any
) -> bool:
    """Move the campaign to `after` (with `values`) if it is in one of `before`: whether it
    was (two instances never both take the same step)."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.state.in_(tuple(before)))
            .values(state=after, **values)
        )
    return bool(result.rowcount)


async def start_due(db: Database, now: datetime) -> None:
    """Scheduled campaigns whose time has come start sending."""
    async with db.begin() as conn:
        await conn.execute(
            update(Campaign)
            .where(Campaign.state == "scheduled", Campaign.send_at <= now)
            .values(state="sending")
        )


# -- recipients ----------------------------------------------------------------------------


def _insert(db: Database) -> Any:
    return sqlite_insert if db.is_sqlite else pg_insert


async def add_recipients(
    db: Database,
    campaign_id: int,
    batch: Sequence[tuple[str, dict[str, str]]],
    at: datetime,
    list_id: int | None = None,
) -> None:
    """(address, fields) of a batch, of list `list_id`; an address the campaign has already
    is left as it is (with the list it came from first)."""
    if not batch:
        return
    rows = [
        {
            "campaign_id": campaign_id,
            "address": address,
            "fields": fields,
            "state": "pending",
            "updated_at": at,
            "list_id": list_id,
        }
        for address, fields in batch
    ]
    statement = _insert(db)(RowTable).on_conflict_do_nothing(
        index_elements=["campaign_id", "address"]
    )
    async with db.begin() as conn:
        await conn.execute(statement, rows)


async def exclude(db: Database, campaign_id: int, list_id: int) -> None:
    """Drop the recipients that are on list `list_id` (whatever their status there)."""
    on_list = select(Contact.email).where(Contact.list_id == list_id)
    async with db.begin() as conn:
        await conn.execute(
            delete(RecipientRow).where(
                RecipientRow.campaign_id == campaign_id, RecipientRow.address.in_(on_list)
            )
        )


async def clear_recipients(db: Database, campaign_id: int) -> None:
    async with db.begin() as conn:
        await conn.execute(delete(RecipientRow).where(RecipientRow.campaign_id == campaign_id))


async def recipient_fields(
    db: Database, campaign_id: int, size: int = 1000
) -> AsyncIterator[list[tuple[str, dict[str, str]]]]:
    """Every recipient's (address, fields), by id, `size` at a time."""
    after = 0
    while True:
        query = (
            select(RecipientRow.id, RecipientRow.address, RecipientRow.fields)
            .where(RecipientRow.campaign_id == campaign_id, RecipientRow.id > after)
            .order_by(RecipientRow.id)
            .limit(size)
        )
        async with db.read() as conn:
            rows = list(await conn.execute(query))
        if not rows:
            return
        yield [(row[1], row[2]) for row in rows]
        after = rows[-1][0]


_RECIPIENT = select(
    RecipientRow.id,
    RecipientRow.address,
    RecipientRow.fields,
    RecipientRow.state,
    RecipientRow.queue_id,
)


async def recipients(
    db: Database, campaign_id: int, state: str | None = None, limit: int = 100, after: int = 0
) -> list[CampaignRecipient]:
    """A page of the campaign's recipients by id (after the id `after`), in `state` (None: any)."""
    query = _RECIPIENT.where(RecipientRow.campaign_id == campaign_id, RecipientRow.id > after)
    if state is not None:
        query = query.where(RecipientRow.state == state)
    async with db.read() as conn:
        rows = await conn.execute(query.order_by(RecipientRow.id).limit(limit))
        return [CampaignRecipient(*row) for row in rows]


async def count_recipients(db: Database, campaign_id: int) -> dict[str, int]:
    """How many recipients are in each state."""
    return await _states(db, RecipientRow.campaign_id == campaign_id)


async def _states(db: Database, chosen: Any) -> dict[str, int]:
    """How many recipients `chosen` (a condition on them) has in each state."""
    query = select(RecipientRow.state, func.count()).where(chosen).group_by(RecipientRow.state)
    async with db.read() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}


async def take(
    db: Database, campaign_id: int, limit: int, ids: Iterable[str], at: datetime
) -> list[CampaignRecipient]:
    """Up to `limit` pending recipients, by id, marked `spooling` under the queue ids `ids`
    (one each), in one transaction; rows another transaction is taking are skipped."""
    query = (
        _RECIPIENT.where(RecipientRow.campaign_id == campaign_id, RecipientRow.state == "pending")
        .order_by(RecipientRow.id)
        .limit(limit)
    )
    if not db.is_sqlite:  # SQLite's write transaction is the whole database's already
        query = query.with_for_update(skip_locked=True)
    async with db.begin() as conn:
        rows = list(await conn.execute(query))
        if not rows:
            return []
        taken = [
            CampaignRecipient(row[0], row[1], row[2], "spooling", queue_id)
            for row, queue_id in zip(rows, ids, strict=False)
        ]
        await conn.execute(
            update(RowTable)
            .where(RowTable.c.id == bindparam("row_id"), RowTable.c.state == "pending")
            .values(state="spooling", queue_id=bindparam("queue"), updated_at=at),
            [{"row_id": r.id, "queue": r.queue_id} for r in taken],
        )
    return taken


async def mark(
    db: Database, marks: Sequence[tuple[int, str, str | None, str | None]], at: datetime
) -> None:
    """(row id, state, detail, queue id) of each recipient done with (a row put back to
    `pending` has no queue id: its message was not stored, and is made again later)."""
    if not marks:
        return
    async with db.begin() as conn:
        await conn.execute(
            update(RowTable)
            .where(RowTable.c.id == bindparam("row_id"))
            .values(
                state=bindparam("new_state"),
                detail=bindparam("new_detail"),
                queue_id=bindparam("new_queue_id"),
                updated_at=at,
            ),
            [
                {"row_id": i, "new_state": s, "new_detail": d, "new_queue_id": q}
                for i, s, d, q in marks
            ],
        )


async def stored(db: Database, queue_ids: Sequence[str]) -> set[str]:
    """Which of `queue_ids` are messages in the spool."""
    if not queue_ids:
        return set()
    async with db.read() as conn:
        rows = await conn.execute(select(Message.id).where(Message.id.in_(queue_ids)))
        return {row[0] for row in rows}


async def campaign_of(db: Database, queue_id: str) -> int | None:
    """The campaign whose message `queue_id` is; None: no campaign's."""
    query = select(RecipientRow.campaign_id).where(RecipientRow.queue_id == queue_id).limit(1)
    async with db.read() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


def _in_flight(tenant_id: int) -> Select[Any]:
    return select(func.count()).where(
        Message.tenant_id == tenant_id, Message.via == "campaign", Message.state == "queued"
    )


async def in_flight(db: Database, tenant_id: int) -> int:
    """The tenant's campaign messages stored and not yet done (waiting for SES). Counted from
    an index of the queue's messages (`ix_messages_tenant_via_state`), never from a campaign's
    recipients, which may be many, nor from the rows of every queued message."""
    async with db.read() as conn:
        return int((await conn.execute(_in_flight(tenant_id))).scalar_one())


async def waiting(db: Database, campaign_id: int) -> int:
    """The campaign's messages stored and not yet done (waiting for SES)."""
    query = select(func.count()).where(
        Message.id.in_(messages_of(campaign_id)), Message.state == "queued"
    )
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def unwanted(
    db: Database, tenant_id: int, list_ids: Sequence[int], addresses: Sequence[str], at: datetime
) -> dict[str, str]:
    """Of `addresses`, those not to mail now, with why: suppressed (the tenant's or a global
    entry in force) or unsubscribed from one of the lists `list_ids`."""
    if not addresses:
        return {}
    suppressed = select(Suppression.address, Suppression.reason).where(
        Suppression.address.in_(addresses),
        or_(Suppression.tenant_id == tenant_id, Suppression.tenant_id.is_(None)),
        or_(Suppression.expires_at.is_(None), Suppression.expires_at > at),
    )
    unsubscribed = select(Contact.email).where(
        Contact.list_id.in_(list_ids),
        Contact.email.in_(addresses),
        Contact.status == "unsubscribed",
    )
    async with db.read() as conn:
        found = {row[0]: "unsubscribed" for row in await conn.execute(unsubscribed)}
        for address, reason in await conn.execute(suppressed):
            found[address] = f"suppressed ({reason})"
    return found


# -- figures -------------------------------------------------------------------------------


async def report(db: Database, campaign_id: int) -> Report:
    """The campaign's figures (`Report`)."""
    return await _report(db, RecipientRow.campaign_id == campaign_id)


async def list_report(db: Database, list_id: int, campaign_id: int | None = None) -> Report:
    """The figures of the recipients made from list `list_id`: of every campaign (None), or of
    one (its share of that campaign's figures)."""
    chosen = RecipientRow.list_id == list_id
    if campaign_id is not None:
        chosen = and_(chosen, RecipientRow.campaign_id == campaign_id)
    return await _report(db, chosen)


def refused_of(campaign_id: int) -> Select[Any]:
    """The times its recipients were refused by the policy (the dashboard's `rejected`)."""
    return select(RecipientRow.updated_at.label("at")).where(
        RecipientRow.campaign_id == campaign_id, RecipientRow.state == "refused"
    )


def messages_of(campaign_id: int) -> Select[Any]:
    """The queue ids of the campaign's messages, as a subquery (the dashboard's filter)."""
    return select(RecipientRow.queue_id).where(
        RecipientRow.campaign_id == campaign_id, RecipientRow.queue_id.is_not(None)
    )


async def _report(db: Database, chosen: Any) -> Report:
    """The figures of the campaign recipients `chosen` (a condition on their rows)."""
    ours = (
        select(Recipient.id)
        .join(RecipientRow, RecipientRow.queue_id == Recipient.message_id)
        .where(chosen)
    )
    sent = select(func.count()).where(
        Recipient.id.in_(ours), Recipient.state == RecipientState.SENT.value
    )

    def ses(kind: EventKind) -> Any:
        query = select(func.count(distinct(RecipientEvent.recipient_id))).where(
            RecipientEvent.recipient_id.in_(ours), RecipientEvent.kind == kind.value
        )
        if kind is EventKind.BOUNCE:  # as the dashboard counts them: not the transient ones
            query = query.where(
                or_(RecipientEvent.bounce_type.is_(None), RecipientEvent.bounce_type != "Transient")
            )
        return query

    def people(kind: EventKind) -> Any:
        return and_(
            TrackingEvent.recipient_id.in_(ours),
            TrackingEvent.kind == kind.value,
            TrackingEvent.machine.is_(None),
        )

    def tracked(kind: EventKind) -> Any:
        return select(func.count(distinct(TrackingEvent.recipient_id)), func.count()).where(
            people(kind)
        )

    links = (
        select(TrackingEvent.url, func.count(distinct(TrackingEvent.recipient_id)), func.count())
        .where(people(EventKind.CLICK))
        .group_by(TrackingEvent.url)
        .order_by(func.count().desc(), TrackingEvent.url)
    )
    states = await _states(db, chosen)
    async with db.read() as conn:
        figures = [
            (await conn.execute(q)).scalar_one()
            for q in (
                sent,
                ses(EventKind.DELIVERY),
                ses(EventKind.BOUNCE),
                ses(EventKind.COMPLAINT),
            )
        ]
        opened, opens = (await conn.execute(tracked(EventKind.OPEN))).one()
        clicked, clicks = (await conn.execute(tracked(EventKind.CLICK))).one()
        unsubscribed, _ = (await conn.execute(tracked(EventKind.UNSUBSCRIBE))).one()
        per_link = {row[0]: (row[1], row[2]) for row in await conn.execute(links)}
    return Report(
        recipients=sum(states.values()),
        pending=states.get("pending", 0) + states.get("spooling", 0),
        skipped=states.get("skipped", 0),
        refused=states.get("refused", 0),
        sent=figures[0],
        delivered=figures[1],
        bounced=figures[2],
        complained=figures[3],
        opened=opened,
        opens=opens,
        clicked=clicked,
        clicks=clicks,
        unsubscribed=unsubscribed,
        links=per_link,
    )
