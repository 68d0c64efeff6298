"""The roles a gateway process plays, each an object with `start()` and `stop()`: `smtp` (the
listeners, the spool, the sender facts) and `worker` (delivery, webhooks and the periodic tasks).
The `web` role is the HTTP app, in `admin.runtime`, which builds all three. Both roles here
hear of changes by the process's change bus (`gateway.runtime.changes`): the sender facts and
the remembered logins drop what changed, the lockout counts other instances' failed logins, the
worker claims what became due.

`worker_tasks` is the one list of the periodic work, with each task's interval and lease.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Protocol

from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesSender
from gateway.campaigns import sender as campaign_sender
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from gateway.core.crypto import Sealer
from gateway.core.logs import log_event
from gateway.core.types.changes import Topic
from gateway.delivery.governor import Governors
from gateway.delivery.worker import PURGE_INTERVAL, DeliveryWorker, Sent, purge_bodies
from gateway.domains.identities import SYNC_LEASE, Domains
from gateway.feedback.alerts import NearLimit
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.identity.tenancy import TenantAccounts
from gateway.intake.auth import Authenticator
from gateway.intake.handler import SubmissionHandler
from gateway.intake.server import SmtpService
from gateway.intake.spool import Spool
from gateway.intake.tls import certificate_files, server_context
from gateway.policy.senders import Directory
from gateway.runtime.changes import ChangeBus
from gateway.runtime.housekeeping import (
    HOLD_INTERVAL,
    RESEAL_INTERVAL,
    RESEAL_LEASE,
    RESEAL_LEASE_TTL,
    hold_paused,
    reseal,
    tidy,
)
from gateway.runtime.housekeeping import INTERVAL as HOUSEKEEPING_INTERVAL
from gateway.runtime.tasks import Periodic, Schedule
from gateway.storage.database import Database
from gateway.webhooks import dispatcher

log = logging.getLogger("gateway.serve")


class Role(Protocol):
    tasks: list[asyncio.Task[None]]
    """Its long-running tasks: one that ends before `stop()` means the process is unwell."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def worker_tasks(
    db: Database,
    settings: Settings,
    sealer: Sealer,
    governors: Governors,
    domains: Domains,
    campaigns: CampaignSender | None = None,
) -> list[Periodic]:
    """Every periodic task of a worker process (`campaigns`: with the campaign sender)."""
    sync = settings.identity_sync_interval
    tasks = [
        governors.task(),
        Periodic(
            "identity-sync",
            domains.sync_due,
            sync,
            logging.getLogger("gateway.domains"),
            f"syncing identities with SES failed; trying again in {sync}s",
            lease=SYNC_LEASE,
            lease_ttl=sync * 3,
        ),
        Periodic(
            "housekeeping",
            partial(tidy, db, settings),
            HOUSEKEEPING_INTERVAL,
            logging.getLogger("gateway.housekeeping"),
            "housekeeping failed; trying again in an hour",
        ),
        Periodic(
            "hold-paused",
            partial(hold_paused, db),
            HOLD_INTERVAL,
            logging.getLogger("gateway.housekeeping"),
            "holding paused tenants' messages failed; trying again in 30 seconds",
        ),
        Periodic(
            "reseal",
            partial(reseal, db, sealer),
            RESEAL_INTERVAL,
            logging.getLogger("gateway.housekeeping"),
            "sealing message content under the current key failed",
            lease=RESEAL_LEASE,
            lease_ttl=RESEAL_LEASE_TTL,
        ),
        Periodic(
            "webhook-purge",
            partial(dispatcher.purge, db, settings),
            dispatcher.PURGE_INTERVAL,
            logging.getLogger("gateway.webhooks"),
            "purging old webhook deliveries failed",
        ),
    ]
    if campaigns is not None:
        tasks.append(
            Periodic(
                "campaign-sender",
                campaigns.run,
                campaign_sender.INTERVAL,
                campaign_sender.log,
                "making campaign messages failed; trying again in a second",
                lease=campaign_sender.LEASE,
                lease_ttl=campaign_sender.LEASE_TTL,
                busy=campaigns.busy,
            )
        )
    if settings.body_retention_days > 0:
        tasks.append(
            Periodic(
                "body-purge",
                partial(purge_bodies, db, settings),
                PURGE_INTERVAL,
                logging.getLogger("gateway.delivery"),
                "purging old message bodies failed",
            )
        )
    return tasks


