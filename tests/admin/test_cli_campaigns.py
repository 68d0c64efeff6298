"""`ses-gateway campaign`: create (printing the id), launch, pause, resume, cancel, show with
its counts (in all and by list; after a delivery to the fake SES, SES's events and a person's
open, click and unsubscribe, each counted), list, export and a test send, each with `--json`,
and `list figures` and `list export-figures`; refusals say why (a launch names a variable some
contacts lack, and how many); every change is audited."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesSender
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from gateway.delivery.worker import DeliveryWorker
from gateway.feedback.events import ingest
from gateway.storage import campaigns as campaign_store
from gateway.storage import domains as domain_store
from gateway.storage import tenants
from gateway.storage.database import Database
from gateway.tracking import events
from gateway.tracking.tokens import LinkKind, signing_keys, verify
from tests.conftest import add_verified_domain, make_settings, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER
from tests.support.sesevents import about, bounce, complaint

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PUBLIC_URL = "https://mail.example.test"
COUNTS = ("sent", "delivered", "bounced", "complained", "opened", "clicked", "unsubscribed")


def document(cli: Any, *args: str) -> Any:
    status, out, err = cli(*args, "--json")
    assert status == 0, err or out
    return json.loads(out)


def refused(cli: Any, *args: str) -> str:
    status, out, _ = cli(*args, "--json")
    assert status == 1, out
    return str(json.loads(out)["error"]["message"])


async def _verified(url: str) -> None:
    db = Database(url)
    try:
        tenant = await tenants.get_tenant(db, "acme")
        await add_verified_domain(db, tenant.id, "example.com")
    finally:
        await db.close()


async def _send(url: str, tmp_path: Path) -> int:
    db = Database(url)
    settings = make_settings(tmp_path, url, public_url=PUBLIC_URL)
    sender = CampaignSender(db, settings, Submitter(db, settings, SEALER))
    sender.start()
    made = 0
    try:
        while count := await sender.run():
            made += count
    finally:
        await sender.stop()
        await db.close()
    return made


@pytest.fixture
def shop(cli: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Tenant acme with example.com verified, lists `a` (2) and `b` (2, one on `a` too),
    `no` (1 of `a`), template `news`; PUBLIC_URL https."""
    monkeypatch.setenv("SES_GATEWAY_PUBLIC_URL", PUBLIC_URL)
    assert cli("tenant", "create", "acme")[0] == 0
    asyncio.run(_verified(database_url))
    lists = {
        "a": "email,name\nann@example.org,Ann\nbob@example.org,Bob\n",
        "b": "email,name\nbob@example.org,Bobby\ncy@example.org,Cy\n",
        "no": "email\nann@example.org\n",
    }
    for name, text in lists.items():
        assert cli("list", "create", name, "--tenant", "acme")[0] == 0
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        assert cli("contact", "import", name, str(path), "--tenant", "acme")[0] == 0
    html = tmp_path / "news.html"
    html.write_text("<p>Hi {{name}}</p>", encoding="utf-8")
    created = cli(
        "template", "create", "news", "--tenant", "acme", "--subject", "News",
        "--html-file", str(html),
    )  # fmt: skip
    assert created[0] == 0, created
    return cli


