"""Message content at rest: bodies and header copies are stored encrypted (a dump of the database
shows none of them), decrypted only to send; a value does not open under another message's id;
after a key rotation the old values still open and are sealed again under the new key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from gateway.core.crypto import Sealer
from gateway.core.exceptions import DecryptionError
from gateway.core.secret_key import load_secret_key
from gateway.core.spill import SpilledRest, SpillFile
from gateway.core.types.messages import Job, JobResult, NewMessage, RecipientState
from gateway.identity import accounts
from gateway.runtime.housekeeping import reseal
from gateway.storage import content, queue
from gateway.storage.database import Database
from gateway.storage.messages import message_detail, search_messages
from gateway.storage.models import Base, Message, MessageBody, MessageBodyChunk
from gateway.storage.tenants import get_tenant
from tests.conftest import Gateway, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER, new_message, queued
from tests.support.smtp import queue_id, ready, submit

SECRET = b"the launch code is 0000"
MESSAGE = (
    b"From: Demo <demo@example.com>\r\n"
    b"To: a@example.org\r\n"
    b"Subject: quarterly figures\r\n"
    b"X-Internal-Ref: case-4711\r\n"
    b"\r\n" + SECRET + b"\r\n"
)


async def claim(db: Database, sealer: Sealer) -> list[Job]:
    now = datetime.now(UTC) + timedelta(seconds=1)
    return await queue.claim(db, sealer, "w", 10, now, now + timedelta(minutes=1))


async def dump(db: Database, tmp_path: Path) -> tuple[bytes, bytes]:
    """Every row of every table as the database returns it; (SQLite) the database's files."""
    async with db.read() as conn:
        rows = [repr((await conn.execute(select(t))).all()) for t in Base.metadata.sorted_tables]
    files = b"".join(path.read_bytes() for path in tmp_path.glob("gateway.db*"))
    return "\n".join(rows).encode(), files


async def test_a_message_is_stored_encrypted_and_reaches_ses_as_submitted(
    start_gateway: Any, fake_ses: FakeSes, tmp_path: Path
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, body_retention_days=7)
    conversation = await ready(gateway, await gateway.credential())
    try:
        stored_id = queue_id(await conversation.send(MESSAGE))
    finally:
        await conversation.close()
    await settled(gateway.db, stored_id)
    [sent] = fake_ses.messages()

    head, body = MESSAGE.split(b"\r\n\r\n")
    assert head in sent.raw  # with the gateway's Received, Message-ID and Date fields
    assert sent.raw.endswith(b"\r\n\r\n" + body)
    rows, files = await dump(gateway.db, tmp_path)
    for shown in (SECRET, b"quarterly figures", b"case-4711", b"X-Internal-Ref", b"Demo <demo"):
        assert shown not in rows
        assert shown not in files
    async with gateway.db.read() as conn:
        stored = (await conn.execute(select(MessageBody.data))).scalar_one()
    sealer = Sealer(load_secret_key(gateway.settings))
    assert stored.startswith(sealer.prefix)
    assert sealer.open(content.BODY, stored_id, stored) == sent.raw  # byte for byte
    detail = await message_detail(gateway.db, sealer, stored_id, None)
    assert ("X-Internal-Ref", "case-4711") in (detail.headers or ())


async def test_a_dump_of_every_column_shows_no_subject_and_no_body(
    start_gateway: Any, tmp_path: Path
) -> None:
    """Every column of every table, and (SQLite) the database's files, after a small message and
    a large one (kept on disk, stored in chunks) were spooled: neither subject nor body shows."""
    gateway: Gateway = await start_gateway(None, deliver=False, spill_threshold=4096)
    credential = await gateway.credential()
    small = b"Subject: Zanzibar quokka 31337\r\n\r\nMarmalade ostrich 4242\r\n"
    large = b"Subject: Walrus tangerine 8080\r\n\r\n" + b"Porcupine sonata 7777\r\n" * 20_000
    for data in (small, large):
        assert await asyncio.to_thread(submit, gateway.port, *credential, data=data) == {}
    rows, files = await dump(gateway.db, tmp_path)
    async with gateway.db.read() as conn:
        assert (await conn.execute(select(MessageBody.chunks))).scalars().all() != [0, 0]
    for shown in (b"Zanzibar quokka", b"Marmalade ostrich", b"Walrus tangerine", b"Porcupine"):
        assert shown not in rows
        assert shown not in files
    found, _ = await search_messages(gateway.db, gateway.sealer, None, subject="QUOKKA")
    assert [m.subject for m in found] == ["Zanzibar quokka 31337"]


