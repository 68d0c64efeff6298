"""`gateway.storage.turn`: the write turn of a SQLite file, within a process and between them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.core.exceptions import DatabaseError
from gateway.core.types.messages import NewMessage
from gateway.identity import accounts
from gateway.storage import queue
from gateway.storage.database import Database
from gateway.storage.models import Message
from gateway.storage.turn import WriteTurn
from tests.support.messages import SEALER, new_message

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""
"""Another process holding the turn until a line reaches its stdin (or it is killed)."""


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[WriteTurn]:
    made = WriteTurn(tmp_path / "gateway.db-turn")
    yield made
    made.close()


async def test_a_process_s_urgent_writers_go_before_its_others(turn: WriteTurn) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, urgent: bool) -> None:
        async with turn.taken(urgent):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(write("first", False))
    await asyncio.sleep(0.01)
    waiting = [
        asyncio.create_task(write(name, urgent))
        for name, urgent in (("claim", False), ("smtp", True), ("campaign", False))
    ]
    await asyncio.sleep(0.01)
    assert order == ["first"]  # the others wait
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "smtp", "claim", "campaign"]


async def test_a_waiter_that_gives_up_does_not_keep_the_turn(turn: WriteTurn) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        async with turn.taken(False):
            await release.wait()

    async def write() -> None:
        async with turn.taken(True):
            pass

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    gave_up = asyncio.create_task(write())
    await asyncio.sleep(0.01)
    gave_up.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    await asyncio.wait_for(write(), 1)


async def holder_process(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
    return holder


@pytest.mark.parametrize("how", ["released", "killed"])
async def test_a_writer_waits_for_another_process_and_goes_as_soon_as_it_lets_go(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "gateway.db-turn"
    holder = await holder_process(path)
    turn = WriteTurn(path)
    entered: list[float] = []

    async def write() -> None:
        async with turn.taken(True):
            entered.append(time.monotonic())

    try:
        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert entered == []  # held by the other process
        let_go = time.monotonic()
        if how == "released":
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.flush()
        else:
            holder.kill()  # kill -9: the kernel lets go of its lock
        await asyncio.wait_for(task, 5)
    finally:
        holder.kill()
        holder.communicate()  # reaped, its pipes closed
        turn.close()
    # Woken by the kernel, not after a sleep of SQLite's busy handler (up to 100 ms a try).
    assert entered[0] - let_go < 0.2


async def test_a_writer_gives_up_after_its_wait_and_the_next_goes_when_the_holder_lets_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.db-turn"
    holder = await holder_process(path)
    turn = WriteTurn(path, wait=0.3)
    try:
        for _ in range(2):  # the second waits on the thread the first left waiting
            with pytest.raises(DatabaseError) as refused:
                async with turn.taken(True):
                    pass
            assert str(refused.value) == (
                f"database is locked: another process (`fuser {path}` names it) has held the"
                " write turn for longer than 0.3 seconds"
            )
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        async with turn.taken(True):
            pass
        async with turn.taken(False):  # this process's own holder
            with pytest.raises(DatabaseError, match="a transaction of this process has held"):
                async with turn.taken(True):
                    pass
    finally:
        holder.kill()
        holder.communicate()
        turn.close()


async def test_a_client_s_commit_goes_before_a_campaign_s_waiting_in_the_same_process(
    db: Database,
) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL locks rows: it has no write turn")
    tenant = await accounts.create_tenant(db, "turn")
    campaign = new_message(tenant.id, via="campaign")
    smtp = new_message(tenant.id, via="smtp")
    other = Database(db.url)  # a second process's connections: its own turn
    release = asyncio.Event()
    committed: list[str] = []

    async def hold() -> None:
        async with db.begin():
            await release.wait()

    async def store(message: NewMessage, name: str) -> None:
        await queue.insert_messages(db, SEALER, [message])
        committed.append(name)

    try:
        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        elsewhere = asyncio.create_task(_write_in(other))
        campaign_task = asyncio.create_task(store(campaign, "campaign"))
        await asyncio.sleep(0.01)
        smtp_task = asyncio.create_task(store(smtp, "smtp"))
        await asyncio.sleep(0.05)
        assert committed == []
        assert not elsewhere.done()  # the other "process" waits too
        release.set()
        await asyncio.gather(holder, campaign_task, smtp_task, elsewhere)
    finally:
        await other.close()
    assert committed == ["smtp", "campaign"]
    async with db.read() as conn:
        stored = set((await conn.execute(select(Message.id))).scalars())
    assert {campaign.id, smtp.id} <= stored


async def _write_in(database: Database) -> None:
    tenant = await accounts.create_tenant(database, "elsewhere")
    assert tenant.id


async def test_a_turn_file_that_cannot_be_opened_is_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "gateway.db-turn").mkdir()  # in the way of the file
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    try:
        with pytest.raises(
            DatabaseError, match=r"write turn's file .*gateway\.db-turn cannot be opened"
        ):
            async with database.begin():
                pass
        async with database.read() as conn:  # reads take no turn
            assert (await conn.execute(select(1))).scalar_one() == 1
    finally:
        await database.close()