def test_create_launch_show_pause_resume_cancel(
    shop: Any, database_url: str, tmp_path: Path
) -> None:
    created = document(
        shop, "campaign", "create", "autumn", "--tenant", "acme", "--template", "news",
        "--list", "a", "--list", "b", "--exclude", "no", "--from", "News <news@example.com>",
        "--reply-to", "help@example.com",
    )  # fmt: skip
    campaign = str(created["id"])
    assert (created["state"], created["list_ids"]) == ("draft", [1, 2])
    launched = document(shop, "campaign", "launch", campaign)
    assert (launched["state"], launched["recipients"]) == ("sending", 2)  # bob once, ann excluded
    assert document(shop, "campaign", "pause", campaign)["state"] == "paused"
    assert asyncio.run(_send(database_url, tmp_path)) == 0
    assert document(shop, "campaign", "resume", campaign)["state"] == "sending"
    assert asyncio.run(_send(database_url, tmp_path)) == 2
    shown = document(shop, "campaign", "show", campaign)
    assert shown["state"] == "done"
    assert {name: shown[name] for name in COUNTS} == dict.fromkeys(COUNTS, 0)
    assert (shown["recipients"], shown["pending"]) == (2, 0)
    # bob is on a and b: he counts in a, the first; ann is on the exclusion list.
    by_list = {row["name"]: row["recipients"] for row in shown["lists"]}
    assert by_list == {"a": 1, "b": 1}
    assert all(row["rates"].keys() == shown["rates"].keys() for row in shown["lists"])
    text = shop("campaign", "show", campaign)[1]
    assert "campaign autumn" in text
    assert "  list b: 1 recipients, sent 0" in text
    on_a = document(shop, "list", "figures", "a", "--tenant", "acme")
    assert on_a["recipients"] == 1
    assert [(c["name"], c["recipients"]) for c in on_a["campaigns"]] == [("autumn", 1)]
    assert "no list named 'nope'" in refused(shop, "list", "figures", "nope", "--tenant", "acme")
    _list_exports(shop, campaign, tmp_path)
    assert [c["name"] for c in document(shop, "campaign", "list")["campaigns"]] == ["autumn"]
    exported = document(shop, "campaign", "export", campaign)["csv"]
    assert exported.startswith(f"campaign,{campaign},autumn\nmetric,count,rate\n")
    assert "\nlist,name,recipients,sent," in exported
    assert "\n1,a,1,0,0,0,0,0,0,0,0,0,0.0," in exported  # bob, made from a
    assert "is done" in refused(shop, "campaign", "cancel", campaign)
    kinds = [a["kind"] for a in document(shop, "activity", "list", "--limit", "20")["activity"]]
    for kind in ("campaign.created", "campaign.launched", "campaign.paused", "campaign.resumed"):
        assert kind in kinds


def _list_exports(shop: Any, campaign: str, tmp_path: Path) -> None:
    """List a's figures, of campaign `campaign` (done, one recipient made from a), as CSV
    printed and as a workbook written; refusals."""
    export = ("list", "export-figures", "a", "--tenant", "acme")
    printed = document(shop, *export)
    assert printed["file"] is None
    assert printed["csv"].startswith("list,1,a\nmetric,count,rate\nrecipients,1,\n")
    assert "\ncampaign,name,recipients,sent,delivered," in printed["csv"]
    assert f"\n{campaign},autumn,1,0,0,0,0,0,0,0,0,0,0.0," in printed["csv"]
    assert shop(*export)[1] == printed["csv"]
    path = tmp_path / "a.XLSX"
    assert document(shop, *export[:3], str(path), *export[3:]) == {"file": str(path)}
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["figures", "links", "campaigns"]
    assert next(book["figures"].iter_rows(values_only=True)) == ("list", 1, "a")
    assert list(book["campaigns"].iter_rows(min_row=2, max_col=3, values_only=True)) == [
        (int(campaign), "autumn", 1)
    ]
    status, said, _ = shop(*export[:3], str(tmp_path / "a.csv"), *export[3:])
    assert (status, said) == (0, f"wrote the figures of list a (1) to {tmp_path / 'a.csv'}\n")
    assert (tmp_path / "a.csv").read_text(encoding="utf-8") == printed["csv"]
    nowhere = str(tmp_path / "missing" / "a.xlsx")
    assert f"cannot write {nowhere}" in refused(shop, *export[:3], nowhere, *export[3:])
    assert "no list named 'nope'" in refused(
        shop, "list", "export-figures", "nope", "--tenant", "acme"
    )
    assert "no tenant" in refused(shop, "list", "export-figures", "a", "--tenant", "nobody")


