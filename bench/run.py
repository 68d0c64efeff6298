"""End-to-end throughput benchmark: SMTP clients -> `ses-gateway serve` -> fake SES.

    .venv/bin/python bench/run.py                        # 5,000 x 5 KB over 20 connections, SQLite
    .venv/bin/python bench/run.py --database postgresql  # a throwaway PostgreSQL instead
    .venv/bin/python bench/run.py --workers 2            # plus one `serve --role worker` process
    .venv/bin/python bench/run.py --target sink          # the client alone, against a trivial sink
    .venv/bin/python bench/run.py --json                 # one JSON document on stdout

Every part runs as its own process: the fake SES (`python -m tests.support.fakeses`), the gateway
(`ses-gateway serve`, plus `serve --role worker` processes), and the load generator
(`bench/loadgen.py`, several processes of threads). See bench/README.md for what is measured.
Everything started is stopped, and the temporary directory removed, on exit, Ctrl-C or failure;
the whole run is bounded by `--timeout`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import http.client
import io
import json
import math
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SENDER_DOMAIN = "example.com"  # bench/loadgen.py sends from bench@example.com
METRICS_TOKEN = "bench-metrics-token-0123456789"  # noqa: S105 - a loopback gateway's


class BenchError(Exception):
    """The run cannot go on; the message says why."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: clean up as for Ctrl-C."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open until all are chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark itself is killed (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# -- /proc ----------------------------------------------------------------------------------


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process so far (0 if it is gone); of one of its threads when
    `thread` is given (the process's id: its main thread, which runs the event loop)."""
    try:
        path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
        stat = Path(path).read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def system_cpu() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process, of its children that have exited, and of those still running
    (PostgreSQL: the postmaster and its backends)."""
    try:
        stat = Path(f"/proc/{root}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    total = sum(int(x) for x in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def peak_rss_kib(pid: int) -> int | None:
    """`VmHWM`: the most resident memory the process has had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# -- child processes ------------------------------------------------------------------------


class LineReader:
    """Lines from a child's stdout, each awaited with a deadline."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._fd = stream.fileno()
        self._name = name
        self._buffer = b""

    def readline(self, deadline: float, what: str) -> str:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"timed out waiting for {self._name} ({what})")
            ready, _, _ = select.select([self._fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    raise BenchError(f"{self._name} exited while we waited for {what}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    logfile: Path | None
    stdout: LineReader | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"{self.name} exited with status {self.process.returncode}\n{self.log_tail()}"
            )

    def readline(self, deadline: float, what: str) -> str:
        """The next line of the child's stdout; the end of its log in the error if it exits."""
        assert self.stdout is not None
        try:
            return self.stdout.readline(deadline, what)
        except BenchError as exc:
            raise BenchError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        if self.logfile is None or not self.logfile.exists():
            return ""
        text = self.logfile.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {self.name}| {line}" for line in text)


@dataclass
class Children:
    """Every process the benchmark started, stopped in reverse order of starting."""

    logdir: Path
    started: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        pipes: bool = False,
    ) -> Child:
        logfile = self.logdir / f"{name}.log"
        with logfile.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else out,
                stderr=out,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children
                preexec_fn=_die_with_parent,  # the parent has no threads
            )
        child = Child(name, process, logfile)
        if pipes:
            assert process.stdout is not None
            child.stdout = LineReader(process.stdout, name)
        self.started.append(child)
        return child

    def stop_all(self, grace: float = 20.0) -> None:
        for child in reversed(self.started):
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        until = time.monotonic() + grace
        for child in reversed(self.started):
            try:
                child.process.wait(max(0.1, until - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{child.name} did not stop within {grace:.0f}s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.process.wait()
            for stream in (child.process.stdin, child.process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.started.clear()


def http_get(
    port: int, path: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def http_post(port: int, path: str, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class FakeSesCounter:
    """`GET /_fake/count` over one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._connection: http.client.HTTPConnection | None = None

    def count(self) -> int:
        for attempt in range(3):
            try:
                if self._connection is None:
                    self._connection = http.client.HTTPConnection(
                        "127.0.0.1", self._port, timeout=10
                    )
                self._connection.request("GET", "/_fake/count")
                response = self._connection.getresponse()
                count: int = json.loads(response.read())["count"]
                return count
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                if self._connection is not None:
                    self._connection.close()
                self._connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


# -- PostgreSQL -----------------------------------------------------------------------------


@dataclass
class Postgres:
    """A running throwaway PostgreSQL: the URL of its `bench` database, the postmaster's PID,
    its programs' folder and the options that connect its client programs to `bench`."""

    url: str
    postmaster: int
    bindir: Path
    connect: list[str]

    def query(self, sql: str) -> list[str]:
        """The rows of one statement, each as text (`psql -At`: columns joined by `|`)."""
        done = subprocess.run(
            [str(self.bindir / "psql"), *self.connect, "-X", "-q", "-At", "-c", sql],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"psql: {sql}: {done.stderr.strip()}")
        return done.stdout.splitlines()

    def counters(self) -> dict[str, int]:
        """What the server has done so far: `write_transactions` from the next transaction id
        (exact, as it happens: every transaction that wrote took one), `commits` and
        `wal_bytes` from the WAL's position (exact), `commits` and
        `wal_syncs` from its statistics (each backend reports them at most once a second,
        idle ones within ten: read at the end of a run, they may miss the last second)."""
        row = self.query(
            "SELECT pg_snapshot_xmax(pg_current_snapshot()), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
            "(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), "
            "(SELECT wal_sync FROM pg_stat_wal)"
        )[0]
        xmax, wal, commits, syncs = (int(x) for x in row.split("|"))
        return {
            "write_transactions": xmax,
            "wal_bytes": wal,
            "commits": commits,
            "wal_syncs": syncs,
        }


@contextlib.contextmanager
def postgres(durable: bool) -> Iterator[Postgres]:
    """A throwaway PostgreSQL (tests/support/postgres.py) with a fresh database `bench`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.postgres import SUPERUSER, PostgresServer

    server = PostgresServer(durable=durable)
    log(f"starting PostgreSQL ({'durable' if durable else 'fsync=off, synchronous_commit=off'})")
    server.start()
    try:
        url = server.create_database("bench")
        postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
        assert server.bindir is not None
        connect = ["-h", str(server.socket_dir), "-p", str(server.port), "-U", SUPERUSER]
        yield Postgres(url, postmaster, server.bindir, [*connect, "-d", "bench"])
    finally:
        server.stop()


# -- the run --------------------------------------------------------------------------------


def code_under_test(args: argparse.Namespace, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """The source tree to run: this checkout, or `--commit REV` exported to the temp dir."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    if not args.commit:
        dirty = git("status", "--porcelain", "--", "gateway", "admin", "config", "pyproject.toml")
        return ROOT, {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(dirty)}
    commit = git("rev-parse", "--verify", f"{args.commit}^{{commit}}")
    if not commit:
        raise BenchError(f"--commit {args.commit}: not a commit of {ROOT}")
    source = tmp / "src"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(source, filter="data")
    return source, {"commit": commit, "dirty": False}


def gateway_env(args: argparse.Namespace, tmp: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SES_GATEWAY_", "AWS_"))}
    env.update(
        SES_GATEWAY_DATA_DIR=str(tmp / "data"),
        SES_GATEWAY_SMTP_PORT=str(ports["smtp"]),
        SES_GATEWAY_SMTPS_PORT=str(ports["smtps"]),
        SES_GATEWAY_HTTP_PORT=str(ports["http"]),
        SES_GATEWAY_LOG_LEVEL="WARNING",
        SES_GATEWAY_METRICS_TOKEN=METRICS_TOKEN,
        # Every load-generator connection comes from 127.0.0.1; twice as many for reconnects.
        SES_GATEWAY_MAX_CONNECTIONS_PER_CLIENT=str(2 * args.connections + args.idle),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{ports['fake']}",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a dummy for the fake SES
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
    )
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise BenchError(f"--env {item!r}: expected NAME=VALUE")
        if name == "PYTHONPATH":  # relative entries are taken from the repository root
            value = os.pathsep.join(str(ROOT / x) for x in value.split(os.pathsep) if x)
        env[name] = value
    if args.source != ROOT:
        # Ahead of the editable install (a finder at the end of sys.meta_path).
        env["PYTHONPATH"] = os.pathsep.join(
            x for x in (str(args.source), env.get("PYTHONPATH")) if x
        )
    return env


def gateway_cli(env: dict[str, str], cwd: Path, *argv: str) -> Any:
    """Run `ses-gateway --json ...` and return its JSON document."""
    command = [gateway_command(), "--json", *argv]
    try:
        done = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(command)} timed out") from exc
    if done.returncode != 0:
        raise BenchError(
            f"{' '.join(command)} exited with {done.returncode}: {done.stdout}{done.stderr}"
        )
    return json.loads(done.stdout)


def has_domains(env: dict[str, str], cwd: Path) -> bool:
    """Whether this version of the gateway has sending domains (`ses-gateway domain`)."""
    done = subprocess.run(
        [gateway_command(), "--help"], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    return "domain" in done.stdout


def gateway_command() -> str:
    beside = Path(PYTHON).parent / "ses-gateway"
    if beside.exists():
        return str(beside)
    found = shutil.which("ses-gateway")
    if found is None:
        raise BenchError(
            "ses-gateway is not installed: run scripts/install, or use .venv/bin/python"
        )
    return found


def wait_ready(child: Child, port: int, deadline: float) -> None:
    while True:
        child.check_alive()
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_get(port, "/readyz", timeout=2)
            if status == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"the gateway was not ready in time\n{child.log_tail()}")
        time.sleep(0.1)


def module_help(source: Path, module: str) -> str:
    """`python -m MODULE --help` in `source`: which options this version has."""
    done = subprocess.run(
        [PYTHON, "-m", module, "--help"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout


def start_gateway(
    args: argparse.Namespace, children: Children, tmp: Path, deadline: float, database_url: str
) -> tuple[list[Child], dict[str, Any]]:
    """Fake SES, tenant and credential, the gateway and its extra workers."""
    names = ("fake", "smtp", "smtps", "http")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    fake_command = [PYTHON, "-m", "tests.support.fakeses", "--port", str(ports["fake"])]
    if "--max-send-rate" in module_help(args.source, "tests.support.fakeses"):
        # A production account's rate (`--ses-rate`), by default high enough never to pace
        # the benchmark (the gateway paces its sends to the MaxSendRate that SES reports).
        fake_command += ["--max-send-rate", str(args.ses_rate)]
    fake = children.start("fake-ses", fake_command, cwd=args.source, pipes=True)
    fake.readline(min(deadline, time.monotonic() + 30), "the fake SES to listen")
    env = gateway_env(args, tmp, ports)
    if database_url:
        env["SES_GATEWAY_DATABASE_URL"] = database_url
    workdir = tmp / "work"  # no stray .env from the caller's directory
    workdir.mkdir()
    (tmp / "data").mkdir()  # the data folder, as `ses-gateway init` makes it (any version)
    gateway_cli(env, workdir, "tenant", "create", "bench")
    credential = gateway_cli(env, workdir, "credential", "create", "--tenant", "bench")
    if has_domains(env, workdir):
        # Senders must be from a verified sending domain of the tenant: register the one the
        # clients use, have the fake SES verify it, and let the gateway learn so.
        gateway_cli(env, workdir, "domain", "add", SENDER_DOMAIN, "--tenant", "bench")
        status, body = http_post(ports["fake"], f"/_fake/identities/{SENDER_DOMAIN}/status", b"{}")
        if status != 200:
            raise BenchError(f"the fake SES did not verify {SENDER_DOMAIN}: {status} {body!r}")
        gateway_cli(env, workdir, "domain", "sync", SENDER_DOMAIN)
    if args.preload:
        preload(args, env, workdir, deadline)
    serve = [gateway_command(), "serve"]
    main_roles = ["--role", "smtp", "--role", "web"] if args.split_roles else []
    extra = args.workers if args.split_roles else args.workers - 1
    gateways = [
        children.start(f"worker-{i + 2}", [*serve, "--role", "worker"], env=env, cwd=workdir)
        for i in range(extra)
    ]
    main = children.start("gateway", [*serve, *main_roles], env=env, cwd=workdir)
    gateways.insert(0, main)
    wait_ready(main, ports["http"], min(deadline, time.monotonic() + 60))
    time.sleep(0.5)  # let the worker processes open their SES clients
    for child in gateways:
        child.check_alive()
    target = {
        "port": ports["smtps"] if args.tls == "smtps" else ports["smtp"],
        "username": credential["username"],
        "password": credential["password"],
        "fake": fake,
        "fake_port": ports["fake"],
        "http_port": ports["http"],
        "env": env,
    }
    return gateways, target


def preload(args: argparse.Namespace, env: dict[str, str], workdir: Path, deadline: float) -> None:
    """`--preload N`: a tenant `backlog` with N queued messages (bench/preload.py)."""
    gateway_cli(env, workdir, "tenant", "create", "backlog")
    log(f"preloading {args.preload} {args.preload_kind} messages")
    command = [PYTHON, "-m", "bench.preload", str(args.preload), "--tenant", "backlog"]
    command += ["--kind", args.preload_kind]
    # bench.preload from this tree; the gateway from PYTHONPATH (the commit measured, if any).
    done = subprocess.run(
        command, env=env, cwd=ROOT, timeout=max(1.0, deadline - time.monotonic()), check=False
    )
    if done.returncode != 0:
        raise BenchError(f"preloading exited with {done.returncode}")
    if args.preload_kind == "paused":  # as when a tenant with a backlog is paused
        started = time.monotonic()
        gateway_cli(env, workdir, "tenant", "pause", "backlog", "--reason", "bench backlog")
        log(f"paused the backlog's tenant in {time.monotonic() - started:.1f} s")


def claim_seconds(port: int) -> dict[str, float | None] | None:
    """The delivery claims' duration from the gateway's histogram: how many, the mean, and
    the bucket bounds holding the median and the 99th percentile (None: not measured)."""
    try:
        status, body = http_get(
            port, "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
    except (OSError, http.client.HTTPException):
        return None
    name = "ses_gateway_delivery_claim_seconds"
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in body.decode(errors="replace").splitlines() if status == 200 else []:
        if line.startswith(f'{name}_bucket{{le="'):
            le, value = line.removeprefix(f'{name}_bucket{{le="').split('"} ')
            buckets.append((float(le), float(value)))
        elif line.startswith(f"{name}_sum "):
            total = float(line.split()[1])
        elif line.startswith(f"{name}_count "):
            count = float(line.split()[1])
    if not count:
        return None

    def bound(pct: float) -> float | None:
        within = next((b for b, n in buckets if n >= pct / 100 * count), None)
        return None if within is None or math.isinf(within) else round(1000 * within, 1)

    return {
        "claims": count,
        "mean_ms": round(1000 * total / count, 2),
        "p50_at_most_ms": bound(50),
        "p99_at_most_ms": bound(99),
    }


def start_sink(
    args: argparse.Namespace, children: Children, tmp: Path, deadline: float
) -> tuple[Child, int]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gateway.intake.tls import make_self_signed

    cert, key = tmp / "sink-cert.pem", tmp / "sink-key.pem"
    make_self_signed("127.0.0.1", cert, key)
    port = free_port()
    argv = [PYTHON, str(BENCH / "sink.py"), str(port), str(cert), str(key)]
    if args.tls == "smtps":
        argv.append("--implicit-tls")
    sink = children.start("sink", argv, pipes=True)
    sink.readline(min(deadline, time.monotonic() + 30), "the sink to listen")
    return sink, port


def start_profilers(
    args: argparse.Namespace, children: Children, gateways: Sequence[Child]
) -> list[tuple[Child, Path]]:
    """`py-spy record` on each gateway process, from "go" until all is at SES (`--profile`)."""
    if not args.profile:
        return []
    py_spy = Path(PYTHON).parent / "py-spy"
    command = str(py_spy) if py_spy.exists() else shutil.which("py-spy")
    if command is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    profilers = []
    for gateway in gateways:
        path = out / f"{gateway.name}.{args.profile_format}"
        argv = [command, "record", "--pid", str(gateway.pid), "--threads"]
        argv += ["--format", args.profile_format, "--output", str(path)]
        argv += shlex.split(args.profile_args)
        profilers.append((children.start(f"py-spy-{gateway.name}", argv), path))
    time.sleep(1.0)  # py-spy attaches
    return profilers


def stop_profilers(profilers: Sequence[tuple[Child, Path]]) -> None:
    for child, _ in profilers:
        child.process.send_signal(signal.SIGINT)
    for child, path in profilers:
        try:
            child.process.wait(30)
        except subprocess.TimeoutExpired:
            child.process.kill()
        log(f"profile: {path}")


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(values: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def r(x: float | None) -> float | None:
        return None if x is None else round(x * 1000, 2)

    return {
        "p50": r(percentile(ordered, 50)),
        "p90": r(percentile(ordered, 90)),
        "p99": r(percentile(ordered, 99)),
        "max": r(ordered[-1] if ordered else None),
    }


def count_log_levels(children: Sequence[Child]) -> dict[str, int]:
    counts = {"ERROR": 0, "WARNING": 0}
    for child in children:
        if child.logfile is None or not child.logfile.exists():
            continue
        for line in child.logfile.read_text(errors="replace").splitlines():
            for level in counts:
                if f" {level} " in line:
                    counts[level] += 1
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    if args.tmpdir:
        Path(args.tmpdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="ses-bench-", dir=args.tmpdir))
    children = Children(tmp)
    try:
        args.source, args.code = code_under_test(args, tmp)
        with contextlib.ExitStack() as stack:
            return _run(args, children, tmp, deadline, stack)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish
        try:
            children.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)
            if args.keep:
                log(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)


def _run(
    args: argparse.Namespace,
    children: Children,
    tmp: Path,
    deadline: float,
    stack: contextlib.ExitStack,
) -> dict[str, Any]:
    gateways: list[Child] = []
    fake: Child | None = None
    pg: Postgres | None = None
    counter: FakeSesCounter | None = None
    measured: dict[str, Callable[[], float]] = {}
    if args.target == "gateway":
        database_url = ""
        if args.database == "postgresql":
            # Stopped by the ExitStack, after the gateway (children are stopped first).
            pg = stack.enter_context(postgres(args.pg_durable))
            database_url = pg.url
            stack.callback(children.stop_all)
            measured["postgresql"] = functools.partial(tree_cpu_seconds, pg.postmaster)
        log("starting the fake SES and the gateway")
        gateways, target = start_gateway(args, children, tmp, deadline, database_url)
        if args.vacuum and pg is not None:
            started = time.monotonic()
            pg.query("VACUUM (ANALYZE)")
            log(f"vacuumed the database in {time.monotonic() - started:.1f} s")
        fake = target["fake"]
        counter = FakeSesCounter(target["fake_port"])
        servers = [*gateways, fake]
    else:
        log("starting the sink")
        sink, port = start_sink(args, children, tmp, deadline)
        target = {"port": port, "username": "bench", "password": "bench"}
        servers = [sink]

    processes = max(1, min(args.processes, args.connections))
    connections = split(args.connections, processes)
    shares = split(args.messages, args.connections)
    idle = split(args.idle, processes)
    loaders: list[Child] = []
    setup_cpu = -sum(cpu_seconds(child.pid) for child in gateways)
    first = 0
    for i, conns in enumerate(connections):
        config = {
            "host": "127.0.0.1",
            "port": target["port"],
            "tls": args.tls,
            "username": target["username"],
            "password": target["password"],
            "connections": conns,
            "messages": sum(shares[first : first + conns]),
            "size": args.size,
            "pipelining": args.pipelining,
            "per_connection": args.per_connection,
            # this process's share of --rate, in proportion to its messages
            "rate": args.rate * sum(shares[first : first + conns]) / args.messages,
            "resume": not args.no_resume,
            "idle": idle[i],
            "io_timeout": 60,
            "deadline": deadline,
            "tag": f"p{i}",
        }
        first += conns
        loaders.append(
            children.start(
                f"client-{i + 1}",
                [PYTHON, str(BENCH / "loadgen.py"), json.dumps(config)],
                pipes=True,
            )
        )
    log(f"opening {args.connections} connections ({args.tls.upper()} + AUTH PLAIN)")
    if args.idle:
        log(f"then {args.idle} idle connections, held until the end")
    setup: list[float] = []
    setup_window: list[float] = []
    held = 0
    for loader in loaders:
        ready = json.loads(loader.readline(deadline, "connections").removeprefix("ready ") or "{}")
        setup += ready["setup"]
        setup_window += [ready["setup_started"], ready["setup_done"]]
        held += ready["idle"]
        if ready["errors"]:
            raise BenchError(f"{loader.name} could not connect: {ready['errors'][0]}")

    setup_cpu += sum(cpu_seconds(child.pid) for child in gateways)
    profilers = start_profilers(args, children, gateways)
    for child in [*servers, *loaders, *(p for p, _ in profilers)]:
        measured[child.name] = functools.partial(cpu_seconds, child.pid)
    loops = {c.name: functools.partial(cpu_seconds, c.pid, c.pid) for c in gateways}
    loops_before = {name: cpu() for name, cpu in loops.items()}
    cpu_before = {name: cpu() for name, cpu in measured.items()}
    system_before = system_cpu()
    pg_before = pg.counters() if pg is not None else {}
    log(f"sending {args.messages} messages of {args.size} bytes")
    for loader in loaders:
        assert loader.process.stdin is not None
        loader.process.stdin.write(b"go\n")
        loader.process.stdin.flush()
    results = []
    for loader in loaders:
        line = loader.readline(deadline, "the clients to finish")
        results.append(json.loads(line.removeprefix("result ")))
    accepted = sum(r["sent"] for r in results)
    starts = [r["first_mail"] for r in results if r["first_mail"] is not None]
    ends = [r["last_reply"] for r in results if r["last_reply"] is not None]
    if not starts:
        failures = {k: v for r in results for k, v in r["failures"].items()}
        raise BenchError(f"no message was accepted: {failures}")
    t_start, t_accepted = min(starts), max(ends)

    delivered = accepted
    t_delivered = t_accepted
    if counter is not None:
        log(f"{accepted} accepted; waiting for the fake SES to hold them all")
        last_count, last_change = -1, time.monotonic()
        while True:
            now = time.monotonic()
            delivered = counter.count()
            if delivered >= accepted:
                t_delivered = now
                break
            if delivered != last_count:
                last_count, last_change = delivered, now
            for child in gateways:
                child.check_alive()
            if now > deadline:
                raise BenchError(f"timed out: the fake SES holds {delivered} of {accepted}")
            if now - last_change > args.stall:
                raise BenchError(
                    f"delivery stalled: the fake SES holds {delivered} of {accepted} "
                    f"and got nothing new for {args.stall:.0f}s\n{gateways[0].log_tail()}"
                )
            time.sleep(0.02)
    window = t_delivered - t_start
    claims = claim_seconds(target["http_port"]) if "http_port" in target else None
    cpu_after = {name: cpu() for name, cpu in measured.items()}
    loops_used = {name: round(cpu() - loops_before[name], 2) for name, cpu in loops.items()}
    system_after = system_cpu()
    pg_after = pg.counters() if pg is not None else {}
    stop_profilers(profilers)
    used = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    cpu = {c.name: round(used[c.name], 2) for c in servers}
    if "postgresql" in used:
        cpu["postgresql"] = round(used["postgresql"], 2)
    cpu["clients"] = round(sum(used[c.name] for c in loaders), 2)
    busy = system_after[0] - system_before[0]
    cpu["other processes"] = round(max(0.0, busy - sum(used.values())), 2)
    steal = round(system_after[1] - system_before[1], 2)
    rss = {c.name: peak_rss_kib(c.pid) for c in gateways}
    failures: dict[str, int] = {}
    for result in results:
        for reason, n in result["failures"].items():
            failures[reason] = failures.get(reason, 0) + n
    unaccounted = args.messages - accepted - sum(failures.values())
    if unaccounted > 0:
        failures["never sent (every connection failed)"] = unaccounted
    return {
        "target": args.target,
        "database": (
            ("postgresql-durable" if args.pg_durable else "postgresql")
            if args.database == "postgresql"
            else "sqlite"
        )
        if args.target == "gateway"
        else None,
        "gateway_processes": len(gateways),
        "split_roles": args.split_roles,
        "messages": args.messages,
        "size": args.size,
        "connections": args.connections,
        "client_processes": processes,
        "tls": args.tls,
        "pipelining": args.pipelining,
        "rate": args.rate,
        "accepted": accepted,
        "failed": sum(failures.values()),
        "failures": failures,
        "accept_seconds": round(t_accepted - t_start, 3),
        "accepted_per_second": round(accepted / (t_accepted - t_start), 1),
        "delivered": delivered,
        "end_to_end_seconds": round(window, 3),
        "end_to_end_per_second": round(delivered / window, 1),
        "end_of_data_to_250_ms": ms([x for r in results for x in r["latencies"]]),
        "transaction_ms": ms([x for r in results for x in r["transactions"]]),
        "connection_setup_ms": ms(setup),
        "all_logged_in_seconds": round(max(setup_window) - min(setup_window), 3),
        "setup_gateway_cpu_seconds": round(setup_cpu, 2),
        "idle_held": held,
        "idle_alive_at_end": sum(r["idle_alive"] for r in results),
        "tls_resumed": sum(r["resumed"] for r in results),
        "reconnects": sum(r["reconnects"] for r in results),
        "reconnect_setup_ms": ms([x for r in results for x in r["reconnect_setup"]]),
        "preload": {"messages": args.preload, "kind": args.preload_kind} if args.preload else None,
        "vacuumed": args.vacuum,
        "claims": claims,
        "postgresql": {name: pg_after[name] - pg_before[name] for name in pg_after} or None,
        "peak_rss_kib": rss,
        "peak_rss_total_kib": sum(v or 0 for v in rss.values()),
        "cpu_seconds": cpu,
        "event_loop_cpu_seconds": loops_used,
        "cpu_window_seconds": round(window, 3),
        "cpu_steal_seconds": steal,
        "machine": {
            "nproc": os.cpu_count(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "nice": args.nice,
        },
        "code": args.code,
        "gateway_log": count_log_levels(gateways),
        "env": args.env,
    }


def render(r: dict[str, Any]) -> str:
    lat, tx = r["end_of_data_to_250_ms"], r["transaction_ms"]
    setup = r["connection_setup_ms"]
    if r["target"] == "gateway":
        what = f"ses-gateway on {r['database']}, {r['gateway_processes']} process(es)"
        if r["split_roles"]:
            what += " (smtp+web apart from the workers)"
        what += ", fake SES"
    else:
        what = "trivial sink (client calibration)"
    cpu = ", ".join(
        f"{name} {seconds:.1f} s ({100 * seconds / r['cpu_window_seconds']:.0f}%)"
        for name, seconds in r["cpu_seconds"].items()
    )
    code = r["code"]
    version = (code["commit"] or "unknown")[:12] + (
        " + uncommitted changes" if code["dirty"] else ""
    )
    lines = [
        f"target        {what}",
        f"code          {version}",
        f"load          {r['messages']} messages x {r['size']} bytes, {r['connections']} "
        f"connections ({r['tls'].upper()} + AUTH once each, "
        f"{'pipelined' if r['pipelining'] else 'no pipelining'}), "
        f"{r['client_processes']} client processes"
        + (f", paced at {r['rate']:g} msgs/s" if r["rate"] else ""),
        f"accepted      {r['accepted']} in {r['accept_seconds']:.2f} s = "
        f"{r['accepted_per_second']:.0f} msgs/s (first MAIL to last 250)",
        f"end to end    {r['delivered']} in {r['end_to_end_seconds']:.2f} s = "
        f"{r['end_to_end_per_second']:.0f} msgs/s (first MAIL to all at SES)",
        f"end-of-DATA -> 250   p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms",
        f"MAIL -> 250 (whole)  p50 {tx['p50']} ms, p99 {tx['p99']} ms",
        f"connections   setup (TLS + AUTH) p50 {setup['p50']} ms, max {setup['max']} ms, all "
        f"{r['connections']} logged in {r['all_logged_in_seconds']:.2f} s after the first "
        f"connect (gateway CPU {r['setup_gateway_cpu_seconds']:.1f} s); {r['reconnects']} "
        f"reconnects during the run, {r['tls_resumed']} TLS sessions resumed",
    ]
    if r["preload"]:
        lines.append(
            f"backlog       {r['preload']['messages']} {r['preload']['kind']} messages"
            + (", the database vacuumed before the run" if r["vacuumed"] else "")
        )
    if r["claims"]:
        c = r["claims"]
        lines.append(
            f"claims        {c['claims']:.0f}, mean {c['mean_ms']} ms, p50 <= {c['p50_at_most_ms']}"
            f" ms, p99 <= {c['p99_at_most_ms']} ms (the main process's)"
        )
    if r["postgresql"]:
        p, n = r["postgresql"], r["delivered"] or 1
        lines.append(
            f"PostgreSQL    {p['write_transactions']} write transactions "
            f"({p['write_transactions'] / n:.2f} a message), {p['commits']} commits "
            f"({p['commits'] / n:.2f}), {p['wal_syncs']} WAL flushes ({p['wal_syncs'] / n:.2f}), "
            f"{p['wal_bytes'] / n / 1024:.1f} KiB of WAL a message"
        )
    if r["idle_held"]:
        lines.append(
            f"idle          {r['idle_held']} connections held, "
            f"{r['idle_alive_at_end']} still answering NOOP at the end"
        )
    if r["peak_rss_kib"]:
        rss = ", ".join(f"{k} {(v or 0) / 1024:.1f} MiB" for k, v in r["peak_rss_kib"].items())
        lines.append(f"peak RSS      {rss}")
    lines.append(f"CPU           {cpu} over {r['cpu_window_seconds']:.2f} s")
    per_message = [
        f"{name} {1000 * r['cpu_seconds'][name] / r['delivered']:.2f} ms (event loop "
        f"{1000 * loop / r['delivered']:.2f}, other threads "
        f"{1000 * (r['cpu_seconds'][name] - loop) / r['delivered']:.2f})"
        for name, loop in r["event_loop_cpu_seconds"].items()
        if r["delivered"]
    ]
    if r["delivered"]:
        per_message.append(f"clients {1000 * r['cpu_seconds']['clients'] / r['delivered']:.2f} ms")
        lines.append(f"CPU / message {', '.join(per_message)}")
    others = r["cpu_seconds"]["other processes"] / r["cpu_window_seconds"]
    if others > 0.1 or r["cpu_steal_seconds"] / r["cpu_window_seconds"] > 0.1:
        lines.append(
            f"WARNING       the machine was not quiet: other processes used {100 * others:.0f}% "
            f"of a CPU, steal {r['cpu_steal_seconds']:.1f} s; the figures are too low"
        )
    lines.append(f"failures      {r['failed']}")
    lines += [f"  {n} x {reason}" for reason, n in r["failures"].items()]
    if r["target"] == "gateway":
        logs = r["gateway_log"]
        lines.append(f"gateway log   {logs['ERROR']} errors, {logs['WARNING']} warnings")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark ses-gateway end to end against a fake SES.",
        epilog="Example: .venv/bin/python bench/run.py --database postgresql --workers 2",
    )
    parser.add_argument("-n", "--messages", type=int, default=5000, help="default 5000")
    parser.add_argument("-s", "--size", type=int, default=5000, help="bytes (default 5000)")
    parser.add_argument("-c", "--connections", type=int, default=20, help="default 20")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite", help="default sqlite"
    )
    parser.add_argument(
        "--pg-unsafe",
        dest="pg_durable",
        action="store_false",
        help="PostgreSQL with fsync, synchronous_commit and full_page_writes off, as the tests "
        "run it (default: on, as in production: Postfix syncs its queue, so must we)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes that deliver: the first is `serve`, the others "
        "`serve --role worker` (default 1)",
    )
    parser.add_argument(
        "--split-roles",
        action="store_true",
        help="run `serve --role smtp --role web` apart, plus --workers worker processes",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="load-generator processes (default 2)"
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        metavar="N",
        help="a backlog of N queued messages of another tenant before the run (bench/preload.py)",
    )
    parser.add_argument(
        "--preload-kind",
        choices=("deferred", "paused"),
        default="deferred",
        help="deferred: due in a day (default); paused: due now, of a paused tenant",
    )
    parser.add_argument(
        "--vacuum",
        action="store_true",
        help="PostgreSQL: VACUUM (ANALYZE) before the run, as autovacuum will have done on a "
        "server that has run a while since the backlog came (default: it may run during the run)",
    )
    parser.add_argument("--tls", choices=("starttls", "smtps"), default="starttls")
    parser.add_argument(
        "--per-connection",
        type=int,
        default=0,
        metavar="M",
        help="QUIT and connect again after M messages (default 0: never, unless the server "
        "closes with 421)",
    )
    parser.add_argument(
        "--pipelining", action="store_true", help="send MAIL, RCPT and DATA in one write"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        metavar="R",
        help="send at most R messages a second in all, each due at its time whatever the replies "
        "(an open loop, for latency at a given load; default 0: as fast as the replies come)",
    )
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="a full TLS handshake for every connection (default: a client that connects again "
        "resumes its last TLS session)",
    )
    parser.add_argument(
        "--idle",
        type=int,
        default=0,
        metavar="N",
        help="also open N connections (TLS + AUTH) before the run and hold them idle to the end",
    )
    parser.add_argument(
        "--target",
        choices=("gateway", "sink"),
        default="gateway",
        help="sink: measure the load generator alone against a trivial SMTP sink",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the gateway (repeatable), "
        "e.g. SES_GATEWAY_DELIVERY_CONCURRENCY=128",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="abort after this many seconds (default 600)"
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=60,
        help="abort when the fake SES gets nothing new for this long (default 60)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy record each gateway process during the run into DIR (needs py-spy)",
    )
    parser.add_argument(
        "--profile-format",
        choices=("raw", "flamegraph", "speedscope"),
        default="raw",
        help="raw: collapsed stacks, one line each (default)",
    )
    parser.add_argument(
        "--profile-args",
        default="--rate 100",
        metavar="ARGS",
        help="more py-spy record options, e.g. '--gil' (only the thread holding the GIL), "
        "'--idle', '--native' (default '--rate 100')",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the benchmark and everything it starts at this niceness; on a shared "
        "machine, e.g. -10 (root) keeps other work from skewing the figures",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="measure this commit (exported with git archive) rather than the working tree",
    )
    parser.add_argument(
        "--ses-rate",
        type=float,
        default=100000,
        help="the MaxSendRate the fake SES reports (default 100000: never paces the run)",
    )
    parser.add_argument("--tmpdir", help="where to make the temporary directory (the data dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _interrupt(signum: int, _frame: object) -> NoReturn:
    raise Interrupted(signal.Signals(signum).name)


def _alarm(_signum: int, _frame: object) -> NoReturn:
    raise BenchError("the benchmark ran past --timeout; aborting")


def prepare_process(nice: int) -> bool:
    """Limits, priority and signals for a benchmark and all it starts (False: `nice` refused)."""
    # Each connection is a descriptor in the gateway and in a client: as many as allowed.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # every child inherits it
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)  # every child inherits it
        except OSError as exc:
            print(f"bench: --nice {nice}: {exc.strerror} (negative needs root)", file=sys.stderr)
            return False
    # A background job of a non-interactive shell starts with SIGINT ignored: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    signal.signal(signal.SIGALRM, _alarm)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.messages, args.size, args.connections, args.workers, args.processes) < 1:
        print("bench: counts and sizes must be positive", file=sys.stderr)
        return 2
    if not prepare_process(args.nice):
        return 2
    signal.alarm(int(args.timeout) + 30)  # a hard stop, should a wait without deadline hang
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
