"""`ses-gateway serve`: SMTP, HTTP and delivery workers on one event loop, or a subset of them.

A data folder takes any number of ordinary `serve` processes, or one `serve --dev`
(`gateway.runtime.datalock`): a second is refused before it starts anything.

SIGTERM or SIGINT: stop accepting, let SMTP transactions and SES calls in progress finish (each
bounded by `SHUTDOWN_TIMEOUT`), record what they came to, and exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Iterable
from contextlib import AsyncExitStack

from admin.runtime import Parts, WebRole
from config import Settings
from gateway.core.exceptions import GatewayError
from gateway.core.logs import log_event
from gateway.dev.emulator import Emulator, announce, configured_endpoint, start_emulator, withdraw
from gateway.dev.simulator import DevSns, Simulator, endpoint_url, local_url
from gateway.identity.users import DEV_ADMIN, first_admin
from gateway.runtime.datalock import hold_data_dir
from gateway.runtime.roles import Role, WorkerRole
from gateway.storage.database import Database

log = logging.getLogger("gateway.serve")

ROLES = ("smtp", "web", "worker")
DEV_IDENTITY_SYNC_INTERVAL = 2.0
"""`serve --dev` asks its emulator about pending domains this often (at most): a domain it
verifies (`DEV_VERIFY_DELAY`) shows as verified a moment later."""
GC_THRESHOLDS = (20_000, 10, 10)
"""The cyclic collector's thresholds once start-up is frozen: a young collection after 20,000
more new objects than freed ones, not Python's 700. With a connection freed whole
(`SubmissionSMTP._unlink`) little of what a message makes is cyclic garbage; at 700 the young
collections still walked the live connections' objects some 90 times a second under load, 2-3%
of the CPU of a message (docs/performance.md, "A connection freed whole"), where at 20,000 they
run every few seconds, each a few milliseconds."""


def _dev_emulator(settings: Settings) -> Emulator | None:
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
    emulator = start_emulator(settings.dev_verify_delay)
    log_event(
        log,
        "dev-mode",
        level=logging.WARNING,
        emulator=emulator.url,
        verify_delay=settings.dev_verify_delay,
        note="SES emulator (moto) on loopback: nothing leaves this machine; it verifies "
        "a domain verify_delay seconds after it is added (or at `ses-gateway domain verify`)",
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


async def _make_roles(
    parts: Parts, roles: frozenset[str], simulator: Simulator | None
) -> list[Role]:
    """The roles asked for, in the order they start and stop: the listeners first (a port in
    use stops the start before anything runs; at a stop, no new mail), the worker last (it
    finishes what is in flight)."""
    worker = None
    if "worker" in roles:
        worker = await parts.worker_role(simulator.on_sent if simulator else None)
    made: list[Role] = []
    if "smtp" in roles:
        made.append(parts.smtp_role())
    if "web" in roles:
        dev_sns = simulator.sns if simulator else None
        made.append(await parts.web_role(worker is not None, dev_sns))
    if parts.settings.metrics_port:  # for any role: a worker-only process is scraped too
        made.append(parts.metrics_role())
    return [*made, worker] if worker else made


async def serve(settings: Settings, roles: Iterable[str] = ROLES, dev: bool = False) -> int:
    with hold_data_dir(settings.data_dir, dev):
        return await _serve(settings, frozenset(roles), dev)


async def _serve(settings: Settings, roles: frozenset[str], dev: bool) -> int:
    emulator = _dev_emulator(settings) if dev else None
    if emulator is not None:
        interval = min(settings.identity_sync_interval, DEV_IDENTITY_SYNC_INTERVAL)
        settings = settings.model_copy(update={"identity_sync_interval": interval})
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        async with Parts.open(settings) as parts, AsyncExitStack() as stack:
            simulator = None
            if emulator is not None:
                announce(emulator, settings.data_dir)
                await _dev_admin(parts.db, settings)
                simulator = await stack.enter_async_context(_dev_simulator(settings))
            started: list[Role] = []
            try:
                for role in await _make_roles(parts, roles, simulator):
                    await role.start()
                    started.append(role)
                _log_started(parts, started, roles)
                # What start-up made (modules, SQLAlchemy's and botocore's tables, the roles'
                # parts, the pools) lives as long as the process: out of the collector's sight,
                # the full collections that connections and a campaign's thousands of messages
                # in the making set off do not walk it again (docs/performance.md).
                gc.collect()
                gc.freeze()
                gc.set_threshold(*GC_THRESHOLDS)
                failed = await _until_stopped(stop, started)
                log_event(log, "stopping")
            finally:
                for role in started:
                    await role.stop()
    finally:
        if emulator is not None:
            withdraw(settings.data_dir)
            emulator.stop()
    log_event(log, "stopped")
    if failed:
        # Not a requested stop: exit non-zero, so that a supervisor restarts the gateway.
        names = ", ".join(task.get_name() for task in failed)
        raise GatewayError(f"{names} stopped unexpectedly: the log above says why")
    return 0


async def _until_stopped(stop: asyncio.Event, roles: list[Role]) -> list[asyncio.Task[None]]:
    """Wait for a signal, or for one of the roles' tasks to end unasked (returned, logged)."""
    waiter: asyncio.Task[object] = asyncio.create_task(stop.wait())
    running = [task for role in roles for task in role.tasks]
    done, _ = await asyncio.wait([waiter, *running], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    failed = [task for task in running if task in done]
    for task in failed:
        error = None if task.cancelled() else task.exception()
        log.error("%s stopped unexpectedly", task.get_name(), exc_info=error)
    return failed


def _log_started(parts: Parts, made: list[Role], roles: frozenset[str]) -> None:
    for role in made:
        if isinstance(role, WebRole):
            host, port = role.address
            log_event(
                log,
                f"{'http' if role.name == 'web' else 'metrics'}-listening",
                host=host,
                port=port,
            )
    provider = next((r.provider for r in made if isinstance(r, WorkerRole)), None)
    log_event(
        log,
        "started",
        roles=",".join(sorted(roles)),
        database=parts.db.backend,
        ses_api=parts.settings.ses_send_api,
        ses_send_path=parts.settings.ses_send_path,
        ses_endpoint=provider.endpoint if provider else None,
        region=provider.region if provider else None,
    )