async def _delivered_and_engaged(url: str, tmp_path: Path, fake: FakeSes, campaign_id: int) -> None:
    """The campaigns' messages made and delivered to the fake SES (`AWS_ENDPOINT_URL`) with
    example.com's open and click tracking; ann opens twice, clicks and unsubscribes through her
    message's links, SES says it delivered ann's, bob's bounced and cy complained."""
    settings = make_settings(tmp_path, url, public_url=PUBLIC_URL, tracking_scanner_window=0)
    db = Database(url)
    try:
        [domain] = await domain_store.list_domains(db, "acme")
        await domain_store.update_domain(db, domain.id, open_tracking=True, click_tracking=True)
        assert await _send(url, tmp_path) == 3
        async with SesClientProvider(settings) as provider:
            send = SesSender(provider, settings).send
            worker = DeliveryWorker(db, SEALER, send, settings, "test-worker")
            task = asyncio.create_task(worker.run())
            try:
                queue_ids = [r.queue_id for r in await campaign_store.recipients(db, campaign_id)]
                for queue_id in queue_ids:
                    assert queue_id is not None
                    await settled(db, queue_id)
            finally:
                await worker.stop()
                await asyncio.gather(task, return_exceptions=True)
        await _engaged(db, settings, fake)
    finally:
        await db.close()


