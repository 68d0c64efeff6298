"""Fault campaigns: `ses-gateway serve` under SMTP load while something breaks, with figures.

- `kill_cycles()`: the gateway is killed with `kill -9` again and again while it receives and
  sends, and started again each time. Figures: messages lost (a `250` that never reached SES: must
  be none), messages sent twice per crash (those the dead process had claimed and either had
  sent, but not recorded yet, or were in flight at SES), and how long until another process took
  over the dead one's messages (its leases ran out).
- `database_outages()`: PostgreSQL crashed and started again, or SQLite's disk full (the data
  directory on a small tmpfs, filled up, then freed), while clients send. Figures: the replies
  they got meanwhile (each must be a `4xx` with an enhanced code), messages lost (a `250` for a
  message that was not stored, or never sent), and how long until the first `250` after the
  fault ended, the gateway never restarted.

Why here: the same campaigns run short in the test suite (tests/admin/test_crash.py,
tests/admin/test_database_faults.py) and long by hand (bench/faults.py), over loopback only,
with the real gateway process and the fake SES of `tests.support.process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import smtplib
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.intake.replies import INTERNAL_ERROR
from tests.support.postgres import PostgresServer
from tests.support.process import (
    FakeSesProcess,
    Gateway,
    Process,
    Processes,
    markers,
    problems,
    provision,
    send,
    smtp_client,
)

Log = Callable[[str], None]
ROLES = ("--role", "smtp", "--role", "worker")
SES_DELAY = 0.2
"""Seconds the fake SES takes to answer each send: there are always sends in flight at SES."""
WARM_UP = 20
"""Messages each process accepts before it may be killed (its clients are back)."""
SETTLE_TIMEOUT = 120.0
"""Seconds for the last gateway to send everything once the faults are over."""
KILL_ATTEMPTS = 3
"""Kills a counted cycle may take: a process seen holding leases may end its last sends in the
moment between that look and the kill; it is then killed holding nothing, which tests no
take-over, and a new process is started and killed in its place."""
PATIENCE = 120.0
"""Seconds to wait for a process to start, or a cycle to have sends in flight: a busy machine
may take longer than `tests.support.process.START_TIMEOUT`."""


class FaultUnavailable(Exception):
    """The fault cannot be made here (e.g. mounting a tmpfs needs root)."""


def _quiet(_: str) -> None:
    pass


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Clients:
    """`count` threads, each sending one message after another over SMTP until `stop()`.

    A client that loses its connection (the gateway was killed) connects again, as a real client
    would; a refused message is not sent again (the next one is a new message). Every `250`
    is kept (marker -> queue id), and every other reply and error is counted.
    """

    port: int
    username: str
    password: str
    count: int = 8
    pace: float = 0.01
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    accepted: dict[str, str] = field(default_factory=dict)
    last_accepted: float = 0.0
    replies: Counter[str] = field(default_factory=Counter)
    """Replies other than `250` ("451 4.3.0 Temporary failure ..."), and how many times."""
    disconnects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Clients:
        for n in range(self.count):
            thread = threading.Thread(target=self._client, args=(n,), name=f"client-{n}")
            thread.start()
            self._threads.append(thread)
        return self

    def _client(self, n: int) -> None:
        sequence = 0
        while not self._stop.is_set():
            try:
                with smtp_client(self.port, self.username, self.password, timeout=30) as client:
                    while not self._stop.is_set():
                        marker = f"{self.run_id}-{n}-{sequence}"
                        sequence += 1
                        self._send(client, marker)
                        self._stop.wait(self.pace)
            except smtplib.SMTPResponseException as exc:  # refused at connection or AUTH
                self._refused(exc.smtp_code, exc.smtp_error)
                self._stop.wait(0.2)
            except (OSError, smtplib.SMTPException):
                with self._lock:
                    self.disconnects += 1
                self._stop.wait(0.1)

    def _send(self, client: smtplib.SMTP, marker: str) -> None:
        try:
            queue_id = send(client, marker)
        except smtplib.SMTPRecipientsRefused as exc:
            for code, reply in exc.recipients.values():
                self._refused(code, reply)
            client.rset()
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code in (421, -1):
                raise  # the session is over
            self._refused(exc.smtp_code, exc.smtp_error)
            client.rset()
        else:
            with self._lock:
                self.accepted[marker] = queue_id
                self.last_accepted = time.monotonic()

    def _refused(self, code: int, reply: bytes | str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        with self._lock:
            self.replies[f"{code} {text}"] += 1

    def accepted_count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def accepted_more(self, than: int) -> bool:
        """Whether `WARM_UP` more messages than `than` got `250`."""
        return self.accepted_count() >= than + WARM_UP

    def accepted_since(self, moment: float) -> bool:
        with self._lock:
            return self.last_accepted > moment

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} is stuck")


# -- the database, read from this process -----------------------------------------------------


def _query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    from gateway.storage.database import Database

    async def run() -> list[tuple[Any, ...]]:
        db = Database(database_url)
        try:
            async with db.read() as conn:
                return [tuple(row) for row in await conn.execute(text(sql), params)]
        finally:
            await db.close()

    return asyncio.run(run())


def leased_by(database_url: str, pid: int) -> set[str]:
    """The queued messages that the process `pid` holds a lease on (its owner name holds it)."""
    rows = _query(
        database_url,
        "SELECT id FROM messages WHERE state = 'queued' AND lease_owner LIKE :owner",
        owner=f"%/{pid}/%",
    )
    return {row[0] for row in rows}


def queue_states(database_url: str) -> set[str]:
    return {row[0] for row in _query(database_url, "SELECT DISTINCT state FROM messages")}


def stored(database_url: str, queue_ids: set[str]) -> set[str]:
    rows = _query(database_url, "SELECT id FROM messages")
    return queue_ids & {row[0] for row in rows}


def _wait(what: str, condition: Callable[[], bool], timeout: float, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        time.sleep(poll)


# -- what reached SES --------------------------------------------------------------------------


@dataclass
class Deliveries:
    """Every send the fake SES accepted, by queue id, and what it says of the accepted ones."""

    sends: dict[str, list[float]]  # queue id -> when SES accepted each send
    markers: set[str]

    @classmethod
    def read(cls, fake: FakeSesProcess) -> Deliveries:
        sends: dict[str, list[float]] = defaultdict(list)
        seen: set[str] = set()
        for message in fake.messages():
            sends[message["tags"]["queue_id"]].append(float(message["accepted_at"]))
            seen.update(markers(message["raw"]))
        return cls({q: sorted(t) for q, t in sends.items()}, seen)

    def duplicated(self) -> dict[str, int]:
        return {q: len(t) for q, t in self.sends.items() if len(t) > 1}


def _serve(gateway: Gateway) -> Process:
    """`serve --role smtp --role worker`, returned once it accepts connections."""
    process = gateway.serve(*ROLES, wait=False)
    process.wait_for_log(r" started roles=", PATIENCE)
    process.wait_for_port(gateway.smtp_port, PATIENCE)
    return process


def _settle(process: Process, database_url: str, fake: FakeSesProcess, clients: Clients) -> None:
    """Once the load has stopped: until `process` has sent every accepted message and every
    message is done; then stop it (cleanly)."""
    _wait(
        "every message done",
        lambda: queue_states(database_url) <= {"done"},
        SETTLE_TIMEOUT,
    )
    # Done means sent (or failed): one look at the fake SES, which holds every send, is enough.
    wanted = set(clients.accepted)
    fake.wait_for(lambda sent: wanted <= {m for s in sent for m in markers(s["raw"])}, 10)
    status = process.terminate()
    if status != 0:
        raise process.fail(f"exited with status {status} at SIGTERM")


# -- kill -9 -----------------------------------------------------------------------------------


@dataclass
class Crash:
    """One `kill -9`: when, the messages the dead process held, and what followed."""

    killed_at: float
    started_at: float
    held: set[str]
    recovery: float | None = None
    """Seconds from the kill until no message was held by the dead process any longer."""
    answered_before: int = 0
    """Held messages SES had accepted before the kill (outcome not recorded yet): sent twice."""
    answered_after: int = 0
    """Held messages in flight at SES at the kill (accepted after it): sent twice."""
    oldest_answer: float = 0.0
    """Seconds between SES's answer and the kill, for the oldest of `answered_before`."""

    @property
    def duplicates(self) -> int:
        return self.answered_before + self.answered_after


