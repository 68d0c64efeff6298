"""The one list of a worker's periodic tasks: names, intervals and leases as documented."""

from __future__ import annotations

from pathlib import Path

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.campaigns import sender
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from gateway.delivery.governor import Governors
from gateway.domains.identities import SYNC_LEASE, Domains
from gateway.runtime.housekeeping import RESEAL_INTERVAL, RESEAL_LEASE, RESEAL_LEASE_TTL
from gateway.runtime.roles import worker_tasks
from gateway.storage.database import Database
from tests.conftest import make_settings
from tests.support.messages import SEALER


async def test_the_worker_tasks(db: Database, tmp_path: Path, aws_env: object) -> None:
    for retention, body_purge in ((0, []), (7, ["body-purge"])):
        settings = make_settings(
            tmp_path, db.url, body_retention_days=retention, identity_sync_interval=120
        )
        async with SesClientProvider(settings) as provider:
            governors = Governors(provider, None, settings)
            domains = Domains(db, SesIdentities(provider), b"k" * 32, settings)
            campaigns = CampaignSender(db, settings, Submitter(db, settings, SEALER))
            tasks = worker_tasks(db, settings, SEALER, governors, domains, campaigns)
        assert [t.name for t in tasks] == [
            "ses-governor",
            "identity-sync",
            "housekeeping",
            "hold-paused",
            "reseal",
            "webhook-purge",
            "campaign-sender",
            *body_purge,
        ]
        leased = {t.name: (t.lease, t.lease_ttl) for t in tasks if t.lease}
        assert leased == {
            "identity-sync": (SYNC_LEASE, 360),
            "reseal": (RESEAL_LEASE, RESEAL_LEASE_TTL),
            "campaign-sender": (sender.LEASE, sender.LEASE_TTL),
        }
        intervals = {t.name: t.interval for t in tasks}
        assert intervals["ses-governor"] == settings.ses_quota_refresh
        assert intervals["identity-sync"] == 120
        assert intervals["housekeeping"] == 3600
        assert intervals["hold-paused"] == 30
        assert intervals["reseal"] == RESEAL_INTERVAL
        assert intervals["campaign-sender"] == sender.INTERVAL