async def test_content_does_not_open_under_another_message(db: Database) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    first = await queued(db, tenant.id, data=MESSAGE, header_size=MESSAGE.index(b"\r\n\r\n") + 2)
    second = await queued(db, tenant.id, ["b@example.org"])
    async with db.begin() as conn:  # the first body, copied over the second's
        body = (
            await conn.execute(select(MessageBody.data).where(MessageBody.message_id == first))
        ).scalar_one()
        head = (await conn.execute(select(Message.headers).where(Message.id == first))).scalar()
        await conn.execute(
            update(MessageBody).where(MessageBody.message_id == second).values(data=body)
        )
        await conn.execute(update(Message).where(Message.id == second).values(headers=head))

    with pytest.raises(DecryptionError, match="moved from another message"):
        SEALER.open(content.BODY, second, body)
    with pytest.raises(DecryptionError):
        SEALER.open(content.HEADERS, first, body)  # a body is not a header copy
    with pytest.raises(DecryptionError):
        await message_detail(db, SEALER, second, None)
    jobs = {job.id: job for job in await claim(db, SEALER)}
    assert jobs[first].data == MESSAGE
    assert jobs[first].unreadable is None
    assert jobs[second].data == b""
    assert "does not decrypt" in (jobs[second].unreadable or "")


async def test_a_body_that_does_not_open_is_deferred_not_sent(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    await gateway.credential()
    tenant = await get_tenant(gateway.db, "acme")
    message = new_message(tenant.id)
    await queue.insert_messages(gateway.db, Sealer(b"a key this gateway lacks"), [message])
    assert gateway.worker is not None
    gateway.worker.wake()

    for _ in range(100):
        [recipient] = (await queue.message_status(gateway.db, SEALER, message.id)).recipients
        if recipient.state is not RecipientState.QUEUED:
            break
        await asyncio.sleep(0.05)
    assert recipient.state is RecipientState.DEFERRED
    assert "DecryptionError" in (recipient.last_error or "")
    assert "PREVIOUS_SECRET_KEYS" in (recipient.last_error or "")
    assert fake_ses.messages() == []


async def test_rotation_opens_old_content_and_seals_it_again_under_the_new_key(
    db: Database,
) -> None:
    old, new = b"key A", b"key B"
    tenant = await accounts.create_tenant(db, "acme")
    header_size = MESSAGE.index(b"\r\n\r\n") + 2
    message = new_message(tenant.id, data=MESSAGE, header_size=header_size)
    await queue.insert_messages(db, Sealer(old), [message])
    rotated = Sealer(new, [old])

    assert (await message_detail(db, rotated, message.id, None)).headers == (
        ("From", "Demo <demo@example.com>"),
        ("To", "a@example.org"),
        ("Subject", "quarterly figures"),
        ("X-Internal-Ref", "case-4711"),
    )
    assert await reseal(db, rotated) == 3  # the body, the header copy and the subject
    assert await reseal(db, rotated) == 0
    async with db.read() as conn:
        body = (await conn.execute(select(MessageBody.data))).scalar_one()
        head = (await conn.execute(select(Message.headers))).scalar_one()
    assert body.startswith(rotated.prefix)
    assert head.startswith(rotated.prefix)
    only_new = Sealer(new)
    [job] = await claim(db, only_new)
    assert job.data == MESSAGE
    assert (await message_detail(db, only_new, message.id, None)).headers is not None
    with pytest.raises(DecryptionError, match="PREVIOUS_SECRET_KEYS"):
        Sealer(old).open(content.BODY, message.id, body)


async def test_content_stored_in_clear_before_the_upgrade_is_read_and_sealed(
    db: Database,
) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    message = new_message(tenant.id, data=MESSAGE, header_size=0)
    await queue.insert_messages(db, SEALER, [message])
    async with db.begin() as conn:  # as the previous versions stored it
        await conn.execute(update(MessageBody).values(data=MESSAGE))
        await conn.execute(update(Message).values(headers=MESSAGE[:20]))
        await conn.execute(update(Message).values(subject="quarterly figures", sealed_subject=None))

    assert (await message_detail(db, SEALER, message.id, None)).headers is not None
    [found], _ = await search_messages(db, SEALER, None, subject="FIGURES")
    assert found.subject == "quarterly figures"  # read (and found) in clear until resealed
    assert await reseal(db, SEALER) == 3
    async with db.read() as conn:
        body = (await conn.execute(select(MessageBody.data))).scalar_one()
        clear, sealed = (await conn.execute(select(Message.subject, Message.sealed_subject))).one()
    assert SECRET not in body
    assert (clear, b"quarterly" in sealed) == ("", False)
    assert (await queue.message_status(db, SEALER, message.id)).subject == "quarterly figures"
    [job] = await claim(db, SEALER)
    assert job.data == MESSAGE


async def test_a_round_is_not_run_again_under_the_key_the_last_complete_round_found(
    db: Database,
) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    message = new_message(tenant.id, data=MESSAGE, header_size=0)
    await queue.insert_messages(db, Sealer(b"key A"), [message])
    assert await reseal(db, Sealer(b"key A")) == 0  # a complete round: all under key A
    async with db.begin() as conn:  # were anything left in clear, no round would read it now
        await conn.execute(update(MessageBody).values(data=MESSAGE))
    assert await reseal(db, Sealer(b"key A")) == 0
    rotated = Sealer(b"key B", [b"key A"])
    assert await reseal(db, rotated) == 2  # a new key: a round reads all (body, subject) again
    assert await reseal(db, rotated) == 0


# -- Large bodies, in chunks ---------------------------------------------------------------------


def large_message(tenant_id: int, tmp_path: Path) -> tuple[NewMessage, bytes]:
    """A message over the spill threshold as the SMTP handler hands it over: its header block
    in memory, the rest in a `SpillFile`; and its bytes."""
    head = MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4]
    rest = b"".join(b"%s line %06d\r\n" % (SECRET, i) for i in range(3000))
    file = SpillFile(tmp_path)
    file.write(b"ignored before the offset" + rest)
    message = new_message(
        tenant_id, data=head, header_size=len(head) - 2, rest=SpilledRest(file, 25)
    )
    return message, head + rest