@dataclass
class KillReport:
    backend: str
    lease: float | None
    crashes: list[Crash]
    accepted: int
    committed: int
    sends: int
    lost: list[str]
    unexplained: dict[str, int]
    """Queue ids sent more often than the crashes that held them explain (must be empty)."""
    log_problems: list[str]
    seconds: float

    @property
    def duplicated(self) -> int:
        return sum(c.duplicates for c in self.crashes)

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} accepted messages never reached SES: {self.lost[:5]}")
        if self.unexplained:
            found.append(f"sent twice without a crash to explain it: {self.unexplained}")
        if any(c.recovery is None for c in self.crashes):
            found.append("a dead process's messages were never taken over")
        if self.log_problems:
            found.append("errors in the gateway's logs:\n" + "\n".join(self.log_problems[:20]))
        return found

    def summary(self) -> str:
        per_crash = [c.duplicates for c in self.crashes]
        recoveries = [c.recovery for c in self.crashes if c.recovery is not None]
        window = max((c.oldest_answer for c in self.crashes), default=0.0)
        return (
            f"kill -9 x {len(self.crashes)} on {self.backend} "
            f"(DELIVERY_LEASE {self.lease or 'default'}): {self.accepted} messages accepted (250), "
            f"{self.committed} committed, {self.sends} sends to SES; lost {len(self.lost)}; "
            f"duplicated {self.duplicated} ({sum(c.answered_after for c in self.crashes)} in "
            f"flight at SES at the kill, {sum(c.answered_before for c in self.crashes)} answered "
            f"but not yet recorded, the oldest answered {window * 1000:.0f} ms before the kill); "
            f"per crash: held {_spread([len(c.held) for c in self.crashes])}, duplicated "
            f"{_spread(per_crash)}; dead process's messages taken over after "
            f"{_spread(recoveries, '.1f')} s; {self.seconds:.0f} s in all"
        )


