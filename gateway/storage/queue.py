"""The durable queue: messages with their recipients and raw bytes, claimed by delivery workers.

A claim is a lease (`lease_owner`, `lease_until`). A worker that dies leaves its lease to expire,
and the message is claimed again. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so several
processes never take the same message; on SQLite every transaction takes the write lock first.

The bodies, the header copies and the subjects are stored sealed (`gateway.core.crypto.Sealer`):
encrypted as they are written, decrypted as they are claimed or shown, so that only this module
sees them either way. Why here rather than above storage: the header copy is cut from the body
here, and "what is at rest" is then one module's concern rather than every caller's.

A large message (`NewMessage.rest`, over `SPILL_THRESHOLD`) is written in chunks of `CHUNK`
octets, each sealed on its own and bound to its place (`chunk_label`), in the transaction that
stores the message: at most a chunk of it is in memory as it is stored. Delivery reads the
chunks back just before it sends (`read_chunks`): SES takes a raw message in one request, so
the worker holds it whole then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from gateway.core.crypto import Sealer
from gateway.core.exceptions import DecryptionError, NotFoundError
from gateway.core.types.messages import (
    Job,
    JobRecipient,
    JobResult,
    MessageStatus,
    NewMessage,
    RecipientState,
    RecipientStatus,
)
from gateway.storage.database import Database
from gateway.storage.leases import lease_due
from gateway.storage.models import Message, MessageBody, MessageBodyChunk, Recipient, Tenant

QUEUED = "queued"
DONE = "done"
HEADER_BYTES = 65536
"""The header fields kept apart from the body (to be shown after it is deleted), at most."""
BODY = b"body"
HEADERS = b"headers"
SUBJECT = b"subject"
"""What a sealed value is, bound to it (with the queue id): a body does not open as headers."""
CHUNK = 1 << 20
"""Octets per chunk of a large body."""
RESEAL_BATCH = 100
RESEAL_CHUNKS = 16
"""Chunks of large bodies read (and written) at a time by `reseal`."""
_PENDING = (RecipientState.QUEUED.value, RecipientState.DEFERRED.value)


def _head(sealer: Sealer, message: NewMessage) -> bytes | None:
    head = message.data[: min(message.header_size, HEADER_BYTES)]
    return sealer.seal(HEADERS, message.id, head) if head else None


def chunk_label(number: int, count: int) -> bytes:
    """What chunk `number` of `count` is, bound to it (with the queue id) when it is sealed: a
    chunk moved to another place, or a body cut short, does not open."""
    return b"body chunk %d of %d" % (number, count)


def _chunks(message: NewMessage) -> Iterator[bytes]:
    """The large message's bytes (`data`, then its `rest` on disk) in `CHUNK`s."""
    assert message.rest is not None
    pending = message.data
    for piece in message.rest.pieces(CHUNK):
        pending += piece
        while len(pending) >= CHUNK:
            yield pending[:CHUNK]
            pending = pending[CHUNK:]
    if pending:
        yield pending


