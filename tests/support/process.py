"""The gateway (and the fake SES) as real processes, for end-to-end tests over loopback.

- `Gateway`: a data directory, free ports and the environment of one installation; `serve()`
  starts `ses-gateway serve` with it, `cli()` runs any other command against the same database.
- `Process`: one child process whose output goes to a log file; wait for a log line or a port,
  stop it with SIGTERM (returning the exit status) or kill it with SIGKILL.
- `FakeSesProcess`: `tests.support.fakeses` in a process of its own, inspected over HTTP.
- `Processes`: starts processes and stops every one that is still running at `close()` (a
  fixture's finalizer), so that no test leaves a child behind.
- `provision()`, `read_queue()`: a credential and the queue's state, straight from the database
  (quicker than the CLI, whose start-up takes seconds on a busy machine).
- `smtp_client()`, `send()`: a real SMTP client (STARTTLS, AUTH) that returns the queue id.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.ports import free_ports

__all__ = [
    "REPO",
    "FakeSesProcess",
    "Gateway",
    "Process",
    "ProcessError",
    "Processes",
    "QueuedMessage",
    "base_env",
    "client_tls",
    "free_ports",
    "gateway_command",
    "http_get",
    "markers",
    "port_accepts",
    "problems",
    "provision",
    "read_queue",
    "send",
    "smtp_client",
    "submit",
]

REPO = Path(__file__).resolve().parents[2]
"""The repository root: `tests` is importable from here."""

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class ProcessError(AssertionError):
    """A child process did not do what a test waited for; the message ends with its log."""


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def gateway_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m admin.cli`."""
    script = Path(sys.executable).with_name("ses-gateway")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "admin.cli"]


def base_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any gateway or AWS setting, plus `overrides`.

    The repository root is put on PYTHONPATH so that `tests.support` modules can run as
    processes from any working directory.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SES_GATEWAY_", "AWS_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env.update(overrides)
    return env