def _spread(values: list[Any], spec: str = ".0f") -> str:
    if not values:
        return "-"
    return (
        f"min {min(values):{spec}} / mean {statistics.fmean(values):{spec}} / "
        f"max {max(values):{spec}}"
    )


def kill_cycles(
    directory: Path,
    database_url: str | None,
    cycles: int,
    *,
    run: float = 1.0,
    lease: float | None = None,
    clients: int = 8,
    minutes: float | None = None,
    log: Log = _quiet,
) -> KillReport:
    """`cycles` times: start `serve --role smtp --role worker`, let it take messages and send
    them for `run` seconds (and until it has accepted `WARM_UP` messages, the previous dead
    process's messages are taken over and this one holds some), then `kill -9` it; a kill
    that finds it holding nothing is not counted (`KILL_ATTEMPTS`). `database_url` None:
    SQLite in `directory`. `lease`: `DELIVERY_LEASE`, None: the default.
    `minutes`: no new cycle after that long (fewer than `cycles` then)."""
    started = time.monotonic()
    end = started + minutes * 60 if minutes else float("inf")
    settings: dict[str, object] = {"retry_base_delay": 0.5, "retry_max_delay": 1}
    if lease is not None:
        settings["delivery_lease"] = lease
    with _processes(directory) as processes:
        fake = FakeSesProcess(processes, delay=SES_DELAY)
        gateway = Gateway.create(
            processes,
            directory / "gw",
            ses_url=fake.url,
            database_url=database_url,
            smtps_port=0,
            **settings,
        )
        url = gateway.database_url
        _, username, password = provision(url)
        load = Clients(gateway.smtp_port, username, password, count=clients)
        crashes: list[Crash] = []
        dead: list[tuple[int, Crash]] = []  # not taken over yet
        logs: list[Process] = []
        load.start()
        try:
            for _ in range(KILL_ATTEMPTS * cycles):
                cycle = len(crashes)
                if cycle == cycles:
                    break
                if time.monotonic() > end:
                    log(f"{minutes:g} minutes are over: {cycle} cycles")
                    break
                process = _serve(gateway)
                logs.append(process)
                ready = time.monotonic()
                before = load.accepted_count()

                def ripe(
                    pid: int = process.pid, ready: float = ready, before: int = before
                ) -> bool:
                    dead[:] = [(p, c) for p, c in dead if not _taken_over(url, p, c)]
                    return (
                        not dead
                        and time.monotonic() - ready >= run
                        and load.accepted_more(before)
                        and bool(leased_by(url, pid))
                    )

                _wait(f"cycle {cycle + 1}: sends in flight", ripe, PATIENCE, poll=0.05)
                killed_at = time.monotonic()
                process.kill()
                crash = Crash(killed_at, ready, leased_by(url, process.pid))
                if not crash.held:  # its last sends ended between the look and the kill
                    log(f"cycle {cycle + 1}: killed holding nothing; not counted, again")
                    continue
                crashes.append(crash)
                dead.append((process.pid, crash))
                log(
                    f"cycle {cycle + 1}/{cycles}: killed holding {len(crash.held)} messages; "
                    f"{load.accepted_count()} accepted so far"
                )
            last = _serve(gateway)
            logs.append(last)
            _wait(
                "the last dead process's messages taken over",
                lambda: all(_taken_over(url, pid, crash) for pid, crash in dead),
                60,
            )
        finally:
            load.stop()
        _settle(last, url, fake, load)
        delivered = Deliveries.read(fake)
        committed = {row[0] for row in _query(url, "SELECT id FROM messages")}
    _attribute(crashes, delivered)
    explained = Counter(q for c in crashes for q in c.held)
    unexplained = {q: n for q, n in delivered.duplicated().items() if n - 1 > explained.get(q, 0)}
    return KillReport(
        backend=url.split(":")[0].split("+")[0],
        lease=lease,
        crashes=crashes,
        accepted=len(load.accepted),
        committed=len(committed),
        sends=sum(len(t) for t in delivered.sends.values()),
        lost=sorted(set(load.accepted) - delivered.markers),
        unexplained=unexplained,
        log_problems=[line for p in logs for line in problems(p.log())],
        seconds=time.monotonic() - started,
    )