class SmtpRole:
    """The SMTP listeners, with the spool that commits what they accept and the sender facts."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        sealer: Sealer,
        changes: ChangeBus,
        facts_ttl: float | None = None,
        ports: tuple[int | None, int | None] = (None, None),
    ) -> None:
        """`ports` (submission, implicit TLS) override the settings' (0: any free port)."""
        self.settings = settings
        self.spool = Spool(db, sealer)
        self.directory = Directory(db) if facts_ttl is None else Directory(db, ttl=facts_ttl)
        self.changes = changes
        changes.subscribe(self.directory.forget, *Directory.TOPICS)
        authenticator = Authenticator(db, settings)
        changes.subscribe(authenticator.heard, *Authenticator.TOPICS)
        self.smtp = SmtpService(
            settings,
            SubmissionHandler(settings, self.spool, self.directory),
            authenticator,
            server_context(*certificate_files(settings)),
        )
        self._ports = ports
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.spool.start()
        self.directory.start()
        await self.smtp.start(*self._ports)  # a port in use stops here: nothing else to stop
        self.changes.start()

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; let transactions in progress end (for `grace` seconds, by default
        `SHUTDOWN_TIMEOUT`), commit what they got."""
        await self.smtp.stop(self.settings.shutdown_timeout if grace is None else grace)
        await self.spool.stop()
        await self.directory.stop()
        await self.changes.stop()


class WorkerRole:
    """Delivery, the webhook dispatcher and the periodic tasks, over the SES clients of each
    AWS account in use."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: SesClientProvider,
        accounts: TenantAccounts,
        domains: Domains,
        secret_key: bytes,
        sealer: Sealer,
        owner: str,
        changes: ChangeBus,
        on_sent: Sent | None = None,
    ) -> None:
        self.provider = provider
        # Paces every send of this process under its AWS account's quota.
        self.governors = Governors(provider, accounts, settings, near_limit=NearLimit(db))
        stored = StoredSnsSetup(db)  # `sns setup`'s default configuration set of each account
        send = SesSender(provider, settings, stored.configuration_set).send
        self.delivery = DeliveryWorker(db, sealer, send, settings, owner, self.governors, on_sent)
        self.dispatcher = dispatcher.Dispatcher(db, settings, secret_key, owner)
        # Campaigns' messages go through the policy and the spool as the send API's do; no
        # more of them wait for SES than its pace sends in CAMPAIGN_QUEUE_SECONDS.
        submitter = Submitter(db, settings, sealer)
        self.campaigns = CampaignSender(db, settings, submitter, self.governors.pace)
        self.schedule = Schedule(
            worker_tasks(db, settings, sealer, self.governors, domains, self.campaigns), db, owner
        )
        self.changes = changes
        changes.subscribe(self.campaigns.submitter.directory.forget, *Directory.TOPICS)
        changes.subscribe(lambda _: self.delivery.wake(), Topic.QUEUED)
        changes.subscribe(lambda _: self.dispatcher.wake(), Topic.WEBHOOK)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not await self.provider.has_credentials():
            log_event(
                log, "ses-credentials", level=logging.ERROR, problem="no AWS credentials found"
            )
        self.changes.start()
        self.campaigns.start()
        self.schedule.start()
        self.tasks = [
            asyncio.create_task(self.delivery.run(), name="delivery"),
            asyncio.create_task(self.dispatcher.run(), name="webhooks"),
        ]

    async def stop(self) -> None:
        """Let sends and POSTs in flight end (bounded), record them, give back the leases."""
        await self.delivery.stop()
        await self.dispatcher.stop()
        await self.schedule.stop()
        await self.campaigns.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.changes.stop()