async def _engaged(db: Database, settings: Settings, fake: FakeSes) -> None:
    now = datetime.now(UTC)
    sends = {m.destinations[0]: m for m in fake.messages()}
    parsed = email.message_from_bytes(sends["ann@example.org"].raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html = parsed.get_body(("html",))
    assert html is not None
    seen = f"{html.get_content()} {parsed['List-Unsubscribe']}"
    links = set(re.findall(r"https://mail\.example\.test/(t/o|t/c|u)/([\w-]+\.[\w-]+)", seen))
    kinds = {"t/o": LinkKind.OPEN, "t/c": LinkKind.CLICK, "u": LinkKind.UNSUBSCRIBE}
    assert {kind for kind, _ in links} == set(kinds)
    keys = signing_keys(settings)
    for kind, text in links:
        token = verify(keys, text, kinds[kind], "mail.example.test")
        for _ in range(2 if kinds[kind] is LinkKind.OPEN else 1):
            await events.record(db, settings, events.Hit(token, now, "Thunderbird/128"))
    arn = "arn:aws:sns:us-east-1:1:ses"
    for number, payload in enumerate(
        (
            about("delivery", sends["ann@example.org"].message_id, "ann@example.org", now),
            bounce(sends["bob@example.org"].message_id, "bob@example.org"),
            complaint(sends["cy@example.org"].message_id, "cy@example.org"),
        )
    ):
        await ingest(db, settings, f"sns-{number}", arn, payload, now)


def test_show_counts_what_happened_to_the_messages(
    shop: Any, database_url: str, tmp_path: Path, fake_ses: FakeSes, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    html = tmp_path / "sale.html"
    html.write_text('<p>Hi {{name}}, <a href="https://shop.example.net/sale">sale</a></p>', "utf-8")
    created = shop(
        "template", "create", "sale", "--tenant", "acme", "--subject", "Sale",
        "--html-file", str(html),
    )  # fmt: skip
    assert created[0] == 0, created
    campaign = document(
        shop, "campaign", "create", "sale", "--tenant", "acme", "--template", "sale",
        "--list", "a", "--list", "b", "--from", "news@example.com",
    )  # fmt: skip
    assert document(shop, "campaign", "launch", str(campaign["id"]))["recipients"] == 3
    asyncio.run(_delivered_and_engaged(database_url, tmp_path, fake_ses, campaign["id"]))
    shown = document(shop, "campaign", "show", str(campaign["id"]))
    assert {name: shown[name] for name in COUNTS} == {
        "sent": 3,
        "delivered": 1,
        "bounced": 1,
        "complained": 1,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 1,
    }
    assert (shown["opens"], shown["clicks"]) == (2, 1)
    assert shown["rates"]["opened"] == round(1 / 3, 4)
    text = shop("campaign", "show", str(campaign["id"]))[1]
    assert "\nsent: 3\n" in text
    assert "  list b: 1 recipients, sent 1, delivered 0, bounced 0, complained 1," in text


def test_a_scheduled_campaign_and_refusals(shop: Any) -> None:
    base = ("campaign", "create", "x", "--tenant", "acme", "--template", "news", "--list", "a")
    assert "no time zone" in refused(
        shop, *base, "--from", "n@example.com", "--at", "2030-01-01T09:00"
    )
    assert "no list named 'nope'" in refused(
        shop, *base, "--list", "nope", "--from", "n@example.com"
    )
    later = document(shop, *base, "--from", "n@example.com", "--at", "2030-01-01T09:00+01:00")
    assert later["send_at"] == "2030-01-01T08:00:00+00:00"
    zoned = document(
        shop, *base, "--from", "n@example.com", "--at", "2030-07-01T09:00", "--zone", "Europe/Paris"
    )
    assert (zoned["send_at"], zoned["time_zone"]) == ("2030-07-01T07:00:00+00:00", "Europe/Paris")
    assert "is not a time zone" in refused(
        shop, *base, "--from", "n@example.com", "--at", "2030-07-01T09:00", "--zone", "Mars/Base"
    )
    assert document(shop, "campaign", "launch", str(later["id"]))["state"] == "scheduled"
    foreign = document(shop, *base, "--from", "n@elsewhere.example")
    assert "the sender is refused" in refused(shop, "campaign", "launch", str(foreign["id"]))
    cancelled = document(shop, "campaign", "cancel", str(foreign["id"]))
    assert cancelled["state"] == "cancelled"


def test_a_launch_names_a_missing_variable_and_how_many_lack_it(shop: Any, tmp_path: Path) -> None:
    path = tmp_path / "some.csv"
    path.write_text("email,name\nx@example.org,\ny@example.org,Y\nz@example.org,\n", "utf-8")
    assert shop("list", "create", "some", "--tenant", "acme")[0] == 0
    assert shop("contact", "import", "some", str(path), "--tenant", "acme")[0] == 0
    created = document(
        shop, "campaign", "create", "x", "--tenant", "acme", "--template", "news",
        "--list", "a", "--list", "some", "--from", "n@example.com",
    )  # fmt: skip
    launch = ("campaign", "launch", str(created["id"]))
    said = "no value and no default for name (2 of 5 contacts)"
    assert said in refused(shop, *launch)
    status, out, err = shop(*launch)
    assert status == 1
    assert said in out + err
    shown = document(shop, "campaign", "show", str(created["id"]))
    assert (shown["state"], shown["recipients"]) == ("draft", 0)


def test_export_as_a_workbook(shop: Any, tmp_path: Path) -> None:
    created = document(
        shop, "campaign", "create", "x", "--tenant", "acme", "--template", "news",
        "--list", "a", "--from", "n@example.com",
    )  # fmt: skip
    path = tmp_path / "figures.xlsx"
    assert document(shop, "campaign", "export", str(created["id"]), str(path))["file"] == str(path)
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["figures", "links", "lists"]
    assert next(book["figures"].iter_rows(values_only=True)) == ("campaign", created["id"], "x")
    assert list(book["lists"].iter_rows(min_row=2, max_col=3, values_only=True)) == [(1, "a", 0)]


def test_a_test_send_uses_a_contacts_fields(shop: Any, database_url: str) -> None:
    created = document(
        shop, "campaign", "create", "x", "--tenant", "acme", "--template", "news",
        "--list", "a", "--list", "b", "--from", "n@example.com",
    )  # fmt: skip
    test = ("campaign", "test", str(created["id"]), "--to", "me@example.net")
    sent = document(shop, *test, "--contact", "cy@example.org")
    shown = document(shop, "message", "show", sent["queue_id"])
    assert [r["address"] for r in shown["recipients"]] == ["me@example.net"]
    assert "is on none of the campaign's lists" in refused(
        shop, *test, "--contact", "zed@example.org"
    )
    assert "no value and no default for name" in refused(shop, *test)
