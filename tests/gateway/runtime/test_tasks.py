"""The registry of periodic tasks: rounds at their interval, a failed round logged and the next
one on time, a leased task in one process at a time across a shared database."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from gateway.core.exceptions import DatabaseError
from gateway.runtime.tasks import Periodic, Schedule
from gateway.storage.database import Database

LOG = logging.getLogger("tests.tasks")


async def test_a_task_runs_a_round_every_interval() -> None:
    rounds: list[float] = []

    async def tick() -> None:
        rounds.append(asyncio.get_running_loop().time())

    schedule = Schedule([Periodic("tick", tick, 0.05, LOG, "tick failed")])
    schedule.start()
    await asyncio.sleep(0.28)
    await schedule.stop()
    assert 4 <= len(rounds) <= 7
    gaps = [b - a for a, b in itertools.pairwise(rounds)]
    assert min(gaps) >= 0.04


async def test_a_busy_task_runs_its_next_round_at_once() -> None:
    rounds: list[float] = []

    async def tick() -> None:
        rounds.append(asyncio.get_running_loop().time())

    def busy() -> bool:
        return len(rounds) < 5  # five rounds at once, then every interval

    schedule = Schedule([Periodic("tick", tick, 10, LOG, "tick failed", busy=busy)])
    schedule.start()
    await asyncio.sleep(0.5)
    await schedule.stop()
    assert len(rounds) == 5
    assert rounds[-1] - rounds[0] < 0.4


async def test_a_failed_round_is_logged_and_the_next_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first round breaks")

    schedule = Schedule([Periodic("flaky", flaky, 0.02, LOG, "flaky failed; again soon")])
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        schedule.start()
        await asyncio.sleep(0.1)
        await schedule.stop()
    assert calls >= 2
    [failure] = [r for r in caplog.records if r.name == "tests.tasks"]
    assert failure.getMessage() == "flaky failed; again soon"
    assert failure.exc_info is not None


async def test_a_round_the_database_fails_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def store() -> None:
        raise DatabaseError("database error: OperationalError: database or disk is full")

    schedule = Schedule([Periodic("store", store, 0.02, LOG, "storing failed")])
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        schedule.start()
        await asyncio.sleep(0.05)
        await schedule.stop()
    failures = [r for r in caplog.records if r.name == "tests.tasks"]
    assert failures
    assert failures[0].getMessage() == (
        "storing failed: database error: OperationalError: database or disk is full"
    )
    assert all(r.exc_info is None for r in failures)


async def test_stop_ends_every_task() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    schedule = Schedule([Periodic("slow", slow, 1, LOG, "slow failed")])
    schedule.start()
    await started.wait()
    await asyncio.wait_for(schedule.stop(), 1)


async def test_a_leased_task_runs_in_one_process_at_a_time(db: Database) -> None:
    """Two schedules (two processes) sharing the database: only the lease holder's rounds run,
    and when it stops the other takes over once the lease runs out."""
    ran: list[str] = []

    def task(owner: str) -> Periodic:
        async def note() -> None:
            ran.append(owner)

        return Periodic("sync", note, 0.02, LOG, "sync failed", lease="test-sync", lease_ttl=2)

    first = Schedule([task("a")], db, "a")
    first.start()
    while not ran:
        await asyncio.sleep(0.01)
    other = Database(db.url)
    second = Schedule([task("b")], other, "b")
    second.start()
    await asyncio.sleep(0.3)
    assert set(ran) == {"a"}  # renewed every round, far within its 2 s
    await first.stop()
    stopped = asyncio.get_running_loop().time()
    for _ in range(500):
        if "b" in ran:
            break
        await asyncio.sleep(0.02)
    await second.stop()
    await other.close()
    assert "b" in ran
    assert asyncio.get_running_loop().time() - stopped >= 1.5  # not before the lease ran out
