"""`ses-gateway serve`: SMTP, HTTP and delivery workers on one event loop, or a subset of them.

SIGTERM or SIGINT: stop accepting, let SMTP transactions and SES calls in progress finish (each
bounded by `SHUTDOWN_TIMEOUT`), record what they came to, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Generator, Iterable
from contextlib import AsyncExitStack
from typing import Any

import uvicorn

from admin.app import Readiness, create_app, create_metrics_app
from admin.ops.context import Services
from config import Settings
from gateway.aws.ses import SesAccount, SesClientProvider, SesIdentities, SesSender
from gateway.core.exceptions import GatewayError
from gateway.core.logs import log_event
from gateway.core.secret_key import load_secret_key
from gateway.delivery.governor import Governor
from gateway.delivery.worker import DeliveryWorker
from gateway.dev.emulator import Emulator, announce, configured_endpoint, start_emulator, withdraw
from gateway.dev.simulator import DevSns, Simulator, endpoint_url, local_url
from gateway.domains.identities import Domains, sync_forever
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.endpoints.sns import SnsEndpoint
from gateway.endpoints.tracking import TrackingEndpoints
from gateway.feedback.alerts import NearLimit
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.identity.users import DEV_ADMIN, first_admin
from gateway.intake.auth import Authenticator
from gateway.intake.handler import SubmissionHandler
from gateway.intake.server import SmtpService
from gateway.intake.spool import Spool
from gateway.intake.tls import certificate_files, server_context
from gateway.policy.senders import Directory
from gateway.runtime.housekeeping import tidy_forever
from gateway.storage.database import Database
from gateway.storage.migrate import ensure_schema
from gateway.webhooks.dispatcher import Dispatcher

log = logging.getLogger("gateway.serve")

ROLES = ("smtp", "web", "worker")


class WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve()` (or a test) owns the process's signals."""

    @classmethod
    def for_app(cls, app: Callable[..., Any]) -> WebServer:
        """`app` served on the sockets given to `serve()`, with the gateway's logging only."""
        return cls(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _http_socket(host: str, port: int) -> socket.socket:
    """The HTTP listener, bound before anything starts: a port in use then fails like an SMTP
    port does (an `OSError`), where uvicorn would `sys.exit()` from inside its task."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"HTTP on {host}:{port}: {exc.strerror}") from exc
    return sock


def _dev_emulator() -> Emulator | None:
    endpoint = configured_endpoint()
    if endpoint:
        log_event(
            log,
            "dev-mode",
            emulator="off",
            reason="an AWS endpoint is configured",
            endpoint=endpoint,
        )
        return None
    emulator = start_emulator()
    log_event(
        log,
        "dev-mode",
        level=logging.WARNING,
        emulator=emulator.url,
        note="SES emulator (moto) on loopback: nothing leaves this machine; "
        "example.com is verified in it",
    )
    return emulator


def _dev_simulator(settings: Settings) -> Simulator:
    """The mailbox simulator of `serve --dev`: SES events posted to this gateway's `/sns/ses`."""
    sns = DevSns(settings.data_dir / "dev-sns", os.environ["AWS_REGION"])
    url = endpoint_url(settings.http_host, settings.http_port)
    log_event(log, "dev-mode", simulator=url, topic=sns.topic_arn)
    return Simulator(sns, url, settings.configuration_set)


async def _dev_admin(db: Database, settings: Settings) -> None:
    """`serve --dev` on a gateway with no users: an admin to try the panel with, its password
    in a file readable only by its owner (never in the log)."""
    new = await first_admin(db, DEV_ADMIN)
    if new is None or new.password is None:
        return
    path = settings.data_dir / "dev-admin.txt"
    path.touch(mode=0o600)
    path.write_text(f"{new.user.email}\n{new.password}\n")
    url = local_url(settings.http_host, settings.http_port)
    log_event(log, "dev-mode", panel=url, admin=new.user.email, password_in=str(path))


async def serve(settings: Settings, roles: Iterable[str] = ROLES, dev: bool = False) -> int:
    roles = frozenset(roles)
    emulator = _dev_emulator() if dev else None
    db = Database(settings.database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await ensure_schema(db, settings.auto_migrate)
        secret_key = load_secret_key(settings)
        if emulator is not None:
            announce(emulator, settings.data_dir)
            await _dev_admin(db, settings)
        async with AsyncExitStack() as stack:
            tasks: list[asyncio.Task[None]] = []
            background: list[asyncio.Task[None]] = []
            dispatcher: Dispatcher | None = None
            worker = provider = spool = smtp = web = directory = simulator = None
            if emulator is not None:
                simulator = await stack.enter_async_context(_dev_simulator(settings))
            if "web" in roles:
                http_socket = _http_socket(settings.http_host, settings.http_port)
                stack.callback(http_socket.close)
            metrics_web: WebServer | None = None
            if settings.metrics_port:  # for any role: a worker-only process is scraped too
                metrics_socket = _http_socket(settings.metrics_host, settings.metrics_port)
                stack.callback(metrics_socket.close)
            if "worker" in roles:
                provider = await stack.enter_async_context(SesClientProvider(settings))
                if not await provider.has_credentials():
                    log_event(
                        log,
                        "ses-credentials",
                        level=logging.ERROR,
                        problem="no AWS credentials found",
                    )
                owner = f"{settings.hostname[:40]}/{os.getpid()}/{secrets.token_hex(3)}"
                # Paces every send of this process under the SES account's quota.
                governor = await stack.enter_async_context(
                    Governor(SesAccount(provider), settings, near_limit=NearLimit(db))
                )
                stored = StoredSnsSetup(db)  # `sns setup`'s default configuration set
                send = SesSender(provider, settings, stored.configuration_set).send
                on_sent = simulator.on_sent if simulator else None
                worker = DeliveryWorker(db, send, settings, owner, governor, on_sent)
                tasks.append(asyncio.create_task(worker.run(), name="delivery"))
                domains = Domains(db, SesIdentities(provider), secret_key, settings)
                sync = sync_forever(domains, db, owner, settings.identity_sync_interval)
                background.append(asyncio.create_task(sync, name="identity-sync"))
                tidy = tidy_forever(db, settings)
                background.append(asyncio.create_task(tidy, name="housekeeping"))
                dispatcher = Dispatcher(db, settings, secret_key, owner)
                tasks.append(asyncio.create_task(dispatcher.run(), name="webhooks"))
            if "smtp" in roles:
                spool = Spool(db, on_stored=worker.wake if worker else None)
                spool.start()
                directory = Directory(db)
                directory.start()
                tls = server_context(*certificate_files(settings))
                smtp = SmtpService(
                    settings,
                    SubmissionHandler(settings, spool, directory),
                    Authenticator(db, settings),
                    tls,
                )
                await smtp.start()
            if "web" in roles:
                readiness = Readiness(db, (lambda: provider.ready) if provider else None)
                dev_sns = simulator.sns if simulator else None
                # The panel and the API add domains and read the account: an SES client too.
                panel_ses = provider
                if panel_ses is None:
                    panel_ses = await stack.enter_async_context(SesClientProvider(settings))
                web = WebServer.for_app(
                    create_app(
                        readiness,
                        SnsEndpoint.from_settings(db, settings, dev_sns),
                        TrackingEndpoints.from_settings(db, settings),
                        MetricsEndpoint.from_settings(db, settings),
                        Services(db, settings, secret_key, panel_ses),
                    )
                )
                tasks.append(asyncio.create_task(web.serve([http_socket]), name="web"))
                host, port = http_socket.getsockname()[:2]
                log_event(log, "http-listening", host=host, port=port)
            if settings.metrics_port:
                metrics_web = WebServer.for_app(
                    create_metrics_app(MetricsEndpoint.from_settings(db, settings))
                )
                scraped = metrics_web.serve([metrics_socket])
                tasks.append(asyncio.create_task(scraped, name="metrics"))
                host, port = metrics_socket.getsockname()[:2]
                log_event(log, "metrics-listening", host=host, port=port)
            log_event(
                log,
                "started",
                roles=",".join(sorted(roles)),
                database=db.backend,
                ses_api=settings.ses_send_api,
                ses_endpoint=provider.endpoint if provider else None,
                region=provider.region if provider else None,
            )
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            failed = [task for task in done if task is not waiter]
            for task in failed:
                error = None if task.cancelled() else task.exception()
                log.error("%s stopped unexpectedly", task.get_name(), exc_info=error)
            log_event(log, "stopping")
            if smtp is not None and spool is not None and directory is not None:
                await smtp.stop(settings.shutdown_timeout)
                await spool.stop()
                await directory.stop()
            if web is not None:
                web.should_exit = True
            if metrics_web is not None:
                metrics_web.should_exit = True
            if worker is not None:
                await worker.stop()
            if dispatcher is not None:
                dispatcher.stop()
            for task in (waiter, *background):
                task.cancel()
            await asyncio.gather(waiter, *background, *tasks, return_exceptions=True)
    finally:
        await db.close()
        if emulator is not None:
            withdraw(settings.data_dir)
            emulator.stop()
    log_event(log, "stopped")
    if failed:
        # Not a requested stop: exit non-zero, so that a supervisor restarts the gateway.
        names = ", ".join(task.get_name() for task in failed)
        raise GatewayError(f"{names} stopped unexpectedly: the log above says why")
    return 0
