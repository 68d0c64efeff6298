"""The command line in process, on a fresh database and data folder; the panel and the API
served on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from admin.cli import main
from gateway.storage.database import Database
from tests.conftest import make_settings, migrated_sqlite_url
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.site import Site
from tests.support.site import site as serve_site
from tests.support.webhookreceiver import Receiver

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

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


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
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    """A webhook endpoint over HTTPS on loopback (not started); see `Receiver.settings`."""
    found = Receiver(tmp_path / "receiver")
    yield found
    await found.stop()
