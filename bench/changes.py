"""How soon another process hears of a change on PostgreSQL (gateway/runtime/changes.py).

    .venv/bin/python bench/changes.py                # 200 of each, a throwaway PostgreSQL
    .venv/bin/python bench/changes.py --count 500 --pg-durable

Two processes on one database, as two gateway instances: this one writes, a second one (this
script with `--listen`, started by it) runs a delivery worker whose poll interval is a minute,
and a change bus. Measured, from the moment the writer's commit returns:

- wake: a message stored (one spool commit) until the other process's worker hands it to SES
  (a stand-in that only notes the time): notification, claim, decryption;
- invalidation: a tenant paused or resumed until the other process's bus has dropped the facts
  it cached (its policy's next lookup reads the database).

Changes are made one at a time, 20 ms apart, so each finds the other process idle. Both clocks are
`time.monotonic()`, one clock for every process of the machine.

`--commits N` measures instead what a notification costs the transaction that makes the change:
N small transactions (one insert each, as a spool commit of one message) by 1 and by 8 writers
at once, alternating: without, and with a `pg_notify` inside each. PostgreSQL commits notifying
transactions one at a time, which matters with `--pg-durable`, where each commit waits for its
WAL flush.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from config import Settings  # noqa: E402
from gateway.aws.ses import Outgoing  # noqa: E402
from gateway.core.crypto import Sealer  # noqa: E402
from gateway.core.types.changes import Change, Topic  # noqa: E402
from gateway.delivery.worker import DeliveryWorker  # noqa: E402
from gateway.identity import accounts  # noqa: E402
from gateway.runtime.changes import ChangeBus  # noqa: E402
from gateway.storage import queue  # noqa: E402
from gateway.storage.changes import CHANNEL  # noqa: E402
from gateway.storage.database import Database  # noqa: E402
from gateway.storage.migrate import upgrade  # noqa: E402
from tests.support.messages import new_message  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

SEALER = Sealer(b"bench secret key")


async def listen(url: str) -> None:
    """The other instance: prints `ready`, then `heard TOPIC T` and `sent QUEUE_ID T` lines."""
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(database_url=url, data_dir=Path(data), delivery_poll_interval=60)
        db = Database(url)
        bus = ChangeBus(db)

        async def send(_tenant: str, outgoing: Outgoing) -> str:
            print("sent", outgoing.tags["queue_id"], time.monotonic(), flush=True)
            return "ses-id"

        def heard(change: Change) -> None:
            print("heard", change.topic, time.monotonic(), flush=True)

        worker = DeliveryWorker(db, SEALER, send, settings, "bench-listener")
        bus.subscribe(heard, Topic.QUEUED, Topic.TENANT)
        bus.subscribe(lambda _: worker.wake(), Topic.QUEUED)
        bus.start()
        task = asyncio.create_task(worker.run())
        await bus.listening.wait()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
        await worker.stop()
        await task
        await bus.stop()
        await db.close()


def figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99))]
    return (
        f"{name}: n={len(ms)} median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, "
        f"max {ms[-1]:.2f} ms"
    )


class Other:
    """The other instance, as a process: its lines read off the event loop."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--listen", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def line(self) -> list[str]:
        assert self.process.stdout is not None
        read = self.process.stdout.readline
        return (await asyncio.get_running_loop().run_in_executor(None, read)).split()

    async def until(self, word: str, key: str) -> float:
        """The time on the first line `word key T` to come."""
        while True:
            match await self.line():
                case [said, told, at] if (said, told) == (word, key):
                    return float(at)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


async def write(url: str, count: int) -> None:
    db = Database(url)
    await upgrade(db)
    tenant = await accounts.create_tenant(db, "bench")
    other = await asyncio.to_thread(Other, url)
    try:
        while await other.line() != ["ready"]:
            pass
        woken: list[float] = []
        sent: list[float] = []
        for _ in range(count):
            message = new_message(tenant.id)
            await queue.insert_messages(db, SEALER, [message])
            committed = time.monotonic()
            woken.append(await other.until("heard", Topic.QUEUED) - committed)
            sent.append(await other.until("sent", message.id) - committed)
            await asyncio.sleep(0.02)
        dropped: list[float] = []
        for number in range(count):
            await accounts.pause_tenant(db, "bench", None if number % 2 else "bench")
            committed = time.monotonic()
            dropped.append(await other.until("heard", Topic.TENANT) - committed)
            await asyncio.sleep(0.02)
        print(figures("wake: stored here, the worker there woken", woken))
        print(figures("wake: stored here, handed to SES there", sent))
        print(figures("invalidation: paused here, the facts there dropped", dropped))
    finally:
        other.close()
        await db.close()


async def commits(url: str, count: int) -> None:
    """Transactions a second, by 1 and 8 writers, without and with a notification in each."""
    db = Database(url)
    async with db.begin() as conn:
        await conn.execute(text("CREATE TABLE bench_commits (id serial PRIMARY KEY, data text)"))
    insert = text("INSERT INTO bench_commits (data) VALUES (:data)")
    notify = text("SELECT pg_notify(:channel, 'x queued ')")

    async def writer(share: int, notifying: bool) -> None:
        for _ in range(share):
            async with db.begin() as conn:
                await conn.execute(insert, {"data": "x" * 200})
                if notifying:
                    await conn.execute(notify, {"channel": CHANNEL})

    for round_ in range(3):
        for writers in (1, 8):
            for notifying in (False, True):
                started = time.perf_counter()
                await asyncio.gather(*(writer(count // writers, notifying) for _ in range(writers)))
                rate = count / (time.perf_counter() - started)
                how = "with NOTIFY" if notifying else "without"
                print(f"round {round_ + 1}: {writers} writer(s), {how}: {rate:.0f} commits/s")
    await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pg-durable", action="store_true", help="fsync and synchronous commit on")
    parser.add_argument("--commits", type=int, metavar="N", help="measure the cost of NOTIFY")
    parser.add_argument("--listen", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        asyncio.run(listen(args.listen))
        return
    with PostgresServer(durable=args.pg_durable) as server:
        url = server.create_database("bench_changes")
        asyncio.run(commits(url, args.commits) if args.commits else write(url, args.count))


if __name__ == "__main__":
    main()