def problems(log: str) -> list[str]:
    """The lines of a gateway log that tell of an error or a traceback."""
    return [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class Process:
    """One child process; stdout and stderr both go to `log_path`."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def fail(self, problem: str) -> ProcessError:
        status = self.returncode
        state = "running" if status is None else f"exited with status {status}"
        return ProcessError(
            f"{self.name} (pid {self.pid}, {state}): {problem}\n"
            f"--- last lines of {self.log_path} ---\n{_tail(self.log())}"
        )

    def check_alive(self) -> None:
        if self.returncode is not None:
            raise self.fail("exited early")

    def wait_for_log(
        self, pattern: str, timeout: float = START_TIMEOUT, since: int = 0
    ) -> re.Match[str]:
        """The first match of the regular expression `pattern` in the log (after `since`)."""
        compiled = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            found = compiled.search(self.log(), since)
            if found is not None:
                return found
            if self.returncode is not None:
                # One more look: the line may have been written just before the exit.
                found = compiled.search(self.log(), since)
                if found is not None:
                    return found
                raise self.fail(f"exited before logging {pattern!r}")
            if time.monotonic() > deadline:
                raise self.fail(f"no log line matching {pattern!r} after {timeout}s")
            time.sleep(0.05)

    def wait_for_port(self, port: int, timeout: float = START_TIMEOUT) -> None:
        """Until this process accepts connections on `port` (`ProcessError` if it exits)."""
        deadline = time.monotonic() + timeout
        while not port_accepts(port):
            self.check_alive()
            if time.monotonic() > deadline:
                raise self.fail(f"nothing accepts connections on port {port} after {timeout}s")
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has exited (`ProcessError` after `timeout`)."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"still running after {timeout}s") from None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then the exit status (`ProcessError` if it takes longer than `timeout`)."""
        if self.returncode is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> int:
        """SIGKILL (`kill -9`): no chance to clean up. Returns the exit status (-9)."""
        if self.returncode is None:
            self.popen.kill()
        return self.popen.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """For finalizers: SIGTERM, SIGKILL if that is not enough; never raises."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Processes:
    """Starts processes and stops, at `close()`, every one still running (latest first)."""

    directory: Path
    started: list[Process] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> Process:
        count = sum(p.name == name for p in self.started)
        log_path = self.directory / "logs" / f"{name}{'-' + str(count) if count else ''}.log"
        process = Process(name, argv, env, cwd or self.directory, log_path)
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.started):
            process.stop()


class FakeSesProcess:
    """The fake SES in a process of its own; inspected with `GET /_fake/...`."""

    def __init__(self, processes: Processes, delay: float | None = None) -> None:
        # A production account's rate, high enough that the gateway never paces these tests.
        command = [sys.executable, "-m", "tests.support.fakeses", "--max-send-rate", "100000"]
        if delay:
            command += ["--delay", str(delay)]
        self.process = processes.start("fake-ses", command, base_env())
        found = self.process.wait_for_log(r"^listening on (http://\S+)$")
        self.url = found.group(1)

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:  # noqa: S310
            return json.load(response)

    def count(self) -> int:
        return int(self._get("/_fake/count")["count"])

    def outage(self, seconds: float, **options: object) -> None:
        """`FakeSes.outage()` in the process: faults for `seconds` (`faults`, `share`, `delay`,
        `seed` as there)."""
        request = urllib.request.Request(  # noqa: S310
            self.url + "/_fake/outage", json.dumps({"seconds": seconds, **options}).encode()
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def faults(self) -> dict[str, int]:
        """How many sends got each fault: `slow`, `reset`, or the error code."""
        return {str(kind): int(n) for kind, n in self._get("/_fake/faults").items()}

    def messages(self) -> list[dict[str, Any]]:
        """Every accepted send: `message_id`, `destinations`, `tags`, `raw` (bytes), ..."""
        return [{**m, "raw": base64.b64decode(m["raw"])} for m in self._get("/_fake/messages")]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.messages()):
            self.process.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake SES did not get what was awaited in {timeout}s")
            time.sleep(0.1)


@dataclass
class Gateway:
    """One installation: a data directory, free ports and the environment to run it with."""

    processes: Processes
    directory: Path
    env: dict[str, str]
    tenants: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        processes: Processes,
        directory: Path,
        *,
        ses_url: str | None = None,
        database_url: str | None = None,
        **settings: object,
    ) -> Gateway:
        """`ses_url`: the SES endpoint (with dummy AWS credentials); none: no AWS variable at all.

        `settings` are gateway settings by their lower-case names (`delivery_lease=2`).
        """
        smtp_port, smtps_port, http_port = free_ports(3)
        values: dict[str, object] = {
            "data_dir": directory / "data",
            "hostname": "gw.test",
            "smtp_port": smtp_port,
            "smtps_port": smtps_port,
            "http_port": http_port,
            "delivery_poll_interval": 0.2,
            "shutdown_timeout": 10,
            "ses_timeout": 10,
        }
        if database_url:
            values["database_url"] = database_url
        values.update(settings)
        env = base_env(**{f"SES_GATEWAY_{k.upper()}": str(v) for k, v in values.items()})
        if ses_url:
            env.update(
                AWS_ENDPOINT_URL=ses_url,
                AWS_REGION="us-east-1",
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_EC2_METADATA_DISABLED="true",
            )
        directory.mkdir(parents=True, exist_ok=True)
        return cls(processes, directory, env)

    @property
    def smtp_port(self) -> int:
        return int(self.env["SES_GATEWAY_SMTP_PORT"])

    @property
    def smtps_port(self) -> int:
        return int(self.env["SES_GATEWAY_SMTPS_PORT"])

    @property
    def http_port(self) -> int:
        return int(self.env["SES_GATEWAY_HTTP_PORT"])

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database_url(self) -> str:
        explicit = self.env.get("SES_GATEWAY_DATABASE_URL")
        if explicit:
            return explicit
        data_dir = Path(self.env["SES_GATEWAY_DATA_DIR"])
        return f"sqlite+aiosqlite:///{(data_dir / 'gateway.db').resolve()}"

    def serve(self, *args: str, wait: bool = True, **env: str) -> Process:
        """`ses-gateway serve ARGS`; with `wait`, returns once it has started (ports accept)."""
        process = self.processes.start(
            "gateway", [*gateway_command(), "serve", *args], {**self.env, **env}, self.directory
        )
        if wait:
            process.wait_for_log(r" started roles=")
            roles = _roles(args)
            if "smtp" in roles:
                process.wait_for_port(self.smtp_port)
            if "web" in roles:
                process.wait_for_port(self.http_port)
        return process

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """`ses-gateway ARGS` to completion, with its output captured."""
        return subprocess.run(
            [*gateway_command(), *args],
            env={**self.env, **env},
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli(self, *args: str) -> Any:
        """`ses-gateway --json ARGS`: its JSON document (`ProcessError` unless it exits 0)."""
        result = self.run("--json", *args)
        if result.returncode != 0:
            raise ProcessError(
                f"ses-gateway --json {' '.join(args)} exited with status {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return json.loads(result.stdout)

    def credential(self, tenant: str = "acme") -> tuple[int, str, str]:
        """A fresh credential made with the CLI (and its tenant, on first use here, which
        then adds example.com as its sending domain: the SES in use must verify it at once, as
        the fake SES does and `serve --dev` with `dev_verify_delay=0`).

        Returns (id, username, password).
        """
        if tenant not in self.tenants:
            self.cli("tenant", "create", tenant)
            self.cli("domain", "add", "example.com", "--tenant", tenant)
            self.tenants.add(tenant)
        new = self.cli("credential", "create", "--tenant", tenant)
        return int(new["id"]), str(new["username"]), str(new["password"])


def _roles(args: tuple[str, ...]) -> set[str]:
    roles = {args[i + 1] for i, a in enumerate(args[:-1]) if a == "--role"}
    roles |= {a.split("=", 1)[1] for a in args if a.startswith("--role=")}
    return roles or {"smtp", "web", "worker"}


def http_get(url: str, timeout: float = 10) -> tuple[int, Any]:
    """GET `url`: its status and JSON body (also for 4xx and 5xx answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def iter_headers(raw: bytes, name: str) -> Iterator[str]:
    """The values of header `name` in the head of a raw message."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    pattern = re.compile(rf"^{re.escape(name)}:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
    for found in pattern.finditer(head):
        yield found.group(1).strip()


# -- the database, read and written from the test process ------------------------------------


@dataclass(frozen=True)
class QueuedMessage:
    id: str
    state: str
    attempts: int
    lease_owner: str | None
    recipient_states: tuple[str, ...]


def provision(database_url: str, tenant: str = "acme") -> tuple[int, str, str]:
    """Schema, tenant and a fresh credential, in-process: (id, username, password)."""
    from gateway.core.exceptions import GatewayError
    from gateway.identity import accounts
    from gateway.storage.database import Database
    from gateway.storage.migrate import upgrade
    from tests.conftest import add_verified_domain

    async def run() -> tuple[int, str, str]:
        db = Database(database_url)
        try:
            await upgrade(db)
            with contextlib.suppress(GatewayError):  # it exists already
                created = await accounts.create_tenant(db, tenant)
                await add_verified_domain(db, created.id, "example.com")
            new = await accounts.create_credential(db, tenant)
        finally:
            await db.close()
        return new.credential.id, new.credential.username, new.password

    return asyncio.run(run())


def read_queue(database_url: str) -> dict[str, QueuedMessage]:
    """Every message in the queue with its state, lease owner and recipients' states."""
    from sqlalchemy import select

    from gateway.storage.database import Database
    from gateway.storage.models import Message, Recipient

    async def run() -> dict[str, QueuedMessage]:
        db = Database(database_url)
        try:
            async with db.engine.connect() as conn:
                messages = (
                    await conn.execute(
                        select(Message.id, Message.state, Message.attempts, Message.lease_owner)
                    )
                ).all()
                recipients: dict[str, list[str]] = {}
                for message_id, state in await conn.execute(
                    select(Recipient.message_id, Recipient.state).order_by(Recipient.id)
                ):
                    recipients.setdefault(message_id, []).append(state)
        finally:
            await db.close()
        return {
            m_id: QueuedMessage(m_id, state, attempts, owner, tuple(recipients.get(m_id, ())))
            for m_id, state, attempts, owner in messages
        }

    return asyncio.run(run())


# -- SMTP submission ---------------------------------------------------------------------------


def client_tls() -> ssl.SSLContext:
    """The gateway's certificate is self-signed: trust it blindly, as a test may."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def smtp_client(port: int, username: str, password: str, timeout: float = 15) -> smtplib.SMTP:
    """Connected, through STARTTLS, and logged in."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
    try:
        client.starttls(context=client_tls())
        client.login(username, password)
    except BaseException:
        client.close()
        raise
    return client


QUEUED_AS = re.compile(rb"queued as (\w+)")


def message_bytes(marker: str, body: str = "Hello from the test.") -> bytes:
    return (
        "From: Demo <demo@example.com>\r\n"
        "To: someone@example.org\r\n"
        f"Subject: test {marker}\r\n"
        f"X-Test-Id: {marker}\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


def send(
    client: smtplib.SMTP,
    marker: str,
    *,
    sender: str = "demo@example.com",
    recipient: str = "someone@example.org",
    body: str = "Hello from the test.",
    data: bytes | None = None,
) -> str:
    """One transaction on an open session; the queue id of the `250` (else `SMTPException`).

    The message is `data` if given, else a small one carrying `marker` and `body`.
    """
    code, reply = client.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.rcpt(recipient)
    if code != 250:
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = client.data(data or message_bytes(marker, body))
    found = QUEUED_AS.search(reply)
    if code != 250 or found is None:
        raise smtplib.SMTPDataError(code, reply)
    return found.group(1).decode()


def submit(port: int, username: str, password: str, marker: str, **options: str) -> str:
    """One message on a session of its own; its queue id."""
    with smtp_client(port, username, password) as client:
        return send(client, marker, **options)


def markers(raw: bytes) -> list[str]:
    """The `X-Test-Id` values of a raw message."""
    return list(iter_headers(raw, "X-Test-Id"))
