"""`kill -9` of the worker in the middle of a campaign, on SQLite and PostgreSQL: another worker
goes on, and every recipient gets the campaign's message once. A send to SES that the dead
process had in flight may go again, as for any message, but always as the same message (its
queue id): no recipient ever gets two of the campaign's messages."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fakeses import FakeSes
from tests.support.process import Gateway, Processes, provision

pytestmark = pytest.mark.slow

RECIPIENTS = 120


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


def _addresses(fake: FakeSes) -> dict[str, set[str]]:
    """Each recipient's queue ids, as SES got them."""
    found: dict[str, set[str]] = defaultdict(set)
    for message in fake.messages():
        for address in message.destinations:
            found[address].add(message.tags["queue_id"])
    return found


def _wait(fake: FakeSes, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(_addresses(fake)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(_addresses(fake))} of {count} recipients after {timeout}s")
        time.sleep(0.1)


def test_a_campaign_survives_kill_9_and_mails_nobody_twice(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes, database_url: str
) -> None:
    sqlite = database_url.startswith("sqlite")
    gateway = Gateway.create(
        processes,
        tmp_path / "gw",
        ses_url=fake_ses.url,
        database_url=None if sqlite else database_url,
        public_url="https://mail.example.test",
        campaign_batch=10,
        campaign_in_flight=20,
        delivery_lease=2,
    )
    (tmp_path / "gw" / "data").mkdir(exist_ok=True)  # the CLI's gateway (on PostgreSQL too)
    provision(gateway.database_url)
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,name\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(RECIPIENTS)),
        encoding="utf-8",
    )
    html = tmp_path / "news.html"
    html.write_text("<p>Hello {{name}}</p>", encoding="utf-8")
    gateway.cli("list", "create", "people", "--tenant", "acme")
    gateway.cli("contact", "import", "people", str(csv), "--tenant", "acme")
    gateway.cli(
        "template", "create", "news", "--tenant", "acme", "--subject", "News",
        "--html-file", str(html),
    )  # fmt: skip
    campaign = gateway.cli(
        "campaign", "create", "crash", "--tenant", "acme", "--template", "news",
        "--list", "people", "--from", "news@example.com",
    )["id"]  # fmt: skip
    fake_ses.delay_next(10 * RECIPIENTS, 0.05)  # sends take a moment: some are in flight
    assert gateway.cli("campaign", "launch", str(campaign))["recipients"] == RECIPIENTS

    first = gateway.serve("--role", "worker")
    _wait(fake_ses, 30, timeout=60)
    assert first.kill() == -9
    assert len(_addresses(fake_ses)) < RECIPIENTS, "killed mid-campaign"
    second = gateway.serve("--role", "worker")
    _wait(fake_ses, RECIPIENTS, timeout=120)

    addresses = _addresses(fake_ses)
    assert sorted(addresses) == sorted(f"p{i}@example.org" for i in range(RECIPIENTS))
    twice = {a: ids for a, ids in addresses.items() if len(ids) > 1}
    assert twice == {}, "a recipient got two of the campaign's messages"
    deadline = time.monotonic() + 30
    while (shown := gateway.cli("campaign", "show", str(campaign)))["state"] != "done":
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    assert (shown["recipients"], shown["pending"], shown["skipped"]) == (RECIPIENTS, 0, 0)
    assert second.terminate() == 0
