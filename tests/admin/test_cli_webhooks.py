"""`ses-gateway webhook`: add, list, remove, test, attempts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.webhookreceiver import Receiver

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(cli: Any) -> Any:
    """The command line, with tenant acme made."""
    assert cli("tenant", "create", "acme")[0] == 0
    return cli


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A webhook receiver (not started) on loopback, trusted by the CLI."""
    found = Receiver(tmp_path / "receiver")
    monkeypatch.setenv("SES_GATEWAY_WEBHOOK_CA_FILE", str(found.ca_file))
    monkeypatch.setenv("SES_GATEWAY_WEBHOOK_ALLOW_PRIVATE", "true")
    yield found
    asyncio.run(found.stop())


def document(cli: Any, *args: str) -> Any:
    status, out, err = cli(*args, "--json")
    assert status == 0, err or out
    return json.loads(out)


def test_add_list_remove(cli: Any) -> None:
    added = document(
        cli, "webhook", "add", "--tenant", "acme", "https://hooks.example/ses", "--events", "bounce"
    )
    assert added["secret"].startswith("whsec_")
    assert (added["tenant"], added["url"], added["events"]) == (
        "acme",
        "https://hooks.example/ses",
        ["bounce"],
    )
    status, out, _ = cli("webhook", "add", "--tenant", "acme", "https://hooks.example/all")
    assert status == 0
    assert "signing secret (shown only now): whsec_" in out
    assert "events: all" in out
    listed = document(cli, "webhook", "list", "--tenant", "acme")["webhooks"]
    assert [w["url"] for w in listed] == ["https://hooks.example/ses", "https://hooks.example/all"]
    assert all("secret" not in w for w in listed)
    status, out, _ = cli("webhook", "list")
    assert "(all)" in out
    assert "whsec_" not in out
    removed = document(cli, "webhook", "remove", str(added["id"]))
    assert removed["id"] == added["id"]
    assert len(document(cli, "webhook", "list")["webhooks"]) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("add", "--tenant", "acme", "http://hooks.example/"), "only https:// URLs"),
        (("add", "--tenant", "acme", "https://h.example/", "--events", "bonce"), "unknown event"),
        (("add", "--tenant", "nobody", "https://hooks.example/"), "no tenant named 'nobody'"),
        (("remove", "42"), "no webhook 42"),
        (("attempts", "42"), "no webhook 42"),
        (("list", "--tenant", "nobody"), "no tenant named 'nobody'"),
    ],
)
def test_refusals_say_why(cli: Any, args: tuple[str, ...], says: str) -> None:
    status, out, _ = cli("webhook", *args, "--json")
    assert status == 1
    assert says in json.loads(out)["error"]["message"]


def test_test_sends_an_event_and_attempts_lists_it(cli: Any, receiver: Receiver) -> None:
    added = document(cli, "webhook", "add", "--tenant", "acme", receiver.url)
    receiver.secret = added["secret"]
    down = document(cli, "webhook", "test", str(added["id"]))
    assert down["state"] == "failed"
    assert down["attempt"]["status_code"] is None
    assert down["attempt"]["error"]

    serving = asyncio.new_event_loop()
    try:
        serving.run_until_complete(receiver.start())
        task = serving.run_in_executor(None, cli, "webhook", "test", str(added["id"]))
        status, out, err = serving.run_until_complete(task)
    finally:
        serving.run_until_complete(receiver.stop())
        serving.close()
    assert status == 0, err
    assert out.startswith("test event ")
    assert "delivered (HTTP 200" in out
    [event] = receiver.events
    assert event["type"] == "test"

    attempts = document(cli, "webhook", "attempts", str(added["id"]))["attempts"]
    assert [(a["event_type"], a["status_code"], a["state"]) for a in attempts] == [
        ("test", 200, "delivered"),
        ("test", None, "failed"),
    ]
    assert set(attempts[0]) == {
        "id",
        "delivery_id",
        "event_id",
        "event_type",
        "state",
        "attempted_at",
        "status_code",
        "response",
        "error",
        "duration_ms",
    }
    status, out, _ = cli("webhook", "attempts", str(added["id"]))
    assert status == 0
    assert "EVENT_TYPE" in out
    assert "delivered" in out
