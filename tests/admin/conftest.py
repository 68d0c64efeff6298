"""The command line in process, on a fresh database and data folder; the panel and the API
served on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.aws.ses import SesSender
from gateway.delivery.worker import DeliveryWorker
from gateway.storage.database import Database
from tests.conftest import make_settings, migrated_sqlite_url
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER
from tests.support.site import Site
from tests.support.site import site as serve_site
from tests.support.webhookreceiver import Receiver


@pytest.fixture
def site_settings() -> dict[str, Any]:
    """Settings of the `site`; a test changes them with
    `@pytest.mark.parametrize("site_settings", [{...}])`."""
    return {}


@pytest.fixture
async def site(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    moto_server: str,
    aws_env: pytest.MonkeyPatch,
    site_settings: dict[str, Any],
) -> AsyncIterator[Site]:
    """The panel and the API on loopback, over a fresh SQLite database, with SES in moto."""
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    database_url = migrated_sqlite_url(request, tmp_path / "gateway.db")
    database = Database(database_url)
    try:
        settings = make_settings(tmp_path, database_url, **site_settings)
        async with serve_site(database, settings) as running:
            yield running
    finally:
        await database.close()


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    """A DNS server on loopback; a module's `site_settings` points the site at it."""
    with DnsServer() as server:
        yield server


@pytest.fixture
def stand_in(fake_ses: FakeSes, aws_env: pytest.MonkeyPatch) -> FakeSes:
    """SESv2 at the stand-in; a test names it before `site`, so the site's client uses it."""
    aws_env.setenv("AWS_ENDPOINT_URL_SESV2", fake_ses.url)
    return fake_ses


@pytest.fixture
async def worker(stand_in: FakeSes, site: Site) -> AsyncIterator[DeliveryWorker]:
    """A delivery worker of the site's database, sending to the fake SES."""
    settings = site.services.settings
    send = SesSender(site.services.provider, settings).send
    found = DeliveryWorker(site.db, SEALER, send, settings, "test-worker")
    task = asyncio.create_task(found.run())
    yield found
    await found.stop()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    """A webhook endpoint over HTTPS on loopback (not started); see `Receiver.settings`."""
    found = Receiver(tmp_path / "receiver")
    yield found
    await found.stop()