async def _insert_chunks(conn: AsyncConnection, sealer: Sealer, message: NewMessage) -> None:
    count = -(-message.size // CHUNK)
    for number, chunk in enumerate(_chunks(message)):
        sealed = sealer.seal(chunk_label(number, count), message.id, chunk)
        await conn.execute(
            insert(MessageBodyChunk).values(message_id=message.id, number=number, data=sealed)
        )


def open_subject(sealer: Sealer, message_id: str, sealed: bytes | None, clear: str) -> str:
    """A message's subject: `sealed`, or (spooled before subjects were sealed, and not yet
    resealed) `clear`. One that no key opens reads as a note saying so."""
    if sealed is None:
        return clear
    try:
        return sealer.open(SUBJECT, message_id, sealed).decode()
    except DecryptionError:
        return "(the subject does not decrypt)"


async def insert_messages(db: Database, sealer: Sealer, messages: Sequence[NewMessage]) -> None:
    """Commit messages, bodies and recipients in one transaction (the spool's group commit),
    the bodies and header copies sealed."""
    # Sealed before the transaction (on SQLite it holds the one write lock), but for the chunks
    # of large bodies: sealed one by one as they are written, so as never to be held whole.
    heads = [_head(sealer, m) for m in messages]
    bodies = [
        {"message_id": m.id, "data": sealer.seal(BODY, m.id, m.data), "chunks": 0}
        if m.rest is None
        else {"message_id": m.id, "data": b"", "chunks": -(-m.size // CHUNK)}
        for m in messages
    ]
    async with db.begin() as conn:
        await conn.execute(
            insert(Message),
            [
                {
                    "id": m.id,
                    "tenant_id": m.tenant_id,
                    "credential_id": m.credential_id,
                    "mail_from": m.mail_from,
                    "size": m.size,
                    "message_id_header": m.message_id_header,
                    "sealed_subject": sealer.seal(SUBJECT, m.id, m.subject.encode()),
                    "headers": head,
                    "client_address": m.client_address,
                    "client_helo": m.client_helo,
                    "tls": m.tls,
                    "auth_username": m.auth_username,
                    "state": QUEUED,
                    "attempts": 0,
                    "next_attempt_at": m.created_at,
                    "created_at": m.created_at,
                    "expires_at": m.expires_at,
                }
                for m, head in zip(messages, heads, strict=True)
            ],
        )
        await _count_usage(conn, messages)
        await conn.execute(insert(MessageBody), bodies)
        for message in messages:
            if message.rest is not None:
                await _insert_chunks(conn, sealer, message)
        await conn.execute(
            insert(Recipient),
            [
                {
                    "message_id": m.id,
                    "address": address,
                    # A suppressed recipient is final from the start: claims never take it.
                    "state": (
                        RecipientState.SUPPRESSED
                        if address in m.suppressed
                        else RecipientState.QUEUED
                    ).value,
                    "last_error": m.suppressed.get(address),
                    "attempts": 0,
                    "updated_at": m.created_at,
                }
                for m in messages
                for address in m.recipients
            ],
        )


async def claim(
    db: Database, sealer: Sealer, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[Job]:
    """Lease up to `limit` due messages to `owner`, with their bodies (decrypted; a body in
    chunks is read by `read_chunks` when it is sent) and pending recipients. Messages of a
    paused tenant are not due: they wait, queued, until it is resumed. A body that does not
    decrypt comes empty, with `unreadable` saying why."""
    paused = exists().where(Tenant.id == Message.tenant_id, Tenant.paused_reason.is_not(None))
    due = and_(Message.state == QUEUED, ~paused)
    async with db.begin() as conn:
        ids = await lease_due(conn, db.is_sqlite, Message, due, owner, limit, now, lease_until)
        if not ids:
            return []
        rows = await conn.execute(
            select(
                Message.id,
                Tenant.name,
                Message.mail_from,
                MessageBody.data,
                Message.attempts,
                Message.created_at,
                Message.expires_at,
                MessageBody.chunks,
            )
            .join(Tenant, Tenant.id == Message.tenant_id)
            .join(MessageBody, MessageBody.message_id == Message.id)
            .where(Message.id.in_(ids))
        )
        jobs = {row[0]: _opened(sealer, Job(*row[:7], chunks=row[7])) for row in rows}
        recipients = await conn.execute(
            select(Recipient.message_id, Recipient.id, Recipient.address, Recipient.attempts)
            .where(Recipient.message_id.in_(ids), Recipient.state.in_(_PENDING))
            .order_by(Recipient.id)
        )
        for message_id, recipient_id, address, attempts in recipients:
            jobs[message_id].recipients.append(JobRecipient(recipient_id, address, attempts))
    return [jobs[i] for i in ids if i in jobs]


def _opened(sealer: Sealer, job: Job) -> Job:
    """`job` with its body decrypted, or empty with `unreadable` saying why."""
    if job.chunks:
        return job
    try:
        job.data = sealer.open(BODY, job.id, job.data)
    except DecryptionError as exc:  # one message, not the whole claim: the others go on
        job.data, job.unreadable = b"", str(exc)
    return job


async def read_chunks(db: Database, sealer: Sealer, job: Job) -> None:
    """Read the body of a `job` stored in chunks into `job.data`, or leave it empty with
    `unreadable` saying why (a chunk that does not decrypt, or one missing)."""
    opened = []
    try:
        async with db.read() as conn:
            for number in range(job.chunks):  # a chunk at a time: never all of them sealed too
                sealed = (
                    await conn.execute(
                        select(MessageBodyChunk.data).where(
                            MessageBodyChunk.message_id == job.id,
                            MessageBodyChunk.number == number,
                        )
                    )
                ).scalar_one_or_none()
                if sealed is None:
                    raise DecryptionError(
                        f"message {job.id}: chunk {number} of its body is missing"
                    )
                opened.append(sealer.open(chunk_label(number, job.chunks), job.id, sealed))
    except DecryptionError as exc:
        job.unreadable = str(exc)
        return
    job.data = b"".join(opened)


async def reseal(db: Database, sealer: Sealer, after: str = "") -> tuple[str | None, int]:
    """Seal under the current key the bodies (and their chunks), header copies and subjects,
    of the next `RESEAL_BATCH` messages by queue id after `after`, that were sealed under a
    previous key or stored in clear (a subject in clear moves to `sealed_subject`). Return the
    queue id to go on after (None once past the last message) and how many values were sealed
    again. A value that does not decrypt is left as it is."""
    next_ids = select(Message.id).where(Message.id > after).order_by(Message.id)
    async with db.read() as conn:
        ids = list((await conn.execute(next_ids.limit(RESEAL_BATCH))).scalars())
        if not ids:
            return None, 0
        whole = MessageBody.chunks == 0
        bodies = await _stale(
            conn, sealer, BODY, MessageBody.message_id, MessageBody.data, ids, whole
        )
        heads = await _stale(conn, sealer, HEADERS, Message.id, Message.headers, ids)
        subjects = await _stale_subjects(conn, sealer, ids)
        chunks = await _stale_chunks(conn, sealer, ids)
    if bodies or heads or subjects:  # the write lock only when there is something to write
        async with db.begin() as conn:
            for key, values, changes in (
                (MessageBody.message_id, bodies, {MessageBody.data: bindparam("v")}),
                (Message.id, heads, {Message.headers: bindparam("v")}),
                (
                    Message.id,
                    subjects,
                    {Message.sealed_subject: bindparam("v"), Message.subject: ""},
                ),
            ):
                if values:
                    await conn.execute(
                        update(key.class_)
                        .where(key == bindparam("k"))
                        .values(changes)
                        .execution_options(synchronize_session=False),
                        values,
                    )
    resealed = await _reseal_chunks(db, sealer, chunks)
    return ids[-1], len(bodies) + len(heads) + len(subjects) + resealed


def _not_current(sealer: Sealer, column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """Whether a sealed value is not sealed under the current key, told by its first bytes
    (without reading it whole)."""
    return func.substr(column, 1, len(sealer.prefix), type_=LargeBinary) != sealer.prefix


async def _stale(
    conn: AsyncConnection,
    sealer: Sealer,
    what: bytes,
    key: InstrumentedAttribute[str],
    column: InstrumentedAttribute[Any],
    ids: Sequence[str],
    *conditions: ColumnElement[bool],
) -> list[dict[str, Any]]:
    """The values of `column` among `ids` (that meet `conditions`) not sealed under the
    current key, sealed under it: `{"k": queue id, "v": value}`. Only those are read whole."""
    rows = await conn.execute(
        select(key, column).where(
            key.in_(ids), column.is_not(None), _not_current(sealer, column), *conditions
        )
    )
    values = []
    for message_id, stored in rows:
        try:
            content = sealer.open(what, message_id, stored)
        except DecryptionError:  # no key opens it: keep it for one that will
            continue
        values.append({"k": message_id, "v": sealer.seal(what, message_id, content)})
    return values


async def _stale_subjects(
    conn: AsyncConnection, sealer: Sealer, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """`_stale` for the subjects among `ids`, the ones still in clear included."""
    rows = await conn.execute(
        select(Message.id, Message.sealed_subject, Message.subject).where(
            Message.id.in_(ids),
            Message.sealed_subject.is_(None) | _not_current(sealer, Message.sealed_subject),
        )
    )
    values = []
    for message_id, sealed, clear in rows:
        try:
            content = sealer.open(SUBJECT, message_id, sealed) if sealed else clear.encode()
        except DecryptionError:
            continue
        values.append({"k": message_id, "v": sealer.seal(SUBJECT, message_id, content)})
    return values


async def _stale_chunks(
    conn: AsyncConnection, sealer: Sealer, ids: Sequence[str]
) -> list[tuple[str, int, int]]:
    """(queue id, number, count) of the chunks among `ids` not sealed under the current key."""
    rows = await conn.execute(
        select(MessageBodyChunk.message_id, MessageBodyChunk.number, MessageBody.chunks)
        .join(MessageBody, MessageBody.message_id == MessageBodyChunk.message_id)
        .where(MessageBodyChunk.message_id.in_(ids), _not_current(sealer, MessageBodyChunk.data))
    )
    return [(message_id, number, count) for message_id, number, count in rows]


async def _reseal_chunks(
    db: Database, sealer: Sealer, chunks: Sequence[tuple[str, int, int]]
) -> int:
    """Seal the `chunks` under the current key, `RESEAL_CHUNKS` at a time; return how many."""
    resealed = 0
    for start in range(0, len(chunks), RESEAL_CHUNKS):
        values = []
        async with db.read() as conn:
            for message_id, number, count in chunks[start : start + RESEAL_CHUNKS]:
                stored = (
                    await conn.execute(
                        select(MessageBodyChunk.data).where(
                            MessageBodyChunk.message_id == message_id,
                            MessageBodyChunk.number == number,
                        )
                    )
                ).scalar_one_or_none()
                label = chunk_label(number, count)
                try:
                    content = sealer.open(label, message_id, stored or b"")
                except DecryptionError:
                    continue
                values.append(
                    {"k": message_id, "n": number, "v": sealer.seal(label, message_id, content)}
                )
        if values:
            async with db.begin() as conn:
                await conn.execute(
                    update(MessageBodyChunk)
                    .where(
                        MessageBodyChunk.message_id == bindparam("k"),
                        MessageBodyChunk.number == bindparam("n"),
                    )
                    .values(data=bindparam("v"))
                    .execution_options(synchronize_session=False),
                    values,
                )
            resealed += len(values)
    return resealed


async def renew(db: Database, owner: str, ids: Sequence[str], lease_until: datetime) -> None:
    """Extend the leases of messages still being delivered."""
    if not ids:
        return
    async with db.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.lease_owner == owner)
            .values(lease_until=lease_until)
        )


async def release(db: Database, owner: str) -> None:
    """Give back every lease of `owner` (at shutdown), so other workers need not wait."""
    async with db.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.lease_owner == owner, Message.state == QUEUED)
            .values(lease_owner=None, lease_until=None)
        )


async def bring_forward(db: Database, now: datetime) -> int:
    """Make every message waiting for a later attempt due `now` (SES is back after failing);
    return how many."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(Message)
            .where(Message.state == QUEUED, Message.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
    return result.rowcount


async def record(db: Database, results: Sequence[JobResult], keep_bodies: bool) -> None:
    """Store the outcomes of delivery attempts; a message whose recipients are all final is done.
    A partial result stores its outcomes only."""
    outcomes = [
        {
            "r_id": o.recipient_id,
            "r_state": o.state.value,
            "r_ses": o.ses_message_id,
            "r_error": o.error,
            "r_at": r.finished_at,
        }
        for r in results
        for o in r.outcomes
    ]
    async with db.begin() as conn:
        if outcomes:
            await conn.execute(
                update(Recipient)
                .where(Recipient.id == bindparam("r_id"))
                .values(
                    state=bindparam("r_state"),
                    ses_message_id=func.coalesce(bindparam("r_ses"), Recipient.ses_message_id),
                    last_error=bindparam("r_error"),
                    attempts=Recipient.attempts + 1,
                    updated_at=bindparam("r_at"),
                )
                .execution_options(synchronize_session=False),
                outcomes,
            )
        finished = [r for r in results if not r.partial]
        if not finished:
            return
        await conn.execute(
            update(Message)
            .where(Message.id == bindparam("m_id"))
            .values(
                state=bindparam("m_state"),
                next_attempt_at=bindparam("m_next"),
                completed_at=bindparam("m_done"),
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False),
            [
                {
                    "m_id": r.message_id,
                    "m_state": QUEUED if r.next_attempt_at else DONE,
                    "m_next": r.next_attempt_at or r.finished_at,
                    "m_done": None if r.next_attempt_at else r.finished_at,
                }
                for r in finished
            ],
        )
        done = [r.message_id for r in finished if r.next_attempt_at is None]
        if done and not keep_bodies:
            await conn.execute(delete(MessageBody).where(MessageBody.message_id.in_(done)))


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
    db: Database, tenant_id: int | None = None
) -> tuple[int, datetime | None]:
    """Messages waiting for delivery, and when the oldest of them was accepted: of every
    tenant, or (`tenant_id`) of one."""
    query = select(func.count(), func.min(Message.created_at)).where(Message.state == QUEUED)
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
    found["subject"] = open_subject(sealer, message_id, found.pop("sealed_subject"), row.subject)
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
        Message.state == QUEUED,
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


_COUNT_USAGE = text(
    "INSERT INTO usage (tenant_id, day, messages) VALUES (:tenant_id, :day, :messages) "
    "ON CONFLICT (tenant_id, day) DO UPDATE SET messages = usage.messages + excluded.messages"
)
"""The same SQL on SQLite and PostgreSQL, and plain text: an upsert construct costs SQLAlchemy a
cache key per execution (5% of the SMTP process's CPU under load)."""


async def _count_usage(conn: AsyncConnection, messages: Sequence[NewMessage]) -> None:
    """Messages per tenant per UTC day, in the spool's own transaction (for the daily cap)."""
    counts = Counter(
        (m.tenant_id, m.created_at.astimezone(UTC).date().isoformat()) for m in messages
    )
    await conn.execute(
        _COUNT_USAGE,
        [{"tenant_id": t, "day": day, "messages": n} for (t, day), n in counts.items()],
    )
