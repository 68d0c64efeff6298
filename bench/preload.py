"""Fill the spool with a backlog before a benchmark: `bench/run.py --preload N` runs it.

    python -m bench.preload 1000000 --tenant backlog --kind deferred

The question it serves (issue 15): do claim time and the SMTP p99 stay the same whether the
queue is empty or holds a million messages? Two backlogs that a real gateway meets:

- `deferred`: queued messages whose next attempt is a day away (what an SES outage leaves);
- `paused`: messages that are due, of a tenant paused once they are queued (what the reputation
  guard leaves when it stops a bulk sender; `bench/run.py` pauses the tenant after the preload):
  claims must not step over them.

A first batch of messages goes through the spool's own storage function (so every column is
stored as the gateway stores it, bodies sealed); the rest are copies of it made by the database
(`INSERT ... SELECT` over a series), a hundred thousand a transaction: a million take a minute
rather than an hour. The copies' bodies are sealed for another queue id, so they would not
open: this backlog is for standing in the way, never for sending. It runs with the gateway's
settings (`SES_GATEWAY_*`: its database and data folder), the tenant made beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, text

from admin.runtime import Parts
from config import Settings
from gateway.core.types.messages import NewMessage
from gateway.intake.spool import new_queue_id
from gateway.runtime.housekeeping import reseal
from gateway.storage import queue, tenants
from gateway.storage.database import Database
from gateway.storage.models import Message, MessageBody, Recipient

SEED = 1000
COPIES_PER_TRANSACTION = 100
BODY = b"From: backlog@example.com\r\nTo: r@example.net\r\nSubject: backlog\r\n\r\n" + b"x" * 400


def _seed(tenant_id: int, due: datetime, count: int) -> list[NewMessage]:
    now = datetime.now(UTC)
    return [
        NewMessage(
            id=new_queue_id(),
            tenant_id=tenant_id,
            credential_id=None,
            mail_from="backlog@example.com",
            recipients=(f"r{i}@example.net",),
            data=BODY,
            client_address="127.0.0.1",
            client_helo="preload",
            tls=None,
            auth_username=None,
            message_id_header=f"<backlog-{i}@example.com>",
            created_at=due + timedelta(microseconds=i),
            expires_at=now + timedelta(days=5),
            subject="backlog",
            header_size=BODY.index(b"\r\n\r\n") + 4,
        )
        for i in range(count)
    ]


def _copy(db: Database, table: Table, key: str, skip: str | None, ids: str) -> str:
    """`INSERT ... SELECT` copying the rows of `table` whose `key` is among the seed's ids, once
    for each `n` of the series, `key` suffixed with `n` (and `skip`, an identity, left out)."""
    suffix = "printf('%06d', n)" if db.is_sqlite else "lpad(n::text, 6, '0')"
    names = [c.name for c in table.columns if c.name != skip]
    values = [f"{table.name}.{n} || {suffix}" if n == key else f"{table.name}.{n}" for n in names]
    return (  # names from the models, ids made by new_queue_id
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(values)} "  # noqa: S608
        f"FROM {table.name}, series WHERE {table.name}.{key} IN ({ids})"
    )


async def preload(settings: Settings, count: int, tenant: str, kind: str) -> None:
    started = time.monotonic()
    async with Parts.open(settings, migrate=False) as parts:
        db = parts.db
        tenant_id = (await tenants.get_tenant(db, tenant)).id
        due = datetime.now(UTC) + (timedelta(days=1) if kind == "deferred" else -timedelta(hours=1))
        seed = _seed(tenant_id, due, min(SEED, count))
        await queue.insert_messages(db, parts.sealer, seed)
        # A gateway that has run has had its first `reseal` round: without one, the run's first
        # minute would be spent reading the backlog to learn it is sealed (the copies are).
        await reseal(db, parts.sealer)
        ids = ", ".join(f"'{m.id}'" for m in seed)  # made here: hexadecimal, nothing to quote
        copies = (count - len(seed)) // len(seed)
        for first in range(1, copies + 1, COPIES_PER_TRANSACTION):
            last = min(copies, first + COPIES_PER_TRANSACTION - 1)
            series = (  # integers only
                f"WITH RECURSIVE series(n) AS (SELECT {first} UNION ALL "  # noqa: S608
                f"SELECT n + 1 FROM series WHERE n < {last}) "
                if db.is_sqlite
                else f"WITH series(n) AS (SELECT generate_series({first}, {last})) "
            )
            async with db.begin() as conn:
                for table, key, skip in (
                    (Message.__table__, "id", None),
                    (MessageBody.__table__, "message_id", None),
                    (Recipient.__table__, "message_id", "id"),
                ):
                    assert isinstance(table, Table)
                    await conn.execute(text(series + _copy(db, table, key, skip, ids)))
            done = len(seed) * (last + 1)
            print(f"[preload] {done} messages", file=sys.stderr, flush=True)
        if not db.is_sqlite:
            # The planner's statistics, as autovacuum would have them on a server that has run
            # with this queue (it would analyze within a minute: perhaps in the measurement).
            async with db.begin() as conn:
                await conn.execute(text("ANALYZE"))
    total = len(seed) * (copies + 1)
    print(
        f"[preload] {total} {kind} messages of tenant {tenant} in "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int, help="how many messages (rounded down to 1,000s)")
    parser.add_argument("--tenant", required=True, help="an existing tenant's name")
    parser.add_argument("--kind", choices=("deferred", "paused"), default="deferred")
    args = parser.parse_args()
    asyncio.run(preload(Settings(), args.count, args.tenant, args.kind))


if __name__ == "__main__":
    main()
