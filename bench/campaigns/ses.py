"""Fault campaign: SES answers slowly, throttles, fails with 500s and resets connections.

    .venv/bin/python -m bench.campaigns.ses                 # a 3-minute outage, 5 msgs/s
    .venv/bin/python -m bench.campaigns.ses --minutes 10 --rate 20 --share 0.7 --json

A real `ses-gateway serve` (all roles, SQLite, production retry settings unless told otherwise)
sends to the fake SES (`tests.support.fakeses`, a process of its own); SMTP clients submit
messages at `--rate` while the fake SES is in an outage of `--minutes`: each send gets, with
probability `--share`, one of a slow answer (`--delay` seconds, then accepted), a `Throttling`
400, an `InternalFailure` 500 or a connection closed without an answer. Then the outage ends and
the campaign waits for the queue to drain.

It passes (exit 0) when no message that got `250` is lost, none is bounced (every fault is one to
retry), the queue drains within `--drain-timeout`, and the gateway logs no error or traceback.
A message may reach SES twice when SES accepted it but its answer was lost (a slow answer after
the gateway's `SES_TIMEOUT`): those are counted as duplicates, not as failures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import smtplib
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


@dataclass
class Figures:
    """What a campaign measured; `ok` when nothing was lost, bounced or logged as an error."""

    outage_seconds: float
    sent: int = 0
    """Messages that got `250`."""
    refused: dict[str, int] = field(default_factory=dict)
    """SMTP refusals during the outage, by reply code (none expected: intake does not need SES)."""
    faults: dict[str, int] = field(default_factory=dict)
    """Sends the fake SES answered with a fault, by kind."""
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    bounced: int = 0
    """Messages with a recipient `failed`: each fault was one to retry, so none should be."""
    drain_seconds: float | None = None
    """From the end of the outage until every accepted message is done (None: it never was)."""
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.sent > 0
            and not self.lost
            and not self.bounced
            and self.drain_seconds is not None
            and not self.log_problems
        )

    def render(self) -> str:
        drain = "never" if self.drain_seconds is None else f"{self.drain_seconds:.1f} s"
        lines = [
            f"outage               {self.outage_seconds:.0f} s",
            f"messages sent (250)  {self.sent}",
            f"SMTP refusals        {dict(self.refused) or 0}",
            f"SES faults served    {dict(self.faults)}",
            f"delivered            {self.delivered}",
            f"lost                 {self.lost}",
            f"duplicates           {self.duplicates}  (answer lost after SES accepted)",
            f"bounced wrongly      {self.bounced}",
            f"drain time           {drain}",
            f"log errors           {len(self.log_problems)}",
            *(f"  {line}" for line in self.log_problems[:10]),
            "PASS" if self.ok else "FAIL",
        ]
        return "\n".join(lines)


@dataclass
class Load:
    """Threads that each submit messages, paced, on one SMTP session until told to stop."""

    port: int
    username: str
    password: str
    interval: float
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    accepted: dict[str, str] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    _numbers: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, name: str) -> None:
        session: smtplib.SMTP | None = None
        next_at = time.monotonic()
        while not self.stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            with self._lock:
                self._numbers[name] += 1
                marker = f"{self.run_id}-{name}-{self._numbers[name]}"
            try:
                session = session or smtp_client(self.port, self.username, self.password)
                queue_id = send(session, marker)
            except smtplib.SMTPResponseException as exc:
                with self._lock:
                    self.refused[str(exc.smtp_code)] += 1
            except (smtplib.SMTPException, OSError) as exc:
                with self._lock:
                    self.refused[type(exc).__name__] += 1
                session = None
            else:
                with self._lock:
                    self.accepted[marker] = queue_id
        if session is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                session.quit()


def campaign(
    directory: Path,
    *,
    outage: float,
    rate: float = 5.0,
    clients: int = 4,
    share: float = 1.0,
    delay: float = 10.0,
    drain_timeout: float = 600.0,
    seed: int | None = None,
    **settings: object,
) -> Figures:
    """Run one campaign in `directory`; `settings` are gateway settings (`retry_base_delay=2`)."""
    figures = Figures(outage)
    processes = Processes(directory)
    try:
        fake = FakeSesProcess(processes)
        gateway = Gateway.create(
            processes, directory / "gw", ses_url=fake.url, **{"ses_timeout": 30, **settings}
        )
        _, username, password = provision(gateway.database_url)
        server = gateway.serve()
        load = Load(gateway.smtp_port, username, password, interval=clients / rate)
        threads = [
            threading.Thread(target=load.client, args=(f"c{n}",), daemon=True)
            for n in range(clients)
        ]
        fake.outage(outage, share=share, delay=delay, seed=seed)
        ends = time.monotonic() + outage
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, ends - time.monotonic()))
        load.stop.set()
        for thread in threads:
            thread.join()
        figures.sent, figures.refused = len(load.accepted), dict(load.refused)
        drained = _drained(fake, gateway, set(load.accepted.values()), drain_timeout)
        figures.drain_seconds = None if drained is None else max(0.0, drained - ends)
        reached = Counter(m for s in fake.messages() for m in markers(s["raw"]))
        figures.faults = fake.faults()
        figures.delivered = len(set(load.accepted) & set(reached))
        figures.lost = figures.sent - figures.delivered
        figures.duplicates = sum(n - 1 for n in reached.values())
        queue = read_queue(gateway.database_url)
        figures.bounced = sum("failed" in m.recipient_states for m in queue.values())
        server.terminate()
        figures.log_problems = problems(server.log())
    finally:
        processes.close()
    return figures


def _drained(fake: FakeSesProcess, gateway: Gateway, ids: set[str], timeout: float) -> float | None:
    """When (`time.monotonic()`) no message of `ids` was queued any more; None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = read_queue(gateway.database_url)
        if all(queue[i].state != "queued" for i in ids if i in queue):
            return time.monotonic()
        fake.process.check_alive()
        time.sleep(0.5)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.campaigns.ses", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the outage")
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second submitted")
    parser.add_argument("--clients", type=int, default=4, help="SMTP sessions in parallel")
    parser.add_argument("--share", type=float, default=1.0, help="share of the sends that fail")
    parser.add_argument("--delay", type=float, default=10.0, help="seconds of a slow answer")
    parser.add_argument("--drain-timeout", type=float, default=1800.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, help="the fake SES's choice of faults")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a gateway setting, e.g. --set retry_base_delay=5 (production defaults otherwise)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="faults-ses-") as tmp:
        figures = campaign(
            Path(tmp),
            outage=args.minutes * 60,
            rate=args.rate,
            clients=args.clients,
            share=args.share,
            delay=args.delay,
            drain_timeout=args.drain_timeout,
            seed=args.seed,
            **settings,
        )
    print(json.dumps({**asdict(figures), "ok": figures.ok}) if args.json else figures.render())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