def _taken_over(database_url: str, pid: int, crash: Crash) -> bool:
    if leased_by(database_url, pid):
        return False
    if crash.recovery is None:
        crash.recovery = time.monotonic() - crash.killed_at
    return True


def _attribute(crashes: list[Crash], delivered: Deliveries) -> None:
    """Which sends of its held messages the dead process made: each is sent again."""
    for crash in crashes:
        for queue_id in crash.held:
            # The dead process's sends: after it started, and answered at most a little more
            # than the fake's delay after the kill (a takeover comes after a restart, which
            # takes seconds, and a send, which takes the fake's delay).
            for at in delivered.sends.get(queue_id, ()):
                if crash.started_at <= at <= crash.killed_at:
                    crash.answered_before += 1
                    crash.oldest_answer = max(crash.oldest_answer, crash.killed_at - at)
                elif crash.killed_at < at <= crash.killed_at + SES_DELAY + 1.0:
                    crash.answered_after += 1


# -- database outages --------------------------------------------------------------------------


@dataclass
class OutageReport:
    kind: str
    outages: int
    down: float
    accepted: int
    replies: Counter[str]
    disconnects: int
    resumed: list[float]
    """Seconds from the end of each fault to the first `250` after it."""
    lost: list[str]
    """Queue ids of a `250` that are not in the database or never reached SES."""
    tracebacks: int
    """Tracebacks in the gateway's log (a fault it knows should need none)."""
    seconds: float
    traceback: str = ""
    """The first traceback in the log, with the line before it (empty when there is none)."""

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} messages got 250 but were lost: {self.lost[:5]}")
        wrong = [r for r in self.replies if not _temporary(r)]
        if wrong:
            found.append(f"replies other than 4xx with an enhanced code: {wrong}")
        unexpected = [r for r in self.replies if str(INTERNAL_ERROR) in r]
        if unexpected:
            found.append(f"the fault was taken for an unexpected error: {unexpected}")
        if not any(r.startswith("451 4.") for r in self.replies):
            found.append("no client got 451 during the fault")
        return found

    def summary(self) -> str:
        replies = ", ".join(f"{n} x {r!r}" for r, n in self.replies.most_common())
        return (
            f"{self.kind}: {self.outages} fault(s) of {self.down:g} s under load; "
            f"{self.accepted} messages accepted (250), lost {len(self.lost)}; refused meanwhile: "
            f"{replies or 'none'}; {self.disconnects} dropped connections; first 250 after each "
            f"fault: {', '.join(f'{s:.1f} s' for s in self.resumed)} (no restart); "
            f"{self.tracebacks} tracebacks in the log; "
            f"{self.seconds:.0f} s in all"
        )


