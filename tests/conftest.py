"""Shared fixtures: databases (SQLite and a throwaway PostgreSQL), fake and emulated SES, and a
gateway running in the test's event loop with its SMTP listeners on free loopback ports."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from admin.cli import main
from admin.runtime import Parts
from config import Settings
from gateway.core.crypto import Sealer
from gateway.core.secret_key import load_secret_key
from gateway.core.types.domains import IdentityState
from gateway.core.types.messages import MessageStatus
from gateway.delivery.worker import DeliveryWorker
from gateway.identity import accounts, passwords
from gateway.intake import auth
from gateway.intake.server import SmtpService
from gateway.intake.tls import certificate_files
from gateway.runtime.roles import SmtpRole
from gateway.storage import domains as domain_store
from gateway.storage import queue
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade
from gateway.storage.tenants import list_tenants
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER
from tests.support.postgres import PostgresServer

_names = itertools.count()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With pytest-xdist's default `--dist load`, keep the browser tests on one worker."""
    if config.getvalue("dist") != "load":
        return None
    from tests.support.scheduling import BrowserTestsTogether

    return BrowserTestsTogether(config, log)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its recommended cost takes a second or more per hash on a small, busy machine;
    in-process tests hash and check credentials with argon2id at its lowest cost instead."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(auth, "DUMMY_HASH", cheap.hash("not a password"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer(in_memory=True) as server:
        yield server


def _migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema, from any thread of the test process
    (in a thread of its own, so that it does not touch the event loop of a test)."""

    async def run() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file at the newest schema, migrated once per session and copied for
    each test: migrating takes longer than most tests. Closing it checkpoints its WAL into
    the file, so the file alone is the whole database."""
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """The name of a PostgreSQL database at the newest schema, migrated once per session;
    `CREATE DATABASE ... TEMPLATE` copies it for each test."""
    name = "migrated_template"
    _migrate(postgres_server.create_database(name))
    return name


def migrated_sqlite_url(request: pytest.FixtureRequest, path: Path) -> str:
    """The URL of a new SQLite database at `path`, at the newest schema."""
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite+aiosqlite:///{path}"


_MIGRATING = frozenset({"db", "start_gateway"})
"""Fixtures that bring the test's database to the newest schema anyway."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: the tests that use this run once on each backend. It is empty, unless
    the test migrates it anyway (it uses `db` or `start_gateway`): then it starts as a copy of a
    database migrated once per session, which is quicker than migrating it again. A PostgreSQL
    one is dropped after the test: the server keeps its files in memory (`in_memory`)."""
    migrated = not _MIGRATING.isdisjoint(request.fixturenames)
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        yield migrated_sqlite_url(request, path) if migrated else f"sqlite+aiosqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template") if migrated else None
    name = f"test_{next(_names)}"
    yield server.create_database(name, template)
    server.drop_database(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, at the newest schema (a copy of the template)."""
    database = Database(database_url)
    yield database
    await database.close()


@pytest.fixture
def fake_ses() -> Iterator[FakeSes]:
    with FakeSes() as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Dummy credentials and a region; tests point AWS_ENDPOINT_URL at their SES."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_SESV2",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture(params=["direct", "aioboto3"])
def ses_send_path(request: pytest.FixtureRequest) -> str:
    """`SES_SEND_PATH`: a test that asks for it runs over both ways of making the send call,
    which must behave alike (`gateway/aws/sendclient.py`)."""
    return str(request.param)


def client_tls() -> ssl.SSLContext:
    """Clients trust the gateway's self-signed certificate blindly, as a test may."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "hostname": "gw.test",
        "delivery_poll_interval": 0.2,
        "retry_base_delay": 0.2,
        "retry_max_delay": 0.5,
        "ses_timeout": 5,
        "shutdown_timeout": 5,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Gateway:
    """The gateway's parts, running in the test's event loop."""

    settings: Settings
    db: Database
    smtp_role: SmtpRole
    worker: DeliveryWorker | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def smtp(self) -> SmtpService:
        return self.smtp_role.smtp

    @property
    def port(self) -> int:
        return self.smtp.submission.port

    @property
    def smtps_port(self) -> int:
        return self.smtp.smtps.port

    @property
    def sealer(self) -> Sealer:
        """Opens what this gateway sealed (its `SECRET_KEY`)."""
        return Sealer(load_secret_key(self.settings))

    async def credential(
        self, tenant: str = "acme", domain: str | None = "example.com"
    ) -> tuple[str, str]:
        """A fresh credential: (username, password). The tenant is made on first use, owning
        `domain` as a sending domain that SES has verified."""
        if tenant not in {t.name for t in await list_tenants(self.db)}:
            created = await accounts.create_tenant(self.db, tenant)
            if domain:
                await add_verified_domain(self.db, created.id, domain)
        new = await accounts.create_credential(self.db, tenant)
        return new.credential.username, new.password


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Settings], None]:
    """`self_signed(settings)` puts a self-signed pair for `settings.hostname` in its data folder,
    where the gateway looks for one before it makes one: an RSA key takes a tenth of a second or
    more to generate, so each hostname's is made once per session."""
    made: dict[str, Path] = {}

    def place(settings: Settings) -> None:
        if settings.hostname not in made:
            folder = tmp_path_factory.mktemp("self-signed")
            certificate_files(Settings(data_dir=folder, hostname=settings.hostname))
            made[settings.hostname] = folder / "tls"
        shutil.copytree(made[settings.hostname], settings.data_dir / "tls", dirs_exist_ok=True)

    return place


