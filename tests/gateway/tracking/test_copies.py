"""Which senders' mail gets tracked copies: the domain's settings, cached for a while (and not
for ever), with links on PUBLIC_URL or the domain's tracking host."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.identity import accounts
from gateway.storage import domains as domain_store
from gateway.storage.database import Database
from gateway.tracking import copies
from gateway.tracking.copies import Tracking, base_url, unreachable
from tests.conftest import add_verified_domain, make_settings

DOMAINS = ("a.example", "b.example", "c.example")


async def tracking_domains(db: Database) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    for name in DOMAINS:
        await add_verified_domain(db, tenant.id, name)
        domain = await domain_store.get_domain(db, name)
        await domain_store.update_domain(db, domain.id, open_tracking=True)


def test_links_take_the_tracking_host_and_public_urls_scheme(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", public_url="https://gw.example/")
    assert base_url(settings, None) == "https://gw.example"
    assert base_url(settings, "track.example.com") == "https://track.example.com"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://0.0.0.0:8080", True),
        ("http://[::1]:8080", True),
        ("http://localhost:8080", True),
        ("https://track.example.com", False),
        ("https://192.0.2.10", False),
    ],
)
def test_links_no_reader_can_reach_are_told(url: str, expected: bool) -> None:
    assert unreachable(url) is expected


async def test_expired_settings_leave_the_cache(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tracking_domains(db)
    monkeypatch.setattr(copies, "CACHE_SECONDS", 0.0)  # every entry expires at once
    tracking = Tracking(db, make_settings(tmp_path, db.url, public_url="https://gw.example/"))
    for name in DOMAINS:
        options = await tracking.options(f"news@{name}")
        assert options is not None
        assert options.open_tracking
    assert len(tracking._cache) == 1


async def test_links_to_a_loopback_host_are_warned_of_once(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await tracking_domains(db)
    tracking = Tracking(db, make_settings(tmp_path, db.url))  # no PUBLIC_URL: 127.0.0.1
    for name in DOMAINS:
        await tracking.options(f"news@{name}")
    assert caplog.text.count("tracking-links-unreachable") == 1