def _temporary(reply: str) -> bool:
    parts = reply.split(maxsplit=2)
    return len(parts) >= 2 and parts[0].startswith("4") and parts[1].startswith("4.")


FILLER = "filler"


def database_outages(
    directory: Path,
    kind: str,
    outages: int = 1,
    *,
    down: float = 3.0,
    between: float = 3.0,
    clients: int = 8,
    log: Log = _quiet,
) -> OutageReport:
    """`kind` "postgresql": a durable PostgreSQL crashed (`pg_ctl stop -m immediate`) and
    started again after `down` seconds. `kind` "disk-full": SQLite on a tmpfs, filled up to the
    last byte, freed after `down` seconds (`FaultUnavailable` where a tmpfs cannot be mounted).
    `between` seconds of normal service before each fault."""
    started = time.monotonic()
    fault: Callable[[], contextlib.AbstractContextManager[None]]
    with contextlib.ExitStack() as stack:
        processes = stack.enter_context(_processes(directory))
        fake = FakeSesProcess(processes, delay=SES_DELAY)
        if kind == "postgresql":
            server = stack.enter_context(PostgresServer(durable=True))
            database_url: str | None = server.create_database("faults")
            fault = functools.partial(_postgres_down, server)
        elif kind == "disk-full":
            data = directory / "gw" / "data"
            stack.enter_context(_tmpfs(data, "64m"))
            database_url = None
            fault = functools.partial(_disk_full, data)
        else:
            raise ValueError(f"unknown fault {kind!r}")
        gateway = Gateway.create(
            processes,
            directory / "gw",
            ses_url=fake.url,
            database_url=database_url,
            smtps_port=0,
            retry_base_delay=0.5,
            retry_max_delay=1,
        )
        url = gateway.database_url
        _, username, password = provision(url)
        process = _serve(gateway)
        load = Clients(gateway.smtp_port, username, password, count=clients).start()
        resumed = []
        try:
            for n in range(outages):
                before = load.accepted_count()
                _wait("messages accepted", functools.partial(load.accepted_more, before), 60)
                time.sleep(between)
                with fault():
                    log(f"fault {n + 1}/{outages}: {kind} for {down:g} s")
                    time.sleep(down)
                ended = time.monotonic()
                _wait("a 250 after the fault", functools.partial(load.accepted_since, ended), 60)
                resumed.append(load.last_accepted - ended)
                process.check_alive()
                log(f"fault {n + 1}/{outages}: first 250 {resumed[-1]:.1f} s after it ended")
        finally:
            load.stop()
        _settle(process, url, fake, load)
        text = process.log()
        tracebacks = text.count("Traceback")
        first = text.find("Traceback")
        excerpt = text[max(0, text.rfind("\n", 0, first - 1)) : first + 3000] if tracebacks else ""
        delivered = Deliveries.read(fake)
        kept = stored(url, set(load.accepted.values()))
        lost = {q for m, q in load.accepted.items() if q not in kept or m not in delivered.markers}
    return OutageReport(
        kind=kind,
        outages=outages,
        down=down,
        accepted=len(load.accepted),
        replies=load.replies,
        disconnects=load.disconnects,
        resumed=resumed,
        lost=sorted(lost),
        tracebacks=tracebacks,
        seconds=time.monotonic() - started,
        traceback=excerpt,
    )


@contextlib.contextmanager
def _postgres_down(server: PostgresServer) -> Iterator[None]:
    server.shut_down("immediate")
    try:
        yield
    finally:
        server.start_up()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FaultUnavailable(f"cannot mount a tmpfs (needs root): {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def _disk_full(data: Path) -> Iterator[None]:
    """Fill the filesystem of `data` to the last byte; free it at the end."""
    filler = data / FILLER
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            try:
                while out.write(chunk[:size]):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    try:
        yield
    finally:
        filler.unlink()


@contextlib.contextmanager
def _processes(directory: Path) -> Iterator[Processes]:
    pool = Processes(directory)
    try:
        yield pool
    finally:
        pool.close()


__all__ = [
    "Clients",
    "Crash",
    "FaultUnavailable",
    "KillReport",
    "OutageReport",
    "database_outages",
    "kill_cycles",
]
