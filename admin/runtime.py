"""The composition root: the one place that builds the gateway's object graph. `serve`, the CLI
and the tests all call `Parts.open(settings)` and take what they need from it: the database, the
secret key, the SES client (opened on first use), the panel's and the API's `Services`, domain
operations, and the roles (`smtp`, `web`, `worker`), each with `start()` and `stop()`.

Why one place: the same wiring written in four places had drifted (which SES client the panel
used, which configuration set a worker sent with); now a part is made one way everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AsyncExitStack
from typing import Any

import uvicorn

from admin.ops.context import Services
from config import Settings
from config.settings import ENV_PREFIX
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities, SesSender
from gateway.compose.submit import Submitter
from gateway.core.crypto import Sealer, previous_keys
from gateway.core.secret_key import load_secret_key
from gateway.core.types.changes import Topic
from gateway.delivery.worker import DeliveryWorker, Sent
from gateway.dev.emulator import use_running_emulator
from gateway.dev.simulator import DevSns
from gateway.domains.identities import Domains
from gateway.endpoints.health import Readiness
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.endpoints.sns import SnsEndpoint
from gateway.endpoints.tracking import TrackingEndpoints
from gateway.identity.tenancy import TenantAccounts
from gateway.policy.senders import Directory
from gateway.runtime.changes import ChangeBus
from gateway.runtime.roles import SmtpRole, WorkerRole
from gateway.storage.database import Database
from gateway.storage.migrate import ensure_schema


class WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve()` (or a test) owns the process's signals."""

    @classmethod
    def for_app(cls, app: Callable[..., Any]) -> WebServer:
        """`app` served on the sockets given to `serve()`, with the gateway's logging only."""
        return cls(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def http_socket(host: str, port: int, setting: str) -> socket.socket:
    """An HTTP listener, bound before anything starts: a port in use then fails like an SMTP
    port does (an `OSError`), where uvicorn would `sys.exit()` from inside its task.

    Made with `IPPROTO_TCP` named, not 0: asyncio turns Nagle's algorithm off (`TCP_NODELAY`)
    only on connections whose socket says TCP, and uvicorn writes a response's head and body
    apart. With Nagle on, the body waited for the client's delayed ACK: 40 ms on every answer
    on a kept connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"HTTP on {host}:{port} ({ENV_PREFIX}{setting})"
        raise OSError(exc.errno, f"{where}: {exc.strerror}") from exc
    return sock


class WebRole:
    """An HTTP app served by uvicorn on a socket bound when the role is made; with the send
    API's `submitter`, started before it and stopped after it."""

    def __init__(
        self,
        name: str,
        app: Callable[..., Any],
        sock: socket.socket,
        submitter: Submitter | None = None,
        changes: ChangeBus | None = None,
    ) -> None:
        """`changes`: the change bus the submitter's policy facts hear (started with the role,
        so that a web-only process hears other processes' changes too)."""
        self.name = name
        self.server = WebServer.for_app(app)
        self.socket = sock
        self.submitter = submitter
        self.changes = changes
        if submitter is not None and changes is not None:
            changes.subscribe(submitter.directory.forget, *Directory.TOPICS)
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return host, port

    async def start(self) -> None:
        if self.submitter is not None:
            self.submitter.start()
        if self.changes is not None:
            self.changes.start()
        self.tasks = [asyncio.create_task(self.server.serve([self.socket]), name=self.name)]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.socket.close()
        if self.submitter is not None:  # after the requests in flight: they may be storing
            await self.submitter.stop()
        if self.changes is not None:
            await self.changes.stop()


class Parts:
    """The gateway's object graph for one process; made by `Parts.open`, closed with it."""

    def __init__(
        self, settings: Settings, db: Database, stack: AsyncExitStack, beside_dev: bool = False
    ) -> None:
        self.settings = settings
        self._beside_dev = beside_dev
        self.db = db
        self._stack = stack
        self._secret_key: bytes | None = None
        self._sealer: Sealer | None = None
        self._provider: SesClientProvider | None = None
        self._accounts: TenantAccounts | None = None
        self._services: Services | None = None
        self._changes: ChangeBus | None = None
        self.owner = f"{settings.hostname[:40]}/{os.getpid()}/{secrets.token_hex(3)}"
        """This process, as the leases of messages, webhook deliveries and tasks name it."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: Settings, migrate: bool = True, beside_dev: bool = False
    ) -> AsyncIterator[Parts]:
        """The database opened (its schema checked, or brought up to date under
        `AUTO_MIGRATE`); everything else is made when first asked for, and closed on exit.
        `beside_dev` (the CLI): with no AWS endpoint configured, SES is the emulator of a
        `serve --dev` running on the same data folder, if there is one."""
        db = Database(settings.database)
        try:
            if migrate:
                await ensure_schema(db, settings.auto_migrate)
            async with AsyncExitStack() as stack:
                yield cls(settings, db, stack, beside_dev)
        finally:
            await db.close()

    @property
    def secret_key(self) -> bytes:
        if self._secret_key is None:
            self._secret_key = load_secret_key(self.settings)
        return self._secret_key

    @property
    def sealer(self) -> Sealer:
        """Seals message content at rest: under `SECRET_KEY`, opening with the previous keys."""
        if self._sealer is None:
            self._sealer = Sealer(self.secret_key, previous_keys(self.settings))
        return self._sealer

    @property
    def changes(self) -> ChangeBus:
        """The process's change bus: what changed here or (PostgreSQL) in any other process, told
        to the roles' caches and workers; `subscribe` a cache of your own to it (it hears the
        changes from then on; the listening starts with the first role started)."""
        if self._changes is None:
            self._changes = ChangeBus(self.db)
        return self._changes

    @property
    def accounts(self) -> TenantAccounts:
        """Which AWS account each tenant uses, cached (dropped by the change bus)."""
        if self._accounts is None:
            self._accounts = TenantAccounts(self.db, lambda: self.sealer)
            self.changes.subscribe(self._accounts.forget, *TenantAccounts.TOPICS)
        return self._accounts

    async def ses(self) -> SesClientProvider:
        """The SES clients of the process: the default account's (the dev emulator's, when one
        runs) opened once, each other account's on first use, made again when it changes."""
        if self._provider is None:
            if self._beside_dev:
                use_running_emulator(self.settings.data_dir)
            provider = SesClientProvider(self.settings, self.accounts)
            self._provider = await self._stack.enter_async_context(provider)
            self.changes.subscribe(lambda c: provider.forget(c.key or None), Topic.AWS_ACCOUNT)
        return self._provider

    async def domains(self) -> Domains:
        identities = SesIdentities(await self.ses())
        return Domains(self.db, identities, self.secret_key, self.settings)

    async def services(self, ses: bool = True) -> Services:
        """What the operations of the panel, the API and the CLI work with. `ses` False: the SES
        client is made but not opened (the CLI's commands that never call SES work without AWS
        settings)."""
        if self._services is None:
            provider = await self.ses() if ses else SesClientProvider(self.settings, self.accounts)
            self._services = Services(
                self.db, self.settings, lambda: self.secret_key, lambda: self.sealer, provider
            )
        return self._services

    def smtp_role(self, **options: Any) -> SmtpRole:
        return SmtpRole(self.db, self.settings, self.sealer, self.changes, **options)

    async def delivery_worker(self, owner: str | None = None) -> DeliveryWorker:
        """A delivery worker alone, unpaced (no governor): for tests that deliver without the
        rest of the worker role. It claims at once what this process stores, and what other
        processes store while the change bus listens (`changes.start()`, or a role started)."""
        send = SesSender(await self.ses(), self.settings).send
        worker = DeliveryWorker(self.db, self.sealer, send, self.settings, owner or self.owner)
        self.changes.subscribe(lambda _: worker.wake(), Topic.QUEUED)
        return worker

    async def worker_role(self, on_sent: Sent | None = None) -> WorkerRole:
        provider = await self.ses()
        domains = await self.domains()
        return WorkerRole(
            self.db,
            self.settings,
            provider,
            self.accounts,
            domains,
            self.secret_key,
            self.sealer,
            self.owner,
            self.changes,
            on_sent,
        )

    async def web_role(
        self,
        sends: bool,
        dev_sns: DevSns | None = None,
    ) -> WebRole:
        """The HTTP app: the data plane's endpoints, the panel and the API (its send API's
        submitter hears the change bus). `sends`: this process has the worker role too
        (`/readyz` then checks the SES client)."""
        # Imported here: a CLI command, which serves nothing, does not load the panel and the API.
        from admin.app import create_app

        settings, db = self.settings, self.db
        provider = await self.ses()
        readiness = Readiness(db, (lambda: provider.ready) if sends else None)
        services = await self.services()
        for throttle in (services.logins.throttle, services.api_keys.throttle):
            self.changes.subscribe(throttle.heard, Topic.LOGIN)  # other instances' failures
        services.submitter = Submitter(db, settings, self.sealer)
        services.simulator_topic = dev_sns.topic_arn if dev_sns else None
        sns = SnsEndpoint.from_settings(db, settings, dev_sns)
        self.changes.subscribe(sns.stored.forget, Topic.AWS_ACCOUNT)
        app = create_app(
            readiness,
            sns,
            TrackingEndpoints.from_settings(db, settings),
            MetricsEndpoint.from_settings(db, settings),
            services,
        )
        sock = http_socket(settings.http_host, settings.http_port, "HTTP_PORT")
        return WebRole("web", app, sock, services.submitter, self.changes)

    def metrics_role(self) -> WebRole:
        """`/metrics` on a listener of its own (`METRICS_PORT`), for any role."""
        from admin.app import create_metrics_app

        app = create_metrics_app(MetricsEndpoint.from_settings(self.db, self.settings))
        sock = http_socket(self.settings.metrics_host, self.settings.metrics_port, "METRICS_PORT")
        return WebRole("metrics", app, sock)
