"""One load-generator process of `bench/run.py`: SMTP clients on threads over blocking sockets.

Each thread holds one connection: EHLO, STARTTLS (or implicit TLS), EHLO, AUTH PLAIN once, then
MAIL / RCPT / DATA / body transactions until the process's share of messages is sent. Blocking
`ssl` sockets keep TLS and socket work in C with the GIL released, so one process drives many
connections for little CPU. The process makes one TLS context (making one loads the system's CA
certificates: more CPU than a handshake), and a thread that connects again resumes its last TLS
session (a ticket), as mail libraries that keep a session cache do, unless `resume` is false.

Protocol with the parent: the configuration is a JSON document in argv[1]. Once every connection
is set up the process prints `ready <json>`, waits for a line `go` on stdin, sends, and prints
`result <json>`. Times are `time.monotonic()` (CLOCK_MONOTONIC, shared by all processes).

What is measured per message (`latency`): from the moment the last byte of the body and its
terminating `.` line has been handed to the kernel (`sendall` returned) to the moment the reply
to it (`250`) has been read: the server's end-of-DATA work, including the durable spool commit.
`transaction` is from writing MAIL FROM to that reply.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

LINE = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\r\n"


class SmtpError(Exception):
    """An unexpected reply (`code` > 0), or the connection failed (`code` 0)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def make_message(index: int, size: int, tag: str) -> bytes:
    """A message of exactly `size` bytes (headers included), ready to send after `354`."""
    head = (
        f"From: Bench <bench@example.com>\r\n"
        f"To: <sink@example.com>\r\n"
        f"Subject: bench message {index}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: <{index}.{tag}@bench.example.com>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n"
        f"\r\n"
    ).encode("ascii")
    missing = max(0, size - len(head))
    body = LINE * (missing // len(LINE))
    rest = missing - len(body)
    if rest >= 2:
        body += b"x" * (rest - 2) + b"\r\n"
    # No line starts with ".", so no dot-stuffing is needed.
    return head + body + b".\r\n"


def tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the gateway's certificate is self-signed
    return context


class Client:
    def __init__(self, config: dict[str, Any], context: ssl.SSLContext) -> None:
        self.config = config
        self.context = context
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.session: ssl.SSLSession | None = None
        """The last TLS session, resumed by the next connection (`resume`)."""
        self.resumed = 0

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.reader.readline(1024)
            if not line:
                raise SmtpError("connection closed by the server")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def expect(self, codes: tuple[int, ...], what: str) -> None:
        code, text = self.reply()
        if code not in codes:
            raise SmtpError(f"{what}: {text.decode('ascii', 'replace').strip()}", code)

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def _wrap(self) -> None:
        assert self.sock is not None
        session = self.session if self.config["resume"] else None
        self.sock = self.context.wrap_socket(self.sock, session=session)
        self.resumed += bool(self.sock.session_reused)
        self.reader = self.sock.makefile("rb")

    def connect(self) -> None:
        cfg = self.config
        self.sock = socket.create_connection((cfg["host"], cfg["port"]), timeout=cfg["io_timeout"])
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")
        if cfg["tls"] == "smtps":
            self._wrap()
        self.expect((220,), "banner")
        self.send(b"EHLO bench.example.com\r\n")
        self.expect((250,), "EHLO")
        if cfg["tls"] == "starttls":
            self.send(b"STARTTLS\r\n")
            self.expect((220,), "STARTTLS")
            self._wrap()
            self.send(b"EHLO bench.example.com\r\n")
            self.expect((250,), "EHLO after STARTTLS")
        token = base64.b64encode(f"\0{cfg['username']}\0{cfg['password']}".encode())
        self.send(b"AUTH PLAIN " + token + b"\r\n")
        self.expect((235,), "AUTH")
        if isinstance(self.sock, ssl.SSLSocket):  # TLS 1.3: the ticket came after the handshake
            self.session = self.sock.session

    def transaction(self, message: bytes) -> tuple[float, float, float]:
        """Send one message; return (MAIL written, end of data written, 250 read)."""
        started = time.monotonic()
        if self.config["pipelining"]:
            self.send(b"MAIL FROM:<bench@example.com>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n")
            self.expect((250,), "MAIL")
            self.expect((250, 251), "RCPT")
            self.expect((354,), "DATA")
        else:
            self.send(b"MAIL FROM:<bench@example.com>\r\n")
            self.expect((250,), "MAIL")
            self.send(b"RCPT TO:<sink@example.com>\r\n")
            self.expect((250, 251), "RCPT")
            self.send(b"DATA\r\n")
            self.expect((354,), "DATA")
        self.send(message)
        sent = time.monotonic()
        self.expect((250,), "end of DATA")
        return started, sent, time.monotonic()

    def quit(self) -> None:
        with contextlib.suppress(OSError, SmtpError):
            self.send(b"QUIT\r\n")
            self.reply()
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    transactions: list[float] = field(default_factory=list)
    first_mail: float | None = None
    last_reply: float | None = None
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        reason = reason[:160]
        self.failures[reason] = self.failures.get(reason, 0) + 1


class Worker(threading.Thread):
    """One connection: takes message numbers from the shared counter until they run out.

    A `421` before the end of the data (the server closing the connection, e.g. after a
    per-connection command limit) is answered as a real client would: connect again and send
    the same message once more. Such reconnects are counted, not failures.
    """

    def __init__(
        self,
        config: dict[str, Any],
        context: ssl.SSLContext,
        tickets: itertools.count[int],
        go: threading.Event,
    ) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.tickets = tickets
        self.go = go
        self.client = Client(config, context)
        self.stats = Stats()
        self.setup_error: str | None = None
        self.ready = threading.Event()
        self.setup_seconds: list[float] = []
        self.first_setup: tuple[float, float] | None = None
        """When the first connection began and when it was logged in (or failed)."""

    def setup(self) -> bool:
        started = time.monotonic()
        self.setup_error = None
        try:
            self.client.connect()
        except (OSError, SmtpError) as exc:
            self.setup_error = f"{type(exc).__name__}: {exc}"
            self.client.close()
        done = time.monotonic()
        self.setup_seconds.append(done - started)
        if self.first_setup is None:
            self.first_setup = (started, done)
        return self.setup_error is None

    def run(self) -> None:
        connected = self.setup()
        self.ready.set()
        self.go.wait()
        cfg = self.config
        total, size, deadline = cfg["messages"], cfg["size"], cfg["deadline"]
        per_connection, rate = cfg["per_connection"], cfg["rate"]
        stats = self.stats
        on_this_connection = 0
        while (index := next(self.tickets)) < total:
            if time.monotonic() > deadline:
                stats.fail("deadline passed before sending")
                continue
            if rate:  # open loop: message `index` is due `index / rate` s after the start
                time.sleep(max(0.0, cfg["started"] + index / rate - time.monotonic()))
            message = make_message(index, size, cfg["tag"])
            for attempt in range(3):
                if connected and per_connection and on_this_connection >= per_connection:
                    self.client.quit()
                    connected = False
                if not connected:
                    connected = self.setup()
                    on_this_connection = 0
                    if not connected:
                        time.sleep(0.1 * (attempt + 1))
                        continue
                try:
                    started, sent, done = self.client.transaction(message)
                except (OSError, SmtpError) as exc:
                    self.client.close()
                    connected = False
                    if isinstance(exc, SmtpError) and exc.code == 421 and attempt < 2:
                        continue  # connect again and resend this message
                    stats.fail(f"{type(exc).__name__}: {exc}")
                    break
                on_this_connection += 1
                if stats.first_mail is None:
                    stats.first_mail = started
                stats.last_reply = done
                stats.latencies.append(done - sent)
                stats.transactions.append(done - started)
                break
            else:
                stats.fail(f"no connection: {self.setup_error}")
        if connected:
            self.client.quit()


def hold_idle(
    config: dict[str, Any], context: ssl.SSLContext, count: int, threads: int = 50
) -> tuple[list[Client], list[str]]:
    """`count` connections logged in and left idle (opened by a few threads at once)."""
    held: list[Client] = []
    errors: list[str] = []
    lock = threading.Lock()
    numbers = itertools.count()

    def opener() -> None:
        while next(numbers) < count:
            client = Client(config, context)
            try:
                client.connect()
            except (OSError, SmtpError) as exc:
                client.close()
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                held.append(client)

    openers = [threading.Thread(target=opener, daemon=True) for _ in range(min(threads, count))]
    for thread in openers:
        thread.start()
    for thread in openers:
        thread.join()
    return held, errors


def still_open(clients: list[Client]) -> int:
    """How many idle connections answer NOOP with 250; all are closed after."""
    alive = 0
    for client in clients:
        try:
            client.send(b"NOOP\r\n")
            client.expect((250,), "NOOP")
            alive += 1
        except (OSError, SmtpError):
            pass
        client.quit()
    return alive


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    config = json.loads(sys.argv[1])
    go = threading.Event()
    tickets = itertools.count()
    context = tls_context()
    workers = [Worker(config, context, tickets, go) for _ in range(config["connections"])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.ready.wait()
    idle, idle_errors = hold_idle(config, context, config["idle"]) if config["idle"] else ([], [])
    errors = [w.setup_error for w in workers if w.setup_error] + idle_errors
    setup = [w.setup_seconds[0] for w in workers]
    windows = [w.first_setup for w in workers if w.first_setup is not None]
    ready = {
        "connected": len(workers) - len(errors),
        "errors": errors[:5],
        "setup": setup,
        "setup_started": min(started for started, _ in windows),
        "setup_done": max(done for _, done in windows),
        "idle": len(idle),
    }
    print("ready " + json.dumps(ready), flush=True)
    if sys.stdin.readline().strip() != "go":
        os._exit(1)  # the run was called off: the threads hold open connections, just go
    cpu_before = cpu_seconds()
    config["started"] = time.monotonic()
    go.set()
    for worker in workers:
        worker.join()
    cpu = cpu_seconds() - cpu_before
    idle_alive = still_open(idle)
    firsts = [w.stats.first_mail for w in workers if w.stats.first_mail is not None]
    lasts = [w.stats.last_reply for w in workers if w.stats.last_reply is not None]
    failures: dict[str, int] = {}
    for worker in workers:
        for reason, count in worker.stats.failures.items():
            failures[reason] = failures.get(reason, 0) + count
    result = {
        "sent": sum(len(w.stats.latencies) for w in workers),
        "first_mail": min(firsts, default=None),
        "last_reply": max(lasts, default=None),
        "latencies": [x for w in workers for x in w.stats.latencies],
        "transactions": [x for w in workers for x in w.stats.transactions],
        "failures": failures,
        "reconnects": sum(len(w.setup_seconds) - 1 for w in workers),
        "resumed": sum(w.client.resumed for w in workers),
        "reconnect_setup": [x for w in workers for x in w.setup_seconds[1:]],
        "cpu_seconds": cpu,
        "idle_alive": idle_alive,
    }
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
