"""`ses-gateway notification`: list with the unread count, mark one or all read."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.storage.activity import record_activity
from gateway.storage.database import Database
from gateway.storage.tenants import get_tenant
from tests.support.cli import document

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def cli(cli: Any, database_url: str) -> Any:
    """The command line, with tenants acme and beta, a warning of acme's, a plain event, and an
    SNS unsubscription (of no tenant), in that order."""
    assert cli("tenant", "create", "acme")[0] == 0
    assert cli("tenant", "create", "beta")[0] == 0

    async def raise_notifications() -> None:
        db = Database(database_url)
        try:
            acme = (await get_tenant(db, "acme")).id
            await record_activity(
                db, acme, "reputation.warning", "acme", "2% bounced", NOW, notify=True
            )
            await record_activity(db, acme, "domain.added", "example.com", "registered", NOW)
            await record_activity(db, None, "sns.unsubscribed", "arn", "gone", NOW, notify=True)
        finally:
            await db.close()

    asyncio.run(raise_notifications())
    return cli


def test_list_newest_first_with_the_unread_count(cli: Any) -> None:
    listed = document(cli, "notification", "list")
    assert listed["unread"] == 2
    assert [(n["tenant"], n["kind"]) for n in listed["notifications"]] == [
        (None, "sns.unsubscribed"),
        ("acme", "reputation.warning"),
    ]
    assert set(listed["notifications"][0]) == {
        "id",
        "activity_id",
        "tenant",
        "kind",
        "subject",
        "detail",
        "created_at",
        "read_at",
    }
    assert listed["notifications"][1]["created_at"] == "2026-11-23T12:00:00+00:00"
    status, out, _ = cli("notification", "list", "--tenant", "acme")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "1 unread for acme"
    assert lines[1].split() == [
        "ID",
        "CREATED_AT",
        "TENANT",
        "KIND",
        "SUBJECT",
        "READ_AT",
        "DETAIL",
    ]
    assert "reputation.warning" in lines[2]
    assert len(lines) == 3


def test_read_one_then_list_only_the_unread(cli: Any) -> None:
    newest = document(cli, "notification", "list", "--limit", "1")["notifications"]
    assert [n["kind"] for n in newest] == ["sns.unsubscribed"]
    read = document(cli, "notification", "read", str(newest[0]["id"]))
    assert (read["id"], read["kind"]) == (newest[0]["id"], "sns.unsubscribed")
    assert read["read_at"] is not None
    unread = document(cli, "notification", "list", "--unread")
    assert unread["unread"] == 1
    assert [n["kind"] for n in unread["notifications"]] == ["reputation.warning"]
    status, out, _ = cli("notification", "read", str(newest[0]["id"]))
    assert (status, out.strip()) == (0, f"notification {newest[0]['id']} is read")


def test_read_all_of_a_tenant_or_of_everyone(cli: Any) -> None:
    assert document(cli, "notification", "read", "--all", "--tenant", "beta") == {"marked": 0}
    assert document(cli, "notification", "read", "--all", "--tenant", "acme") == {"marked": 1}
    status, out, _ = cli("notification", "read", "--all")
    assert (status, out.strip()) == (0, "marked 1 notifications read")
    assert document(cli, "notification", "list")["unread"] == 0


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (("read", "999"), 1, "no notification 999"),
        (("read", "1", "--tenant", "acme"), 1, "--tenant goes with --all"),
        (("read", "--all", "--tenant", "ghost"), 1, "ghost"),
        (("list", "--tenant", "ghost"), 1, "ghost"),
    ],
)
def test_refusals(cli: Any, args: tuple[str, ...], status: int, says: str) -> None:
    code, out, _ = cli("notification", *args, "--json")
    assert code == status
    assert says in json.loads(out)["error"]["message"]


def test_read_needs_an_id_or_all(cli: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("notification", "read")
    assert exited.value.code == 2