@pytest.fixture
async def start_gateway(
    tmp_path: Path,
    database_url: str,
    aws_env: pytest.MonkeyPatch,
    self_signed: Callable[[Settings], None],
) -> AsyncIterator[Any]:
    """`await start_gateway(ses_url, deliver=True, **settings)` starts a gateway, built by the
    composition root as `serve` builds it: the SMTP role, and (`deliver`) a delivery worker,
    unpaced, without the rest of the worker role (webhooks, periodic tasks)."""
    started: list[Gateway] = []
    async with AsyncExitStack() as stack:

        async def start(ses_url: str | None, deliver: bool = True, **overrides: Any) -> Gateway:
            if ses_url:
                aws_env.setenv("AWS_ENDPOINT_URL", ses_url)
            settings = make_settings(tmp_path, database_url, **overrides)
            self_signed(settings)
            parts = await stack.enter_async_context(Parts.open(settings))
            worker = await parts.delivery_worker("test-worker") if deliver else None
            tasks = [asyncio.create_task(worker.run())] if worker else []
            smtp = parts.smtp_role(facts_ttl=0, ports=(0, 0))
            await smtp.start()
            gateway = Gateway(settings, parts.db, smtp, worker, tasks)
            started.append(gateway)
            return gateway

        yield start
        for gateway in started:
            await gateway.smtp_role.stop(grace=1)
            if gateway.worker is not None:
                await gateway.worker.stop()
            await asyncio.gather(*gateway.tasks, return_exceptions=True)


async def add_verified_domain(db: Database, tenant_id: int, name: str) -> None:
    """A sending domain as it is once SES has verified it (without asking SES)."""
    now = datetime.now(UTC)
    verified = IdentityState(True, "SUCCESS", "SUCCESS", ("token1", "token2", "token3"), "AWS_SES")
    values = {"name": name, "display_name": name, "region": "us-east-1", "dkim_mode": "easy"}
    values |= {"created_at": now, "verified_at": now, **domain_store.state_columns(verified)}
    await domain_store.insert_domain(db, tenant_id, values)


async def settled(db: Database, queue_id: str, timeout: float = 15) -> MessageStatus:
    """The message's status once every recipient is final (sent or failed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await queue.message_status(db, SEALER, queue_id)
        if status.state == "done":
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"message {queue_id} not settled: {status}")
        await asyncio.sleep(0.05)


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """`cli("tenant", "list")` runs `ses-gateway` in process: (exit status, stdout, stderr).
    No SES_GATEWAY_* variable of the caller's environment, and no stray `.env`, gets in."""
    for name in list(os.environ):
        if name.startswith("SES_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SES_GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SES_GATEWAY_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir(exist_ok=True)  # a gateway's data folder (`ses-gateway init`)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run