async def chunk_rows(db: Database) -> list[tuple[int, bytes]]:
    async with db.read() as conn:
        query = select(MessageBodyChunk.number, MessageBodyChunk.data)
        return [tuple(row) for row in await conn.execute(query.order_by(MessageBodyChunk.number))]


async def test_a_large_body_opens_only_whole_and_in_order(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content, "CHUNK", 16 * 1024)
    tenant = await accounts.create_tenant(db, "acme")
    message, raw = large_message(tenant.id, tmp_path)
    await queue.insert_messages(db, SEALER, [message])
    assert message.rest is not None
    message.rest.file.close()  # as the spool does once it is stored
    rows = await chunk_rows(db)
    assert len(rows) == -(-len(raw) // (16 * 1024)) > 2
    assert all(SECRET not in data for _, data in rows)

    [job] = await claim(db, SEALER)
    assert (job.data, job.chunks) == (b"", len(rows))
    await content.read_chunks(db, SEALER, job)
    assert job.data == raw

    async with db.begin() as conn:  # two chunks swapped: neither opens in the other's place
        for number, data in ((0, rows[1][1]), (1, rows[0][1])):
            await conn.execute(
                update(MessageBodyChunk).where(MessageBodyChunk.number == number).values(data=data)
            )
    job.data = b""
    await content.read_chunks(db, SEALER, job)
    assert (job.data, "does not decrypt" in (job.unreadable or "")) == (b"", True)

    async with db.begin() as conn:  # put back; the last chunk gone: the body is cut short
        for number, data in rows[:2]:
            await conn.execute(
                update(MessageBodyChunk).where(MessageBodyChunk.number == number).values(data=data)
            )
        await conn.execute(delete(MessageBodyChunk).where(MessageBodyChunk.number == len(rows) - 1))
    job.unreadable = None
    await content.read_chunks(db, SEALER, job)
    assert f"chunk {len(rows) - 1} of its body is missing" in (job.unreadable or "")


async def test_rotation_seals_the_chunks_of_a_large_body_again(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content, "CHUNK", 16 * 1024)
    monkeypatch.setattr(content, "RESEAL_CHUNKS", 2)  # several rounds of chunks
    old, new = b"key A", b"key B"
    tenant = await accounts.create_tenant(db, "acme")
    message, raw = large_message(tenant.id, tmp_path)
    await queue.insert_messages(db, Sealer(old), [message])
    assert message.rest is not None
    message.rest.file.close()
    count = len(await chunk_rows(db))
    rotated = Sealer(new, [old])

    assert await reseal(db, rotated) == count + 2  # the chunks, the header copy, the subject
    assert await reseal(db, rotated) == 0
    assert all(data.startswith(rotated.prefix) for _, data in await chunk_rows(db))
    [job] = await claim(db, Sealer(new))
    await content.read_chunks(db, Sealer(new), job)
    assert job.data == raw

    await queue.record(db, [JobResult(message.id, (), None, datetime.now(UTC))], keep_bodies=False)
    assert await chunk_rows(db) == []  # deleted with the body
