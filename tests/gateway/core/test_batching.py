"""Group commit: batches, their size, stopping, and a failed write reaching every caller."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.core.batching import Batcher

SOON = 2
"""Seconds within which what is awaited here happens (in milliseconds, unless broken)."""


class Store:
    """A `write` that records each batch; `hold()` makes the next writes wait for `release()`,
    so that callers pile up behind the batch being written; `fail` makes writes raise it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()
        self.fail: Exception | None = None

    async def write(self, items: Sequence[int]) -> None:
        self.writing.set()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.batches.append(list(items))

    def hold(self) -> None:
        self.gate.clear()
        self.writing.clear()

    def release(self) -> None:
        self.gate.set()


async def started(store: Store, **options: Any) -> Batcher[int]:
    batcher: Batcher[int] = Batcher(store.write, **options)
    batcher.start()
    return batcher


async def stop(batcher: Batcher[int]) -> None:
    async with asyncio.timeout(SOON):
        await batcher.stop()


async def pile_up(batcher: Batcher[int], store: Store, items: range) -> list[asyncio.Task[None]]:
    """Item `items[0]` is being written (held); the others wait in the queue behind it."""
    store.hold()
    first = asyncio.create_task(batcher.submit(items[0]))
    async with asyncio.timeout(SOON):
        await store.writing.wait()
    rest = [asyncio.create_task(batcher.submit(item)) for item in items[1:]]
    await asyncio.sleep(0)  # every submit has queued its item
    return [first, *rest]


async def test_submit_returns_once_its_item_is_committed() -> None:
    store = Store()
    batcher = await started(store)
    [task] = await pile_up(batcher, store, range(1))
    await asyncio.sleep(0.05)
    assert not task.done()  # still being written
    store.release()
    async with asyncio.timeout(SOON):
        await task
    assert store.batches == [[0]]
    await stop(batcher)


async def test_items_that_arrive_during_a_write_are_committed_together() -> None:
    store = Store()
    batcher = await started(store)
    tasks = await pile_up(batcher, store, range(3))
    store.release()
    async with asyncio.timeout(SOON):
        await asyncio.gather(*tasks)
    assert store.batches == [[0], [1, 2]]
    await stop(batcher)


@pytest.mark.parametrize(("max_batch", "sizes"), [(2, [1, 2, 2, 1]), (None, [1, 256, 43])])
async def test_a_batch_holds_at_most_max_batch_items(
    max_batch: int | None, sizes: list[int]
) -> None:
    store = Store()
    batcher = await started(store, **({"max_batch": max_batch} if max_batch else {}))
    tasks = await pile_up(batcher, store, range(sum(sizes)))
    store.release()
    async with asyncio.timeout(SOON):
        await asyncio.gather(*tasks)
    assert [len(batch) for batch in store.batches] == sizes  # the default is 256
    assert [item for batch in store.batches for item in batch] == list(range(sum(sizes)))
    await stop(batcher)


def batcher_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "batcher"]


async def test_stop_writes_what_is_queued_then_ends_its_task() -> None:
    store = Store()
    batcher = await started(store)
    tasks = await pile_up(batcher, store, range(3))
    assert len(batcher_tasks()) == 1
    stopping = asyncio.create_task(batcher.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the queued items
    store.release()
    async with asyncio.timeout(SOON):
        await stopping
    assert store.batches == [[0], [1, 2]]
    assert all(task.done() and task.exception() is None for task in tasks)
    assert batcher_tasks() == []


async def test_submit_after_stop_or_before_start_raises() -> None:
    store = Store()
    batcher: Batcher[int] = Batcher(store.write)
    with pytest.raises(RuntimeError, match="the batcher is not running"):
        await batcher.submit(1)
    batcher.start()
    async with asyncio.timeout(SOON):
        await batcher.submit(1)
        await batcher.stop()
    assert batcher_tasks() == []  # ended, not ending
    with pytest.raises(RuntimeError, match="the batcher is not running"):
        await batcher.submit(2)
    assert store.batches == [[1]]


async def test_a_failed_write_reaches_every_caller_of_its_batch_only() -> None:
    store = Store()
    batcher = await started(store)
    tasks = await pile_up(batcher, store, range(3))
    store.fail = OSError("disk full")
    store.release()
    async with asyncio.timeout(SOON):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(result) for result in results] == ["disk full"] * 3
    assert all(result is store.fail for result in results)
    store.fail = None  # the batcher goes on with the next batch
    async with asyncio.timeout(SOON):
        await batcher.submit(3)
    assert store.batches == [[3]]
    await stop(batcher)


async def test_a_caller_that_gave_up_leaves_no_unread_exception() -> None:
    """A caller cancelled while its batch is written: the failure is not reported as a `Future
    exception was never retrieved` by the event loop."""
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    store = Store()
    batcher = await started(store)
    [task] = await pile_up(batcher, store, range(1))
    task.cancel()
    store.fail = OSError("disk full")
    store.release()
    async with asyncio.timeout(SOON):
        await batcher.stop()
    del task
    store.fail = None  # its traceback holds the batcher's frame, and so the future
    for _ in range(3):  # the cancelled batcher task lets go of its frame in a later turn
        await asyncio.sleep(0)
        gc.collect()
    assert unhandled == []


async def test_items_submitted_together_are_written_in_one_batch_never_split() -> None:
    """`submit_all`: one batch holds the whole group, even past `max_batch` (the callers behind
    it wait for the next); an empty group writes nothing."""
    store = Store()
    batcher = await started(store, max_batch=2)
    [first] = await pile_up(batcher, store, range(1))
    group = asyncio.create_task(batcher.submit_all([1, 2, 3]))
    await asyncio.sleep(0)
    single = asyncio.create_task(batcher.submit(4))
    await asyncio.sleep(0)
    store.release()
    async with asyncio.timeout(SOON):
        await asyncio.gather(first, group, single)
        await batcher.submit_all([])
    assert store.batches == [[0], [1, 2, 3], [4]]
    await stop(batcher)
