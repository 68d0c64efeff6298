"""Messages over `SPILL_THRESHOLD`, sent by real clients: read into an unnamed temporary file,
checked and stored a chunk at a time, sent to SES as submitted; their memory stays bounded, and
their file never outlives the transaction, whatever its end."""

from __future__ import annotations

import asyncio
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.storage import content
from gateway.storage.models import Message, MessageBody, MessageBodyChunk
from tests.conftest import Gateway, settled
from tests.support.fakeses import FakeSes
from tests.support.smtp import expect, protocol_only, queue_id, ready, stored_messages, submit

THRESHOLD = 4096
CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 KiB rather than 1 MiB: a message of a few hundred KB spans several."""
    monkeypatch.setattr(content, "CHUNK", CHUNK)


def large(size: int, subject: bytes = b"large one", sender: bytes = b"demo@example.com") -> bytes:
    """A message of about `size` octets whose lines are numbered, every tenth starting with a
    dot (stuffed on the wire, unstuffed in the stored copy)."""
    head = b"From: " + sender + b"\r\nTo: a@example.org\r\nSubject: " + subject + b"\r\n\r\n"
    lines = [
        b"%s line %07d of the large body\r\n" % (b"." if i % 10 == 0 else b"", i)
        for i in range(size // 32)
    ]
    return head + b"".join(lines)


def open_spill_files(directory: Path) -> list[str]:
    """The files of `directory` this process has open (an unlinked one shows as `(deleted)`)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(directory.resolve())):
            names.append(target)
    return names


async def test_a_large_message_is_stored_in_chunks_and_reaches_ses_byte_for_byte(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url, spill_threshold=THRESHOLD)
    data = large(300_000)
    reply = await asyncio.to_thread(submit, gateway.port, *await gateway.credential(), data=data)
    assert reply == {}  # every recipient accepted
    async with gateway.db.read() as conn:
        stored_id = (await conn.execute(select(Message.id))).scalar_one()
    stored = await settled(gateway.db, stored_id)
    [sent] = fake_ses.messages()
    assert sent.raw.endswith(b"\r\n\r\n" + data.split(b"\r\n\r\n", 1)[1])
    assert b"\r\n. line 0000010" in sent.raw  # dot-stuffing undone
    assert b"Subject: large one\r\n" in sent.raw
    assert stored.size == len(sent.raw)
    assert open_spill_files(gateway.settings.data_dir) == []


async def test_a_large_body_is_sealed_chunk_by_chunk_in_the_database(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, spill_threshold=THRESHOLD)
    data = large(300_000)
    async with await ready(gateway, await gateway.credential()) as conversation:
        stored_id = queue_id(await conversation.send(data))
    async with gateway.db.read() as conn:
        body, count = (await conn.execute(select(MessageBody.data, MessageBody.chunks))).one()
        chunks = (await conn.execute(select(func.count()).select_from(MessageBodyChunk))).scalar()
        first = (
            await conn.execute(select(MessageBodyChunk.data).where(MessageBodyChunk.number == 0))
        ).scalar_one()
    assert (body, count, chunks) == (b"", -(-(len(data) + 300) // CHUNK), count)
    assert count > 3
    assert first.startswith(gateway.sealer.prefix)
    assert b"of the large body" not in first
    opened = gateway.sealer.open(content.chunk_label(0, count), stored_id, first)
    assert opened.startswith(b"Received: ")


@protocol_only
async def test_a_refused_large_message_leaves_no_file_and_nothing_stored(
    start_gateway: Any,
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, spill_threshold=THRESHOLD)
    foreign = large(200_000, sender=b"someone@elsewhere.example")
    async with await ready(gateway, await gateway.credential()) as conversation:
        expect(await conversation.send(foreign), "550 5.7.1")
        assert open_spill_files(gateway.settings.data_dir) == []
        # The client gives up in the middle of the data: the file goes with the transaction.
        expect(await conversation.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await conversation.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await conversation.command("DATA"), "354 ")
        conversation.write(large(200_000))
        await asyncio.sleep(0.2)
    for _ in range(50):
        if not open_spill_files(gateway.settings.data_dir):
            break
        await asyncio.sleep(0.05)
    assert open_spill_files(gateway.settings.data_dir) == []
    assert await stored_messages(gateway) == 0


@protocol_only
@pytest.mark.parametrize(
    ("bare_newline", "reply"), [("reject", "550 5.5.2"), ("normalize", "250 2.0.0")]
)
async def test_a_bare_newline_deep_in_a_large_message(
    start_gateway: Any, fake_ses: FakeSes, bare_newline: str, reply: str
) -> None:
    gateway: Gateway = await start_gateway(
        fake_ses.url, spill_threshold=THRESHOLD, bare_newline=bare_newline
    )
    data = large(100_000) + b"a bare\nLF and a bare\rCR\r\n" + large(100_000).split(b"\r\n\r\n")[1]
    async with await ready(gateway, await gateway.credential()) as conversation:
        expect(await conversation.send(data), reply)
    if reply.startswith("250"):
        [sent] = await _sent(fake_ses)
        assert b"a bare\r\nLF and a bare\r\nCR\r\n" in sent
        assert open_spill_files(gateway.settings.data_dir) == []


async def _sent(fake_ses: FakeSes) -> list[bytes]:
    for _ in range(200):
        if fake_ses.messages():
            break
        await asyncio.sleep(0.05)
    return [m.raw for m in fake_ses.messages()]


@protocol_only
async def test_a_header_block_over_a_mib_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False, spill_threshold=THRESHOLD)
    padding = b"".join(b"X-Pad-%05d: %s\r\n" % (i, b"p" * 900) for i in range(1200))
    data = b"Subject: padded\r\n" + padding + b"From: x@evil.example\r\n\r\nbody\r\n"
    async with await ready(gateway, await gateway.credential()) as conversation:
        reply = await conversation.send(data)
    assert reply == "552 5.3.4 Message refused: its header fields take more than 1048576 bytes"
    assert await stored_messages(gateway) == 0


@protocol_only
async def test_memory_per_message_stays_bounded(start_gateway: Any) -> None:
    """The defect of issue 16: DATA was held whole, in about three copies, until stored. Now a
    message of 8 MB costs about a spill threshold and a chunk or two, whatever its size."""
    gateway: Gateway = await start_gateway(None, deliver=False, spill_threshold=256 * 1024)
    size = 8_000_000
    wire = large(size).replace(b"\r\n.", b"\r\n..") + b".\r\n"  # stuffed before measuring
    async with await ready(gateway, await gateway.credential()) as conversation:
        expect(await conversation.command("MAIL FROM:<demo@example.com>"), "250 ")
        expect(await conversation.command("RCPT TO:<a@example.org>"), "250 ")
        expect(await conversation.command("DATA"), "354 ")
        view = memoryview(wire)
        tracemalloc.start()
        try:
            for start in range(0, len(view), 65536):
                conversation.write(view[start : start + 65536])
                await conversation.writer.drain()
            reply = await conversation.reply()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    queue_id(reply)
    assert peak < size / 4, f"{peak} bytes at the peak for a message of {size}"
