"""Group commit: many concurrent callers, one transaction for all that arrived together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """`await submit(item)` returns once `write` has committed a batch that holds the item;
    `await submit_all(items)`, once a batch that holds them all (never split: a caller that has
    many items at once, a campaign's chunk of messages, waits on one future, not one each).

    While one batch is being written, new items queue up and form the next batch, so the
    number of commits per second stays bounded however many callers there are.
    """

    def __init__(
        self, write: Callable[[Sequence[T]], Awaitable[None]], max_batch: int = 256
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        """Items a batch takes no more callers' items beyond (one `submit_all` may pass it)."""
        self._queue: asyncio.Queue[tuple[Sequence[T], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def submit(self, item: T) -> None:
        await self.submit_all((item,))

    async def submit_all(self, items: Sequence[T]) -> None:
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        if not items:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((items, future))
        await asyncio.shield(future)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            count = len(batch[0][0])
            while count < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                count += len(batch[-1][0])
            try:
                await self._write([item for items, _ in batch for item in items])
            except Exception as exc:  # every caller hears of the failure of its batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # a caller that gave up must not leave it unread
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                for _ in batch:
                    self._queue.task_done()
