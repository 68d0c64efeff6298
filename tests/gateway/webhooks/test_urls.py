"""`gateway.webhooks.urls`: which URLs a webhook may have, and the public-only resolver at
connection time."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.identity import accounts
from gateway.storage.database import Database
from gateway.webhooks import manage
from gateway.webhooks.urls import check_url
from tests.gateway.webhooks.conftest import (
    SECRET_KEY,
    settings_for,
)
from tests.support.webhookreceiver import Receiver


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example/ses", "only https:// URLs"),
        ("ftp://hooks.example/ses", "only https:// URLs"),
        ("hooks.example/ses", "only https:// URLs"),
        ("https:///ses", "names no host"),
        ("https://hooks.example:99999/", "is not a URL"),
        ("https://hooks.example/a b", "no spaces"),
    ],
)
def test_only_https_urls_are_accepted(url: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t@hooks.example/ses",
        "https://s3cr3t@hooks.example/",
        "https://:s3cr3t@h/",
    ],
)
def test_urls_with_a_user_or_password_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="must not carry a user or password") as refused:
        check_url(url, allow_private=True)
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LocalHost.",
        "api.localhost",
        "127.0.0.1",
        "10.0.0.5",
        "172.16.1.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "240.0.0.1",
        "224.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1%25eth0]",
        "[fc00::1]",
    ],
)
def test_private_hosts_are_refused_unless_allowed(host: str) -> None:
    url = f"https://{host}:8443/hook"
    with pytest.raises(InvalidInputError, match="WEBHOOK_ALLOW_PRIVATE=true"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["https://hooks.example/ses", "https://93.184.215.14/", "https://[2606:4700::1]/"]
)
def test_public_hosts_are_accepted(url: str) -> None:
    assert check_url(url, allow_private=False) == url


async def test_a_name_that_resolves_to_a_private_address_is_not_posted_to(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    """Registered while private hosts were allowed, or its DNS changed since: every connection
    checks what the name resolves to."""
    await accounts.create_tenant(db, "acme")
    url = f"https://localhost:{receiver.port}/hook"
    webhook, _ = await manage.add(db, SECRET_KEY, "acme", url, (), allow_private=True)
    await receiver.start()
    closed = settings_for(tmp_path, db, receiver, webhook_allow_private=False)

    refused = await manage.send_test(db, closed, SECRET_KEY, webhook.id)
    allowed = await manage.send_test(
        db, settings_for(tmp_path, db, receiver), SECRET_KEY, webhook.id
    )

    assert refused.attempt.status_code is None
    assert "localhost has no public address" in (refused.attempt.error or "")
    # Allowed, it reaches the receiver, whose certificate names 127.0.0.1 only.
    assert "hostname mismatch" in (allowed.attempt.error or "").lower()
