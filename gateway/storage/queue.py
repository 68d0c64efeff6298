"""The durable queue: messages with their recipients and raw bytes, claimed by delivery workers.

A claim is a lease (`lease_owner`, `lease_until`). A worker that dies leaves its lease to expire,
and the message is claimed again. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so several
processes never take the same message; on SQLite every transaction takes the write lock first.

The content (bodies, in chunks for large ones, header copies, subjects) is stored sealed, by
`gateway.storage.content`: the spool's transaction writes it, a claim opens it.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Update,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import TableValuedAlias

from gateway.core.crypto import Sealer
from gateway.core.exceptions import NotFoundError
from gateway.core.types.changes import Change, Topic
from gateway.core.types.messages import (
    Job,
    JobRecipient,
    JobResult,
    MessageStatus,
    NewMessage,
    RecipientState,
    RecipientStatus,
)
from gateway.storage import content
from gateway.storage.changes import NOTIFIED, announce, notification
from gateway.storage.database import Database
from gateway.storage.leases import DueRows
from gateway.storage.models import (
    AwsAccount,
    Base,
    Message,
    MessageBody,
    Recipient,
    Tenant,
    Usage,
    UTCDateTime,
)

QUEUED = "queued"
HELD = "held"
"""Queued, of a paused tenant: out of the claims' way (their index starts with the state), so
that a paused sender's backlog, however long, costs the other tenants' claims nothing."""
DONE = "done"
WAITING = (QUEUED, HELD)
"""Not done yet."""
HOLD_BATCH = 5000
_PENDING = (RecipientState.QUEUED.value, RecipientState.DEFERRED.value)


async def insert_messages(db: Database, sealer: Sealer, messages: Sequence[NewMessage]) -> None:
    """Commit messages, bodies, recipients and the daily usage in one transaction (the spool's
    group commit), the bodies and header copies sealed."""
    # Sealed before the transaction (on SQLite it holds the one write lock), but for the chunks
    # of large bodies: sealed one by one as they are written, so as never to be held whole.
    heads = [content.sealed_head(sealer, m) for m in messages]
    # In the order of their foreign keys (SQLite checks each statement's at once).
    rows: dict[type[Base], list[dict[str, Any]]] = {
        Message: [
            {
                "id": m.id,
                "tenant_id": m.tenant_id,
                "credential_id": m.credential_id,
                "mail_from": m.mail_from,
                "size": m.size,
                "message_id_header": m.message_id_header,
                "sealed_subject": sealer.seal(content.SUBJECT, m.id, m.subject.encode()),
                "headers": head,
                "client_address": m.client_address,
                "client_helo": m.client_helo,
                "tls": m.tls,
                "auth_username": m.auth_username,
                "state": QUEUED,
                "attempts": 0,
                "next_attempt_at": m.not_before or m.created_at,
                "created_at": m.created_at,
                "expires_at": m.expires_at,
                "via": m.via,
            }
            for m, head in zip(messages, heads, strict=True)
        ],
        # The daily cap's count, per tenant per UTC day.
        Usage: [
            {"tenant_id": t, "day": day, "messages": n}
            for (t, day), n in Counter(
                (m.tenant_id, m.created_at.astimezone(UTC).date().isoformat()) for m in messages
            ).items()
        ],
        MessageBody: [
            {"message_id": m.id, "data": sealer.seal(content.BODY, m.id, m.data), "chunks": 0}
            if m.rest is None
            else {"message_id": m.id, "data": b"", "chunks": content.chunk_count(m)}
            for m in messages
        ],
        Recipient: [
            {
                "message_id": m.id,
                "address": address,
                # A suppressed recipient is final from the start: claims never take it.
                "state": (
                    RecipientState.SUPPRESSED if address in m.suppressed else RecipientState.QUEUED
                ).value,
                "last_error": m.suppressed.get(address),
                "attempts": 0,
                "updated_at": m.created_at,
            }
            for m in messages
            for address in m.recipients
        ],
    }
    queued = Change(Topic.QUEUED)

    def insert(connection: Connection) -> None:
        if db.is_sqlite:
            for table, table_rows in rows.items():
                connection.execute(_INSERTS[table], table_rows)
        else:  # one statement, not five round trips
            written = tuple((table, tuple(r[0]) if r else ()) for table, r in rows.items())
            arrays = notification(db, queued)
            for table, names in written:
                arrays |= _arrays(table.__tablename__, names, rows[table])
            connection.execute(_insert_all(written), arrays)
        for message in messages:
            if message.rest is not None:
                content.insert_chunks(connection, sealer, message)

    # A client waits for the commit of any message but a campaign's. On PostgreSQL the commit
    # is one statement (in autocommit), unless the chunks of a large body follow it.
    urgent = any(m.via != "campaign" for m in messages)
    single = all(m.rest is None for m in messages)
    await db.unit(insert, queued, urgent=urgent, single=single)


_INSERTS: dict[type[Base], Executable] = {
    Message: insert(Message),
    Usage: text(
        "INSERT INTO usage (tenant_id, day, messages) VALUES (:tenant_id, :day, :messages) "
        "ON CONFLICT (tenant_id, day) DO UPDATE SET messages = usage.messages + excluded.messages"
    ),
    MessageBody: insert(MessageBody),
    Recipient: insert(Recipient),
}
"""SQLite's statements of `insert_messages`, built once (`DueRows` says why). The usage upsert
is plain text: an upsert construct costs SQLAlchemy a cache key per execution (5% of the SMTP
process's CPU under load)."""


def _unnested(table: type[Base], names: tuple[str, ...], name: str) -> TableValuedAlias:
    """Rows of `table`'s columns `names` as a table `name` in a PostgreSQL statement, from one
    array a column (parameters `<name>_<column>`): the statement is the same however many rows
    it takes, and its parameters are a few."""
    arrays = (  # asyncpg's dialect casts each array to its type (`$1::VARCHAR(32)[]`)
        bindparam(f"{name}_{column}", type_=postgresql.ARRAY(table.__table__.c[column].type))
        for column in names
    )
    return func.unnest(*arrays).table_valued(*names).render_derived(name)


@functools.cache
def _insert_all(written: tuple[tuple[type[Base], tuple[str, ...]], ...]) -> Select[Any]:
    """PostgreSQL's statement of `insert_messages`, for the columns it writes of each table
    (`written`, its rows' keys; a table with no rows has none and no insert): each column's
    values as one array, inserted from `unnest` in a CTE of one statement that also notifies
    (foreign keys are checked at the statement's end). Built once; its parameters are named
    `<table>_<column>`, and `NOTIFIED`'s."""
    ctes = []
    for table, names in written:
        if not names:
            continue
        source = select(*_unnested(table, names, table.__tablename__).c)
        statement = postgresql.insert(table).from_select(
            list(names), source, include_defaults=False
        )
        if table is Usage:
            statement = statement.on_conflict_do_update(
                index_elements=[Usage.tenant_id, Usage.day],
                set_={"messages": Usage.messages + statement.excluded.messages},
            )
        ctes.append(statement.cte(f"new_{table.__tablename__}"))
    return select(NOTIFIED).add_cte(*ctes)


_PAUSED = exists().where(Tenant.id == Message.tenant_id, Tenant.paused_reason.is_not(None))
_DUE = DueRows(Message, and_(Message.state == QUEUED, ~_PAUSED))
"""Queued, and not of a paused tenant. The statements of the delivery path, here and below, are
built once with bind parameters (`DueRows` says why)."""
_CLAIMED = (
    select(
        func.json_group_array(
            func.json_array(
                Message.id,
                Tenant.name,
                Message.mail_from,
                func.hex(MessageBody.data),
                Message.attempts,
                Message.created_at,
                Message.expires_at,
                MessageBody.chunks,
                func.json(  # JSON in JSON, not a string
                    select(
                        func.json_group_array(
                            func.json_array(
                                Recipient.id, Recipient.address, Recipient.attempts, Recipient.state
                            )
                        )
                    )
                    .where(Recipient.message_id == Message.id)
                    .scalar_subquery()
                ),
            )
        )
    )
    .select_from(Message)
    .join(Tenant, Tenant.id == Message.tenant_id)
    .join(MessageBody, MessageBody.message_id == Message.id)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
)
"""SQLite's read of the messages a claim took, with their bodies and every recipient: one row,
a JSON array of the messages, so that the statement takes one step, not one a row and table
(`_json_rows` says why). A body comes in hexadecimal (JSON has no bytes)."""


def _utc(stored: str) -> datetime:
    """A time as SQLite stores it (`2026-12-06 05:50:00.000000`, naive UTC: `UTCDateTime`)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


async def claim(
    db: Database, sealer: Sealer, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[Job]:
    """Lease up to `limit` due messages to `owner`, with their bodies (decrypted; a body in
    chunks is read by `read_chunks` when it is sent) and pending recipients. Messages of a
    paused tenant are not due: they wait, queued, until it is resumed. A body that does not
    decrypt comes empty, with `unreadable` saying why."""
    if not db.is_sqlite:  # one statement, not six round trips
        lease = {"now": now, "limit": limit, "owner": owner, "until": lease_until}
        async with db.statement() as conn:
            claimed = await conn.execute(_CLAIM_ALL, lease)
        return [content.opened(sealer, _job(*row)) for row in claimed]

    def take(connection: Connection) -> list[Job]:
        ids = list(connection.execute(_DUE.pick, {"now": now, "limit": limit}).scalars())
        if not ids:
            return []
        connection.execute(_DUE.take, {"ids": ids, "owner": owner, "until": lease_until})
        jobs = {}
        for row in json.loads(connection.execute(_CLAIMED, {"ids": ids}).scalar_one()):
            message_id, tenant, mail_from, data, attempts, created, expires, chunks, recipients = (
                row
            )
            job = Job(
                message_id,
                tenant,
                mail_from,
                bytes.fromhex(data),
                attempts,
                _utc(created),
                _utc(expires),
                chunks=chunks,
            )
            # By message only, state and order looked at here: with either in SQL, SQLite may
            # walk the index on state (every queued recipient) or the table in id order (every
            # one) rather than these few messages' recipients, a claim then costing as much as
            # the queue is long (docs/performance.md, "A long queue").
            for recipient_id, address, tries, state in sorted(recipients):
                if state in _PENDING:
                    job.recipients.append(JobRecipient(recipient_id, address, tries))
            jobs[job.id] = job
        return [jobs[i] for i in ids if i in jobs]

    return [content.opened(sealer, job) for job in await db.unit(take)]


def _claim_all() -> Select[Any]:
    """PostgreSQL's claim in one statement: the due messages picked (`_DUE`, rows another claim
    holds skipped) and leased, read with their bodies and, as arrays, their pending recipients
    in id order; oldest due first."""
    picked = _DUE.pick_locked.cte("picked").prefix_with("MATERIALIZED")  # picked once
    # `= ANY` of the ids as one array, found once: the messages are then read by their key
    # whatever the planner guesses of the pick (a join with it may read the whole table when a
    # generic plan takes the limit for a tenth of a million due rows).
    ids = func.array(select(picked.c.id).scalar_subquery())  # ARRAY(SELECT ...)
    taken = (
        update(Message)
        .where(Message.id == any_(ids))
        .values(
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until"),
            attempts=Message.attempts + 1,
        )
        .returning(
            Message.id,
            Message.tenant_id,
            Message.mail_from,
            Message.attempts,
            Message.created_at,
            Message.expires_at,
            Message.next_attempt_at,
        )
        .cte("taken")
    )

    pending = (  # one row for each message (an aggregate's), NULLs if none is pending
        select(
            *(
                func.array_agg(postgresql.aggregate_order_by(column, Recipient.id))
                for column in (Recipient.id, Recipient.address, Recipient.attempts)
            )
        )
        .where(Recipient.message_id == taken.c.id, Recipient.state.in_(_PENDING))
        .lateral("pending")
    )
    return (
        select(
            taken.c.id,
            Tenant.name,
            taken.c.mail_from,
            MessageBody.data,
            taken.c.attempts,
            taken.c.created_at,
            taken.c.expires_at,
            MessageBody.chunks,
            *pending.c,
        )
        .join_from(taken, Tenant, Tenant.id == taken.c.tenant_id)
        .join(MessageBody, MessageBody.message_id == taken.c.id)
        .join(pending, true())
        .order_by(taken.c.next_attempt_at)
    )


_CLAIM_ALL = _claim_all()


def _job(
    message_id: str,
    tenant: str,
    mail_from: str,
    data: bytes,
    attempts: int,
    created_at: datetime,
    expires_at: datetime,
    chunks: int,
    *pending: list[Any] | None,
) -> Job:
    """A row of `_CLAIM_ALL` as a job. `pending`: the pending recipients' ids, addresses and
    attempts, NULLs if there are none."""
    recipients = [JobRecipient(*r) for r in zip(*(c or () for c in pending), strict=True)]
    return Job(
        message_id,
        tenant,
        mail_from,
        data,
        attempts,
        created_at,
        expires_at,
        recipients,
        chunks=chunks,
    )


_RENEW = (
    update(Message)
    .where(
        Message.id.in_(bindparam("ids", expanding=True)), Message.lease_owner == bindparam("owner")
    )
    .values(lease_until=bindparam("until"))
)


async def renew(db: Database, owner: str, ids: Sequence[str], lease_until: datetime) -> None:
    """Extend the leases of messages still being delivered."""
    if not ids:
        return
    async with db.begin() as conn:
        await conn.execute(_RENEW, {"ids": list(ids), "owner": owner, "until": lease_until})


async def release(db: Database, owner: str) -> None:
    """Give back every lease of `owner` (at shutdown), so other workers need not wait."""
    async with db.begin() as conn:
        result = await conn.execute(_release(owner, datetime.now(UTC)))
        if result.rowcount:
            await announce(db, conn, Change(Topic.QUEUED))


def _release(owner: str, now: datetime) -> Update:
    """The statement giving back `owner`'s leases. They are all on due messages: a claim takes
    only those, and a message's next attempt moves only as its lease is cleared. Saying so
    bounds the statement by the claims' index (state, next attempt) to the due messages, where
    by state alone it would walk every queued one (a million deferred, say) to find the few
    leased (docs/performance.md, "A long queue"). A lease it misses (the clock set back since
    the claim) runs out, as a dead worker's does."""
    return (
        update(Message)
        .where(Message.state == QUEUED, Message.next_attempt_at <= now)
        .where(Message.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


async def hold(db: Database, tenant_id: int, held: bool) -> int:
    """Set the queued messages of a tenant that is paused aside as held (`held`), or make the
    held ones of a tenant resumed queued again; return how many. A batch per transaction, so
    that a backlog of a million does not keep the spool from committing meanwhile; each batch
    starts where the last one ended on the claims' index (state, next attempt), which holds
    the messages waiting, never the tenant's history. Claims skip the messages of a paused
    tenant either way: holding them spares claims the steps."""
    old, new = (QUEUED, HELD) if held else (HELD, QUEUED)
    after = datetime(1970, 1, 1, tzinfo=UTC)
    total = 0
    while True:
        async with db.begin() as conn:
            rows = (
                await conn.execute(
                    select(Message.id, Message.next_attempt_at)
                    .where(
                        Message.state == old,
                        Message.next_attempt_at >= after,
                        Message.tenant_id == tenant_id,
                    )
                    .order_by(Message.next_attempt_at)
                    .limit(HOLD_BATCH)
                )
            ).all()
            if rows:
                await conn.execute(
                    update(Message)
                    .where(Message.id.in_([row.id for row in rows]))
                    .values(state=new)
                    .execution_options(synchronize_session=False)
                )
                if not held:  # due again: the workers of every process claim them
                    await announce(db, conn, Change(Topic.QUEUED))
        total += len(rows)
        if len(rows) < HOLD_BATCH:
            return total
        after = rows[-1].next_attempt_at


async def hold_paused(db: Database) -> int:
    """Hold the queued messages of every paused tenant (after a pause by the reputation guard,
    which only sets the flag, or a send in flight during the pause and deferred after); return
    how many."""
    async with db.read() as conn:
        paused = list(
            (
                await conn.execute(select(Tenant.id).where(Tenant.paused_reason.is_not(None)))
            ).scalars()
        )
    return sum([await hold(db, tenant_id, True) for tenant_id in paused])


async def bring_forward(db: Database, now: datetime, aws_account: str | None = None) -> int:
    """Make every message waiting for a later attempt due `now` (SES is back after failing);
    return how many. Only the messages of the tenants on the AWS account named `aws_account`
    (None: those on the process's own credentials): another account's SES may still be failing.
    A message not tried yet is waiting for its scheduled time: it stays."""
    on_account = (
        Tenant.aws_account_id.is_(None)
        if aws_account is None
        else Tenant.aws_account_id
        == select(AwsAccount.id).where(AwsAccount.name == aws_account).scalar_subquery()
    )
    tenants = select(Tenant.id).where(on_account)
    async with db.begin() as conn:
        result = await conn.execute(
            update(Message)
            .where(
                Message.state == QUEUED,
                Message.next_attempt_at > now,
                Message.attempts > 0,
                Message.tenant_id.in_(tenants),
            )
            .values(next_attempt_at=now)
        )
        if result.rowcount:
            await announce(db, conn, Change(Topic.QUEUED))
    return result.rowcount


_OUTCOME_COLUMNS = ("id", "state", "ses_message_id", "last_error", "updated_at")
_FINISHED_COLUMNS = ("id", "state", "next_attempt_at", "completed_at")
"""The values of an outcome and of a finished message, in this order in each row of `_OUTCOME`'s
and `_FINISHED`'s JSON (`_json_rows`); `_RECORD_ALL`'s arrays are `r_<column>` and
`m_<column>`."""


def _outcome(given: Any) -> Update:
    """The update of a recipient by an outcome, its values `given` (`.id`, `.state`...: bind
    parameters for SQLite, the columns of `_unnested` rows for PostgreSQL)."""
    return (
        update(Recipient)
        .where(Recipient.id == given.id)
        .values(
            state=given.state,
            ses_message_id=func.coalesce(given.ses_message_id, Recipient.ses_message_id),
            last_error=given.last_error,
            attempts=Recipient.attempts + 1,
            updated_at=given.updated_at,
        )
    )


def _finished(given: Any) -> Update:
    """The update of a message whose attempt has ended, as `_outcome`."""
    return (
        update(Message)
        .where(Message.id == given.id)
        .values(
            state=given.state,
            next_attempt_at=given.next_attempt_at,
            completed_at=given.completed_at,
            lease_owner=None,
            lease_until=None,
        )
    )


def _json_rows(name: str, columns: tuple[str, ...]) -> SimpleNamespace:
    """SQLite's rows for `_outcome` and `_finished`: one JSON array of arrays (the parameter
    `name`), each a row's `columns` in order, read by `json_each`. The update then takes all
    its rows in one step of the statement; with one row a step (`executemany`), each step
    handed the GIL to the event loop's thread and waited to take it back, and SQLAlchemy
    processed each row's parameters in Python (docs/performance.md, "The SQLite writer's
    steps")."""
    rows = func.json_each(bindparam(name)).table_valued("value").alias(name)
    return SimpleNamespace(
        **{c: rows.c.value.op("->>")(literal_column(str(i))) for i, c in enumerate(columns)}
    )


_OUTCOME = _outcome(_json_rows("outcomes", _OUTCOME_COLUMNS))
_FINISHED = _finished(_json_rows("finished", _FINISHED_COLUMNS))
_DROP_BODIES = delete(MessageBody).where(
    MessageBody.message_id.in_(bindparam("ids", expanding=True))
)


def _record_all() -> Select[Any]:
    """PostgreSQL's `record` in one statement: `_OUTCOME`, `_FINISHED` and `_DROP_BODIES` as
    CTEs, the outcomes and the finished messages as arrays (`_unnested`)."""
    ctes = (
        _outcome(_unnested(Recipient, _OUTCOME_COLUMNS, "r").c).cte("outcomes"),
        _finished(_unnested(Message, _FINISHED_COLUMNS, "m").c).cte("finished"),
        delete(MessageBody)
        .where(
            MessageBody.message_id
            == any_(bindparam("ids", type_=postgresql.ARRAY(MessageBody.message_id.type)))
        )
        .cte("dropped"),
    )
    return select(literal(1)).add_cte(*ctes)


_RECORD_ALL = _record_all()


def _arrays(
    name: str, columns: tuple[str, ...], rows: list[dict[str, Any]], prefix: str = ""
) -> dict[str, Any]:
    """`rows` (each keyed `<prefix><column>`) as one array a column: the parameters
    `<name>_<column>` of `_unnested` rows."""
    return {f"{name}_{c}": [row[prefix + c] for row in rows] for c in columns}


def _json(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    prefix: str,
    stored: Callable[[Any], Any] | None,
) -> str:
    """`rows` (each keyed `<prefix><column>`) as the JSON text of `_json_rows`, times `stored`
    as SQLite stores them (`default`: what JSON has no type for)."""
    return json.dumps([[row[prefix + c] for c in columns] for row in rows], default=stored)


async def record(db: Database, results: Sequence[JobResult], keep_bodies: bool) -> None:
    """Store the outcomes of delivery attempts; a message whose recipients are all final is done.
    A partial result stores its outcomes only."""
    outcomes = [
        {
            "r_id": o.recipient_id,
            "r_state": o.state.value,
            "r_ses_message_id": o.ses_message_id,
            "r_last_error": o.error,
            "r_updated_at": r.finished_at,
        }
        for r in results
        for o in r.outcomes
    ]
    finished = [
        {
            "m_id": r.message_id,
            "m_state": QUEUED if r.next_attempt_at else DONE,
            "m_next_attempt_at": r.next_attempt_at or r.finished_at,
            "m_completed_at": None if r.next_attempt_at else r.finished_at,
        }
        for r in results
        if not r.partial
    ]
    dropped = [] if keep_bodies else [f["m_id"] for f in finished if f["m_state"] == DONE]
    if not db.is_sqlite:  # one statement, not five round trips
        arrays = _arrays("r", _OUTCOME_COLUMNS, outcomes, "r_")
        arrays |= _arrays("m", _FINISHED_COLUMNS, finished, "m_") | {"ids": dropped}
        async with db.statement() as conn:
            await conn.execute(_RECORD_ALL, arrays)
        return

    def write(connection: Connection) -> None:
        # Times as SQLAlchemy's own processor for `UTCDateTime` writes them, so that they
        # compare with the others as text.
        dialect = connection.dialect
        stored = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        if outcomes:
            rows = _json(outcomes, _OUTCOME_COLUMNS, "r_", stored)
            connection.execute(_OUTCOME, {"outcomes": rows})
        if finished:
            rows = _json(finished, _FINISHED_COLUMNS, "m_", stored)
            connection.execute(_FINISHED, {"finished": rows})
        if dropped:
            connection.execute(_DROP_BODIES, {"ids": dropped})

    await db.unit(write)


async def purge_bodies(db: Database, completed_before: datetime) -> int:
    """Delete the bodies of messages completed before the given time; return how many."""
    finished = select(Message.id).where(
        Message.state == DONE, Message.completed_at < completed_before
    )
    async with db.begin() as conn:
        result = await conn.execute(delete(MessageBody).where(MessageBody.message_id.in_(finished)))
    return result.rowcount


async def pending_count(db: Database) -> int:
    return (await pending_summary(db))[0]


async def pending_summary(
    db: Database, tenant_id: int | None = None, now: datetime | None = None
) -> tuple[int, datetime | None]:
    """Messages waiting for delivery, and when the oldest of them was accepted: of every
    tenant, or (`tenant_id`) of one. A message scheduled for later (`scheduled_at`, not tried
    yet) is waiting, but counts as accepted at its time, and not at all before it: it is not
    late."""
    now = now or datetime.now(UTC)
    scheduled = and_(Message.attempts == 0, Message.next_attempt_at > Message.created_at)
    accepted = case(
        (and_(scheduled, Message.next_attempt_at > now), None),
        (scheduled, Message.next_attempt_at),
        else_=Message.created_at,
    )
    query = select(func.count(), func.min(accepted)).where(Message.state.in_(WAITING))
    if tenant_id is not None:
        query = query.where(Message.tenant_id == tenant_id)
    async with db.read() as conn:
        count, oldest = (await conn.execute(query)).one()
    return int(count), oldest


async def message_status(
    db: Database, sealer: Sealer, message_id: str, tenant_id: int | None = None
) -> MessageStatus:
    """The message's envelope (its subject decrypted) and recipients; with `tenant_id`, only a
    message of that tenant (another's is not found, like a message that does not exist)."""
    query = select(
        Message.id,
        Tenant.name.label("tenant"),
        Message.mail_from,
        Message.sealed_subject,
        Message.subject,
        Message.size,
        Message.state,
        Message.attempts,
        Message.created_at,
        Message.next_attempt_at,
        Message.completed_at,
        exists().where(MessageBody.message_id == Message.id).label("has_body"),
        Message.via,
    ).join(Tenant, Tenant.id == Message.tenant_id)
    if tenant_id is not None:
        query = query.where(Message.tenant_id == tenant_id)
    async with db.read() as conn:
        row = (await conn.execute(query.where(Message.id == message_id))).first()
        if row is None:
            raise NotFoundError(f"no message with queue id {message_id!r}")
        recipients = await conn.execute(
            select(
                Recipient.id,
                Recipient.address,
                Recipient.state,
                Recipient.attempts,
                Recipient.ses_message_id,
                Recipient.last_error,
                Recipient.updated_at,
            )
            .where(Recipient.message_id == message_id)
            .order_by(Recipient.id)
        )
        statuses = tuple(
            RecipientStatus(rid, a, RecipientState(s), n, ses, err, at)
            for rid, a, s, n, ses, err, at in recipients
        )
    found = row._asdict()
    found["subject"] = content.open_subject(
        sealer, message_id, found.pop("sealed_subject"), row.subject
    )
    return MessageStatus(**found, recipients=statuses)


def at_domain(address: InstrumentedAttribute[Any], domain: str) -> ColumnElement[bool]:
    """Whether the address is at `domain` itself (an ASCII domain; any case)."""
    return func.lower(address).endswith(f"@{domain.lower()}", autoescape=True)


async def fail_pending_from_domain(
    db: Database, tenant_id: int, domain: str, reason: str, now: datetime
) -> int:
    """Fail every recipient still waiting in the tenant's messages sent from `domain`; return
    the messages."""
    pending = select(Message.id).where(
        Message.state.in_(WAITING),
        Message.tenant_id == tenant_id,
        at_domain(Message.mail_from, domain),
    )
    async with db.begin() as conn:
        ids = list((await conn.execute(pending)).scalars())
        if not ids:
            return 0
        await conn.execute(
            update(Recipient)
            .where(Recipient.message_id.in_(ids), Recipient.state.in_(_PENDING))
            .values(state=RecipientState.FAILED.value, last_error=reason, updated_at=now)
        )
        await conn.execute(
            update(Message)
            .where(Message.id.in_(ids))
            .values(state=DONE, completed_at=now, lease_owner=None, lease_until=None)
        )
        await conn.execute(delete(MessageBody).where(MessageBody.message_id.in_(ids)))
    return len(ids)
