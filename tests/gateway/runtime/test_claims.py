"""The claim loop shared by delivery and webhooks: at most `concurrency` rows in flight, a claim
as soon as `enough` slots are free or on `wake()`, a failing claim retried, and `stop()` that lets
rows in flight finish within its grace and cancels the rest; a row claimed again while in flight
is not handled twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from gateway.runtime.claims import ClaimLoop

LOG = logging.getLogger("tests.claims")


class Rows:
    """A queue of due rows that the loop claims from; `handle` holds each until released."""

    def __init__(self, due: int) -> None:
        self.due = list(range(due))
        self.asked: list[int] = []
        self.handled: list[int] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def claim(self, limit: int) -> Sequence[int]:
        self.asked.append(limit)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the database is away")
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def handle(self, row: int) -> None:
        await self.release.wait()
        self.handled.append(row)

    def loop(self, concurrency: int, batch: int, enough: int = 1) -> ClaimLoop[int]:
        return ClaimLoop(
            "test",
            self.claim,
            self.handle,
            str,
            concurrency=concurrency,
            batch=batch,
            enough=enough,
            poll_interval=0.05,
            log=LOG,
        )


async def test_at_most_concurrency_rows_in_flight_then_the_rest() -> None:
    rows = Rows(10)
    loop = rows.loop(concurrency=4, batch=3)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    assert len(loop.inflight) == 4
    assert rows.asked[:2] == [3, 1]  # a batch, then what the free slots allow
    rows.release.set()
    for _ in range(100):
        if len(rows.handled) == 10:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    await task
    assert sorted(rows.handled) == list(range(10))


async def test_no_claim_until_enough_slots_are_free() -> None:
    rows = Rows(10)
    loop = rows.loop(concurrency=4, batch=10, enough=2)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.15)
    assert rows.asked == [4]  # full: no claim of a single slot's worth
    await loop.stop(grace=0)
    await task


async def test_wake_claims_before_the_poll_interval() -> None:
    rows = Rows(0)
    loop = rows.loop(concurrency=4, batch=4)
    loop._poll_interval = 10  # only a wake can bring the next claim
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.02)
    rows.due = [7]
    rows.release.set()
    loop.wake()
    for _ in range(100):
        if rows.handled:
            break
        await asyncio.sleep(0.01)
    assert rows.handled == [7]
    await loop.stop()
    await task


async def test_a_failed_claim_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    rows = Rows(2)
    rows.fail_next = True
    rows.release.set()
    loop = rows.loop(concurrency=4, batch=4)
    with caplog.at_level(logging.ERROR, logger="tests.claims"):
        task = asyncio.create_task(loop.run())
        for _ in range(100):
            if len(rows.handled) == 2:
                break
            await asyncio.sleep(0.01)
        await loop.stop()
        await task
    assert sorted(rows.handled) == [0, 1]
    [failure] = [r for r in caplog.records if r.name == "tests.claims"]
    assert failure.getMessage() == "test: claiming failed; trying again shortly"


async def test_stop_waits_for_rows_in_flight_within_the_grace_and_cancels_the_rest() -> None:
    rows = Rows(2)
    loop = rows.loop(concurrency=4, batch=4)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.02)
    assert len(loop.inflight) == 2
    started = asyncio.get_running_loop().time()
    await loop.stop(grace=0.1)
    await task
    assert 0.09 <= asyncio.get_running_loop().time() - started < 1
    assert rows.handled == []
    assert loop.inflight == {}


async def test_stop_without_a_grace_lets_every_row_finish() -> None:
    rows = Rows(3)
    loop = rows.loop(concurrency=4, batch=4)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.02)
    asyncio.get_running_loop().call_later(0.1, rows.release.set)
    await loop.stop()
    await task
    assert sorted(rows.handled) == [0, 1, 2]


async def test_a_row_claimed_again_while_in_flight_is_not_started_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The row's lease ran out while it was handled (renewals too slow): the claim returns it.
    rows = Rows(1)
    loop = rows.loop(concurrency=4, batch=4)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    rows.due = [0]
    loop.wake()
    await asyncio.sleep(0.05)
    assert rows.due == []  # claimed again
    rows.release.set()
    await loop.stop()
    await task
    assert rows.handled == [0]
    assert "test: 0 claimed again while in flight here" in caplog.text
