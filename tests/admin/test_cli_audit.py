"""Every change made with the CLI passes the operations of the panel and the API: one audit
entry each, by `cli:<os user>`, from no client address; reading changes nothing."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from gateway.feedback import reputation
from gateway.storage.activity import record_activity
from gateway.storage.database import Database
from gateway.storage.tenants import get_tenant
from tests.support.fakeses import FakeSes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ACTOR = f"cli:{getpass.getuser()}"


class Audited:
    """The CLI with `--json`; `change` runs a command and checks it added one audit entry."""

    def __init__(self, cli: Any) -> None:
        self.cli = cli

    def run(self, *args: str) -> Any:
        status, out, err = self.cli(*args, "--json")
        assert status == 0, err or out
        return json.loads(out)

    def entries(self) -> list[dict[str, Any]]:
        return list(self.run("activity", "list", "--limit", "500")["activity"])

    def change(self, kind: str, *args: str) -> Any:
        before = self.entries()
        document = self.run(*args)
        after = self.entries()
        assert len(after) == len(before) + 1, (args, after[: len(after) - len(before)])
        newest = after[0]
        assert (newest["kind"], newest["actor"], newest["client_address"]) == (kind, ACTOR, None)
        return document


def test_every_change_is_audited_once_as_the_os_user(cli: Any, tmp_path: Path) -> None:
    audited = Audited(cli)
    audited.change("tenant.created", "tenant", "create", "acme")
    audited.change("tenant.limits", "tenant", "set", "acme", "--max-per-day", "1000")
    audited.change("tenant.pause", "tenant", "pause", "acme", "--reason", "checking")
    audited.change("tenant.resume", "tenant", "resume", "acme")
    credential = audited.change("credential.created", "credential", "create", "--tenant", "acme")
    number = str(credential["id"])
    audited.change("credential.paused", "credential", "pause", number, "--reason", "leaked")
    audited.change("credential.resumed", "credential", "resume", number)
    audited.change("credential.revoked", "credential", "revoke", number)
    audited.change("network.added", "network", "add", "10.1.2.0/24", "--tenant", "acme")
    audited.change("network.removed", "network", "remove", "10.1.2.0/24")
    audited.change("suppression.added", "suppression", "add", "bob@example.org")
    audited.change("suppression.removed", "suppression", "remove", "bob@example.org")
    source = tmp_path / "list.csv"
    source.write_text("address\nann@example.org\n")
    audited.change("suppression.imported", "suppression", "import", str(source))
    user = audited.change("user.created", "user", "create", "ops@example.org", "--role", "admin")
    audited.change("user.removed", "user", "remove", str(user["id"]))
    key = audited.change("apikey.created", "apikey", "create", "--admin")
    audited.change("apikey.revoked", "apikey", "revoke", str(key["id"]))
    hook = audited.change(
        "webhook.added", "webhook", "add", "--tenant", "acme", "https://hooks.example/"
    )
    audited.change("webhook.removed", "webhook", "remove", str(hook["id"]))
    # reading is not a change
    before = audited.entries()
    for listing in ("tenant", "credential", "network", "suppression", "user", "apikey"):
        audited.run(listing, "list")
    assert audited.entries() == before


def test_marking_notifications_read_is_audited_once(cli: Any, database_url: str) -> None:
    audited = Audited(cli)
    audited.run("tenant", "create", "acme")

    async def raise_one() -> None:
        db = Database(database_url)
        try:
            acme = (await get_tenant(db, "acme")).id
            at = datetime.now(UTC)
            await record_activity(db, acme, "reputation.warning", "acme", "2%", at, notify=True)
            await record_activity(db, acme, "reputation.warning", "acme", "3%", at, notify=True)
        finally:
            await db.close()

    asyncio.run(raise_one())
    newest = audited.run("notification", "list")["notifications"][0]
    audited.change("notification.read", "notification", "read", str(newest["id"]))
    audited.change("notification.read-all", "notification", "read", "--all", "--tenant", "acme")


def test_domain_changes_are_audited_once(
    cli: Any, fake_ses: FakeSes, aws_env: pytest.MonkeyPatch
) -> None:
    """One entry each, the audit's: the gateway records no `domain.added` of its own beside it."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    audited = Audited(cli)
    audited.run("tenant", "create", "acme")
    audited.change("domain.added", "domain", "add", "example.com", "--tenant", "acme")
    audited.change("domain.changed", "domain", "set", "example.com", "--open-tracking", "on")
    audited.change("domain.synced", "domain", "sync", "example.com")
    audited.change("address.added", "address", "add", "info@example.com")
    audited.change("address.removed", "address", "remove", "info@example.com")
    audited.change("domain.removed", "domain", "remove", "example.com", "--yes")


def test_a_pause_leaves_the_reputation_window_as_the_panel_and_the_api_do(
    cli: Any, database_url: str
) -> None:
    """Only the reputation guard's own pause (`tenant.paused`) restarts the window it judges."""
    audited = Audited(cli)
    audited.run("tenant", "create", "acme")
    audited.change("tenant.pause", "tenant", "pause", "acme", "--reason", "checking")
    audited.change("tenant.resume", "tenant", "resume", "acme")

    async def window_start() -> tuple[datetime, datetime]:
        settings = load_settings(None)
        db = Database(database_url)
        try:
            tenant = await get_tenant(db, "acme")
            now = datetime.now(UTC)
            since, _ = await reputation.judge(db, settings, tenant.id, tenant.name, now)
        finally:
            await db.close()
        return since, now - timedelta(days=settings.reputation_window_days)

    since, window = asyncio.run(window_start())
    assert since == window
