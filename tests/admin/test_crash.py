"""`kill -9` of the gateway under load loses no message that a client saw `250` for.

The fake SES runs as a process of its own and answers each send after half a second; the gateway
is killed while the database shows sends in flight (claimed, under lease). Leases are short, so
the restarted gateway takes over the messages of the dead one within seconds. A message whose
send was in flight at the kill may reach SES twice (its outcome was never recorded); no other may.
"""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.process import (
    FakeSesProcess,
    Gateway,
    Processes,
    markers,
    problems,
    provision,
    read_queue,
    send,
    smtp_client,
)

pytestmark = pytest.mark.slow

CLIENTS = 8
KILL_AFTER = 100
SES_DELAY = 0.5
PACE = 0.02
"""Seconds each client waits between messages: on SQLite a saturating load starves the claims
of delivery for seconds (they wait for the write lock), and the test would take long."""


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


@dataclass
class Load:
    """`CLIENTS` threads, each sending messages on one SMTP session until it breaks."""

    port: int
    username: str
    password: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    accepted: dict[str, str] = field(default_factory=dict)  # marker -> queue id
    errors: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(n,), name=f"client-{n}")
            thread.start()
            self.threads.append(thread)

    def _client(self, n: int) -> None:
        sequence = 0
        try:
            with smtp_client(self.port, self.username, self.password) as client:
                while not self.stop.is_set():
                    marker = f"{self.run_id}-{n}-{sequence}"
                    queue_id = send(client, marker)
                    with self.lock:
                        self.accepted[marker] = queue_id
                    sequence += 1
                    self.stop.wait(PACE)
        except (OSError, smtplib.SMTPException) as exc:
            # At the kill: that message got no 250, so it does not count.
            with self.lock:
                self.errors.append((time.monotonic(), f"client {n}: {exc!r}"))

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
            assert not thread.is_alive(), f"{thread.name} is stuck"


def mid_delivery(database_url: str) -> bool:
    """Whether some messages are done and others are being sent (claimed, under lease)."""
    states = Counter(
        "in flight" if m.state == "queued" and m.lease_owner else m.state
        for m in read_queue(database_url).values()
    )
    return states["done"] > 0 and states["in flight"] > 0


def wait_until_done(database_url: str, timeout: float) -> dict[str, tuple[str, ...]]:
    """Every message's recipient states once every message is done."""
    deadline = time.monotonic() + timeout
    while True:
        queue = read_queue(database_url)
        if all(m.state == "done" for m in queue.values()):
            return {m.id: m.recipient_states for m in queue.values()}
        if time.monotonic() > deadline:
            waiting = sorted(m.id for m in queue.values() if m.state != "done")
            raise TimeoutError(f"{len(waiting)} messages not done after {timeout}s: {waiting[:10]}")
        time.sleep(0.2)


def test_kill_9_under_load_loses_no_accepted_message(
    processes: Processes, tmp_path: Path, database_url: str
) -> None:
    started = time.monotonic()
    fake = FakeSesProcess(processes, delay=SES_DELAY)
    gateway = Gateway.create(
        processes,
        tmp_path / "gw",
        ses_url=fake.url,
        database_url=database_url,
        delivery_lease=2,
        retry_base_delay=0.5,
        retry_max_delay=1,
        smtps_port=0,
    )
    _, username, password = provision(gateway.database_url)
    first = gateway.serve("--role", "smtp", "--role", "worker")

    load = Load(gateway.smtp_port, username, password)
    load.start()
    try:
        # Kill once enough messages got 250, some were sent and others are being sent.
        deadline = time.monotonic() + 30
        while load.count() < KILL_AFTER or not mid_delivery(gateway.database_url):
            assert not load.errors, load.errors
            assert time.monotonic() < deadline, f"only {load.count()} messages accepted"
            first.check_alive()
            time.sleep(0.05)
        killed_at = time.monotonic()
        assert first.kill() == -9
    finally:
        load.join()
    accepted = dict(load.accepted)
    assert all(at >= killed_at for at, _ in load.errors), load.errors

    # What the dead gateway left: messages it had claimed and was sending (their leases run).
    before = read_queue(gateway.database_url)
    assert set(accepted.values()) <= set(before)  # a 250 means committed
    in_flight = {m.id for m in before.values() if m.state == "queued" and m.lease_owner}
    assert in_flight, "no send was in flight at the kill"
    done = sum(m.state == "done" for m in before.values())

    second = gateway.serve("--role", "smtp", "--role", "worker")
    fake.wait_for(lambda sent: set(accepted) <= {m for s in sent for m in markers(s["raw"])}, 30)
    states = wait_until_done(gateway.database_url, 30)
    assert second.terminate() == 0
    assert not problems(first.log()), first.log()
    assert not problems(second.log()), second.log()

    sent = fake.messages()
    by_marker = Counter(m for s in sent for m in markers(s["raw"]))
    by_queue_id = Counter(s["tags"]["queue_id"] for s in sent)
    missing = set(accepted) - set(by_marker)
    assert not missing, f"{len(missing)} accepted messages never reached SES: {sorted(missing)}"
    assert set(by_queue_id) == set(states)  # everything committed was sent, nothing else
    assert all(s == ("sent",) for s in states.values())
    duplicates = {queue_id: n for queue_id, n in by_queue_id.items() if n > 1}
    assert set(duplicates) <= in_flight, "a message that was not in flight was sent twice"
    assert all(n == 2 for n in duplicates.values()), duplicates
    assert sum(by_marker.values()) == len(sent)  # one marker per message

    print(
        f"\n{gateway.database_url.split(':')[0]}: {len(accepted)} accepted (250) before the kill, "
        f"{len(states)} committed; at the kill {done} done and {len(in_flight)} in flight; "
        f"{len(sent)} sends to SES, {len(duplicates)} duplicates "
        f"(all in flight at the kill); {time.monotonic() - started:.1f}s"
    )
