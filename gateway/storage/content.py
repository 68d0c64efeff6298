"""Message content at rest: what is sealed, how, and sealing it again.

The bodies, the header copies kept for `message show` and the subjects are stored sealed
(`gateway.core.crypto.Sealer`): encrypted as the spool writes them (`gateway.storage.queue`),
decrypted as delivery claims them or a page shows them, so that only the storage package sees
them either way. Each sealed value is bound to its message and to what it is (`BODY`,
`HEADERS`, `SUBJECT`, a chunk's `chunk_label`).

A large message (`NewMessage.rest`, over `SPILL_THRESHOLD`) is written in chunks of `CHUNK`
octets, each sealed on its own and bound to its place, in the transaction that stores the
message: at most a chunk of it is in memory as it is stored. Delivery reads the chunks back just
before it sends (`read_chunks`): SES takes a raw message in one request, so the worker holds it
whole then.

`reseal` seals again under the current key what was sealed under a previous one (or stored in
clear by earlier versions: bodies, header copies, and subjects from before migration 0011).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from gateway.core.crypto import Sealer
from gateway.core.exceptions import DecryptionError
from gateway.core.types.messages import Job, NewMessage
from gateway.storage.database import Database
from gateway.storage.models import Message, MessageBody, MessageBodyChunk

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


def sealed_head(sealer: Sealer, message: NewMessage) -> bytes | None:
    """The message's header copy (up to `HEADER_BYTES`) sealed; None without header fields."""
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


def insert_chunks(conn: Connection, sealer: Sealer, message: NewMessage) -> None:
    """Write the large message's body in sealed chunks (`chunk_count` of them), in the
    transaction of `conn` (`Database.unit`'s)."""
    count = chunk_count(message)
    for number, chunk in enumerate(_chunks(message)):
        sealed = sealer.seal(chunk_label(number, count), message.id, chunk)
        conn.execute(
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


def chunk_count(message: NewMessage) -> int:
    """How many chunks the body of a large message takes."""
    return -(-message.size // CHUNK)


def opened(sealer: Sealer, job: Job) -> Job:
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
