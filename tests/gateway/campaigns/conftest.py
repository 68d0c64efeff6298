"""A tenant with a verified domain, lists, a template and the operations' context, over the
test's database (SQLite and PostgreSQL); the campaign sender with its own submitter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from admin.ops import campaigns as ops
from admin.ops import contacts, templates
from admin.ops.context import Actor, Context, Services
from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from gateway.core.types.campaigns import CampaignInfo
from gateway.core.types.messages import Job
from gateway.identity import accounts
from gateway.policy.senders import Directory
from gateway.storage import queue
from gateway.storage.database import Database
from tests.conftest import add_verified_domain, make_settings
from tests.support.messages import SEALER, SEALER_KEY

PUBLIC_URL = "https://mail.example.test"
HTML = (
    "<html><body><p>Hi {{first_name}} from {{company | default('nowhere')}}</p>"
    '<p><a href="https://example.com/offer">Offer</a></p></body></html>'
)


@dataclass
class Shop:
    db: Database
    settings: Settings
    ctx: Context
    sender: CampaignSender
    lists: dict[str, int]

    async def add(self, list_name: str, address: str, **fields: str) -> None:
        await contacts.add_contact(self.ctx, self.lists[list_name], address, fields)

    async def campaign(self, *lists: str, **given: str | None) -> CampaignInfo:
        new = ops.NewCampaign(
            str(given.pop("name", "autumn")),
            "news",
            lists,
            "News <news@example.com>",
            **given,  # type: ignore[arg-type]
        )
        return await ops.create_campaign(self.ctx, new, "acme")

    async def send_all(self, now: datetime | None = None) -> int:
        """Rounds until one makes nothing: how many messages were made."""
        made = 0
        while count := await self.sender.run(now):
            made += count
        return made


def spooled(jobs: list[Job]) -> dict[str, Job]:
    return {job.recipients[0].address: job for job in jobs}


async def claim_all(db: Database) -> dict[str, Job]:
    """Every message in the spool, by its one recipient."""
    now = datetime.now(UTC)
    jobs = await queue.claim(db, SEALER, "test", 10_000, now, now + timedelta(minutes=5))
    return spooled(jobs)


def make_shop_settings(tmp_path: Path, db: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {"public_url": PUBLIC_URL, "campaign_batch": 2}
    values.update(overrides)
    return make_settings(tmp_path, db.url, **values)


@pytest.fixture
def shop_settings() -> dict[str, object]:
    return {}


@pytest.fixture
async def shop(
    db: Database, tmp_path: Path, shop_settings: dict[str, object]
) -> AsyncIterator[Shop]:
    settings = make_shop_settings(tmp_path, db, **shop_settings)
    tenant = await accounts.create_tenant(db, "acme")
    await add_verified_domain(db, tenant.id, "example.com")
    services = Services(
        db, settings, lambda: SEALER_KEY, lambda: SEALER, SesClientProvider(settings)
    )
    ctx = Context(services, Actor.of_cli("tester"), None)
    lists = {n: (await contacts.create_list(ctx, n, "acme")).id for n in ("a", "b", "no")}
    await templates.create_template(ctx, "news", "Hello {{first_name}}", HTML, None, "acme")
    sender = CampaignSender(db, settings, Submitter(db, settings, SEALER, Directory(db, ttl=0)))
    sender.start()
    yield Shop(db, settings, ctx, sender, lists)
    await sender.stop()
