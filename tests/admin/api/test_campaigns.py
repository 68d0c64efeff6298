"""`/api/v1/campaigns` through the real HTTP app, the campaign sender and a real delivery worker
to the fake SES: a campaign created, launched and delivered, its messages rendered with the
tracking of the sender's domain and the campaign's own unsubscribe link, the figures (SES's
deliveries, bounces and complaints; opens, clicks per link, unsubscribes) read back through the
recipients' queue ids (in all, by list, a list's across campaigns, the stats of the campaign), the
webhooks of its events carrying its id, the CSV and the workbook (the campaign's and its list's),
a test send, and the errors in the API's shape (a launch naming a variable some contacts lack).
An unsubscribe through a campaign message's link, POSTed to the tracking endpoint, marks the
address unsubscribed (how `link`, when) on the tenant's lists, as the API, the CLI and the panel
show."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from admin.app import create_app
from admin.ops import contacts, templates
from admin.ops.context import Actor, Context
from gateway.campaigns.export import XLSX
from gateway.delivery.worker import DeliveryWorker
from gateway.endpoints.health import Readiness
from gateway.endpoints.tracking import TrackingEndpoints
from gateway.feedback.events import ingest
from gateway.storage import domains as domain_store
from gateway.storage import suppressions as suppression_store
from gateway.storage import webhooks as webhook_store
from gateway.storage.models import WebhookDelivery
from gateway.tracking import events
from gateway.tracking.tokens import LinkKind, signing_keys, verify
from tests.conftest import Cli, add_verified_domain, settled
from tests.support.fakeses import FakeSes
from tests.support.http import serving
from tests.support.sesevents import about, bounce, complaint
from tests.support.site import Site
from tests.support.site import site as serve_site

PUBLIC = {"public_url": "https://gw.example", "tracking_scanner_window": 0}
"""Links served at PUBLIC_URL; an open this soon after sending counts (no scanner window)."""
HTML = '<p>Hi {{first_name}}, see <a href="https://shop.example.net/sale">the sale</a></p>'


async def _shop(site: Site) -> Context:
    """Tenant acme: example.com verified and tracked, list `customers` of three, `news`."""
    tenant_id = await site.tenant("acme")
    await add_verified_domain(site.db, tenant_id, "example.com")
    [domain] = await domain_store.list_domains(site.db, "acme")
    await domain_store.update_domain(
        site.db, domain.id, open_tracking=True, click_tracking=True, unsubscribe=True
    )
    ctx = Context(site.services, Actor.of_cli("tester"), None)
    customers = await contacts.create_list(ctx, "customers", "acme")
    for name in ("ann", "bob", "cy"):
        await contacts.add_contact(ctx, customers.id, f"{name}@example.org", {"first_name": name})
    await templates.create_template(ctx, "news", "News for {{first_name}}", HTML, None, "acme")
    return ctx


def _mime(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _token(url: str, kind: LinkKind, site: Site) -> events.Hit:
    text = url.rsplit("/", 1)[1].removesuffix(".gif")
    token = verify(signing_keys(site.services.settings), text, kind, "gw.example")
    return events.Hit(token, datetime.now(UTC), user_agent="Thunderbird/128")


@pytest.mark.parametrize("site_settings", [PUBLIC])
async def test_a_campaign_is_delivered_and_counted(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    await _shop(site)
    api = await site.api(await site.key("acme"))
    created = await api.post(
        "/campaigns",
        json={
            "name": "autumn",
            "template": "news",
            "lists": ["customers"],
            "from": "n@example.com",
        },
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["state"] == "draft"
    launched = await api.post(f"/campaigns/{campaign['id']}/launch")
    assert launched.status_code == 200, launched.text
    assert (launched.json()["state"], launched.json()["recipients"]) == ("sending", 3)

    settings = site.services.settings
    await site.make_campaign_messages()
    page = (await api.get(f"/campaigns/{campaign['id']}/recipients")).json()["data"]
    for row in page:
        await settled(site.db, row["queue_id"])
    sends = {d.destinations[0]: d for d in stand_in.wait_for(3)}
    delivered = {address: _mime(d.raw) for address, d in sends.items()}
    assert sorted(delivered) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    ann = delivered["ann@example.org"]
    assert ann["Subject"] == "News for ann"
    assert len(ann.get_all("List-Unsubscribe")) == 1, "the campaign's own, no other"
    unsubscribe = ann["List-Unsubscribe"].strip("<>")
    html = ann.get_body(("html",)).get_content()
    assert f'<a href="{unsubscribe}" data-ses-gateway-notrack>Unsubscribe</a>' in html
    assert "shop.example.net" not in html, "the domain's click tracking applies"
    [pixel] = re.findall(r'src="(https://gw.example/t/o/[^"]+)"', html)
    [click] = re.findall(r'href="(https://gw.example/t/c/[^"]+)"', html)

    db = site.db
    hook = await webhook_store.insert_webhook(
        db, await site.tenant("acme"), "https://hooks.example.net/", [], "secret", datetime.now(UTC)
    )
    await events.record(db, settings, _token(pixel, LinkKind.OPEN, site))
    await events.record(db, settings, _token(pixel, LinkKind.OPEN, site))
    await events.record(db, settings, _token(click, LinkKind.CLICK, site))
    await events.record(db, settings, _token(unsubscribe, LinkKind.UNSUBSCRIBE, site))
    now = datetime.now(UTC)
    for sns_id, payload in enumerate(
        (
            about("delivery", sends["ann@example.org"].message_id, "ann@example.org", now),
            bounce(sends["bob@example.org"].message_id, "bob@example.org"),
            complaint(sends["cy@example.org"].message_id, "cy@example.org"),
        )
    ):
        await ingest(db, settings, f"sns-{sns_id}", "arn:aws:sns:us-east-1:1:ses", payload, now)

    shown = (await api.get(f"/campaigns/{campaign['id']}")).json()
    assert shown["state"] == "done"
    figures = shown["figures"]
    shown_keys = ("sent", "delivered", "bounced", "complained", "opened", "opens", "clicked")
    assert {k: figures[k] for k in (*shown_keys, "unsubscribed")} == {
        "sent": 3,
        "delivered": 1,
        "bounced": 1,
        "complained": 1,
        "opened": 1,
        "opens": 2,
        "clicked": 1,
        "unsubscribed": 1,
    }
    assert figures["rates"]["opened"] == round(1 / 3, 4)
    [share] = shown["lists"]
    assert (share["name"], share["figures"]) == ("customers", figures)
    on_list = (await api.get(f"/lists/{share['id']}/figures")).json()
    assert on_list["figures"] == figures
    assert [(c["id"], c["figures"]["sent"]) for c in on_list["campaigns"]] == [(campaign["id"], 3)]
    counted = (await api.get("/stats", params={"campaign": campaign["id"]})).json()
    assert counted["campaign"] == campaign["id"]
    totals = counted["totals"]
    assert (totals["sent"], totals["delivered"], totals["opened"], totals["clicked"]) == (
        3,
        1,
        2,
        1,
    )
    async with db.read() as conn:
        query = select(WebhookDelivery.event_type, WebhookDelivery.payload).where(
            WebhookDelivery.webhook_id == hook
        )
        hooked = {kind: json.loads(body) for kind, body in await conn.execute(query)}
    assert set(hooked) >= {"delivery", "bounce", "complaint", "open", "click", "unsubscribe"}
    assert {h["message"]["campaign_id"] for h in hooked.values()} == {campaign["id"]}
    assert figures["links"] == [{"url": "https://shop.example.net/sale", "clicked": 1, "clicks": 1}]
    csv = await api.get(f"/campaigns/{campaign['id']}/report.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "\nopened,1,0.3333\n" in csv.text
    assert "\nhttps://shop.example.net/sale,1,1\n" in csv.text
    xlsx = await api.get(f"/campaigns/{campaign['id']}/report.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    rows = {row[0]: row[1:] for row in book["figures"].iter_rows(values_only=True)}
    assert rows["sent"] == (3, None)
    assert rows["opened"] == (1, 0.3333)
    assert list(book["links"].iter_rows(values_only=True)) == [
        ("link", "clicked", "clicks"),
        ("https://shop.example.net/sale", 1, 1),
    ]
    assert list(book["lists"].iter_rows(min_row=2, max_col=4, values_only=True)) == [
        (share["id"], "customers", 3, 3)
    ]

    # The list's figures: the campaign's, as it is the list's only one.
    on_list_csv = await api.get(f"/lists/{share['id']}/report.csv")
    assert on_list_csv.status_code == 200
    assert on_list_csv.headers["content-type"].startswith("text/csv")
    head, _, rest = on_list_csv.text.partition("\n")
    assert (head, rest.partition("\n\ncampaign,")[0]) == (
        f"list,{share['id']},customers",
        csv.text.partition("\n")[2].partition("\n\nlist,")[0],
    )
    assert f"\n{campaign['id']},autumn,3,3,1,1,1,1,1,1,2,1,0.3333," in on_list_csv.text
    on_list_xlsx = await api.get(f"/lists/{share['id']}/report.xlsx")
    assert on_list_xlsx.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(on_list_xlsx.content), read_only=True)
    assert book.sheetnames == ["figures", "links", "campaigns"]
    assert next(book["figures"].iter_rows(values_only=True)) == ("list", share["id"], "customers")
    assert {row[0]: row[1:] for row in book["figures"].iter_rows(values_only=True)}["opened"] == (
        1,
        0.3333,
    )
    assert list(book["campaigns"].iter_rows(min_row=2, max_col=4, values_only=True)) == [
        (campaign["id"], "autumn", 3, 3)
    ]


async def _delivered(site: Site, api: httpx.AsyncClient, body: Mapping[str, object]) -> int:
    """A campaign created and launched through the API, its messages made and settled at SES."""
    campaign = (await api.post("/campaigns", json=body)).json()
    assert (await api.post(f"/campaigns/{campaign['id']}/launch")).status_code == 200
    await site.make_campaign_messages()
    for row in (await api.get(f"/campaigns/{campaign['id']}/recipients")).json()["data"]:
        await settled(site.db, row["queue_id"])
    return int(campaign["id"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("site_settings", [PUBLIC])
async def test_an_unsubscribe_link_unsubscribes_the_address_on_the_tenants_lists(
    stand_in: FakeSes,
    site: Site,
    worker: DeliveryWorker,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = await _shop(site)
    vip = await contacts.create_list(ctx, "vip", "acme")  # not the campaign's list
    await contacts.add_contact(ctx, vip.id, "ann@example.org")
    await site.tenant("globex")
    theirs = await contacts.create_list(ctx, "theirs", "globex")
    await contacts.add_contact(ctx, theirs.id, "ann@example.org")
    api = await site.api(await site.key("acme"))
    body = {"name": "autumn", "template": "news", "lists": ["customers"], "from": "n@example.com"}
    await _delivered(site, api, body)
    sends = {d.destinations[0]: _mime(d.raw) for d in stand_in.wait_for(3)}
    link = sends["ann@example.org"]["List-Unsubscribe"].strip("<>")
    path = link.removeprefix("https://gw.example")
    customers = (await contacts.find_list(ctx, "customers", "acme")).id
    ann = f"/lists/{customers}/contacts/ann@example.org"

    settings = site.services.settings
    tracking = TrackingEndpoints.from_settings(site.db, settings)
    async with (
        serving(create_app(Readiness(site.db), tracking=tracking)) as url,
        httpx.AsyncClient(base_url=url, headers={"Host": "gw.example"}) as visitor,
    ):
        page = await visitor.get(path)  # the visible link's page: changes nothing
        assert page.status_code == 200
        assert '<form method="post">' in page.text
        assert (await api.get(ann)).json()["status"] == "subscribed"
        before = datetime.now(UTC)
        done = await visitor.post(path, data={"List-Unsubscribe": "One-Click"})  # RFC 8058
        after = datetime.now(UTC)
        assert done.status_code == 200, done.text
        again = await visitor.post(path, data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200

    shown = (await api.get(ann)).json()
    assert (shown["status"], shown["unsubscribed_how"]) == ("unsubscribed", "link")
    when = datetime.fromisoformat(shown["unsubscribed_at"])
    assert before <= when <= after, "the first POST's time, kept by the second"
    on_vip = (await api.get(f"/lists/{vip.id}/contacts/ann@example.org")).json()
    assert (on_vip["status"], on_vip["unsubscribed_how"]) == ("unsubscribed", "link")
    bob = (await api.get(f"/lists/{customers}/contacts/bob@example.org")).json()
    assert bob["status"] == "subscribed"
    other = await contacts.get_contact(ctx, theirs.id, "ann@example.org")
    assert other.status == "subscribed", "another tenant's list is not touched"
    entry = await suppression_store.get(site.db, "ann@example.org", await site.tenant("acme"))
    assert entry is not None
    assert entry.reason == "unsubscribe", "the suppression stays"
    counts = (await api.get(f"/lists/{customers}")).json()["counts"]
    assert (counts["unsubscribed"], counts["suppressed"]) == (1, 0)

    # The panel over plain HTTP (with an https PUBLIC_URL its cookies are `Secure`).
    async with serve_site(site.db, settings.model_copy(update={"public_url": None})) as plain:
        browser = await plain.browser(await plain.user("owner", "acme"))
        panel = (await browser.get(f"/lists/{customers}/contacts/ann%40example.org")).text
        assert '<span class="status unsubscribed">unsubscribed</span>' in panel
        assert f'<time datetime="{when.isoformat()}">' in panel
        assert "(link)" in panel
        query = {"status": "unsubscribed"}
        listed = (await browser.get(f"/lists/{customers}", params=query)).text
        assert "ann@example.org" in listed
        assert "bob@example.org" not in listed

    monkeypatch.setenv("SES_GATEWAY_DATABASE_URL", site.db.url)
    show = ("contact", "show", "customers", "ann@example.org", "--tenant", "acme")
    status, out, err = await asyncio.to_thread(cli, *show, "--json")
    assert status == 0, err
    printed = json.loads(out)
    assert (printed["status"], printed["unsubscribed_how"]) == ("unsubscribed", "link")
    assert datetime.fromisoformat(printed["unsubscribed_at"]) == when
    status, out, err = await asyncio.to_thread(cli, *show)
    assert f"unsubscribed {when.isoformat()} (link)" in out


@pytest.mark.parametrize("site_settings", [PUBLIC])
async def test_refusals_are_in_the_api_shape(site: Site) -> None:
    await _shop(site)
    api = await site.api(await site.key("acme"))
    body = {"name": "x", "template": "news", "lists": ["customers"], "from": "n@example.com"}
    missing = await api.post("/campaigns", json={**body, "lists": ["nope"]})
    assert missing.status_code == 404, missing.text
    naive = await api.post("/campaigns", json={**body, "send_at": "2030-01-01T09:00:00"})
    assert naive.status_code == 400
    assert naive.json()["error"]["field"] == "send_at"
    campaign = (await api.post("/campaigns", json=body)).json()
    resumed = await api.post(f"/campaigns/{campaign['id']}/resume")
    assert resumed.status_code == 409
    assert "draft" in resumed.json()["error"]["message"]


@pytest.mark.parametrize("site_settings", [PUBLIC])
async def test_a_launch_names_a_missing_variable_and_how_many_lack_it(site: Site) -> None:
    ctx = await _shop(site)
    partial = await contacts.create_list(ctx, "partial", "acme")
    for address in ("dee@example.org", "eve@example.org"):  # no first_name
        await contacts.add_contact(ctx, partial.id, address)
    api = await site.api(await site.key("acme"))
    lists = ["customers", "partial"]
    body = {"name": "x", "template": "news", "lists": lists, "from": "n@example.com"}
    campaign = (await api.post("/campaigns", json=body)).json()
    refused = await api.post(f"/campaigns/{campaign['id']}/launch")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["field"] == "variables"
    assert "no value and no default for first_name (2 of 5 contacts)" in error["message"]
    shown = (await api.get(f"/campaigns/{campaign['id']}")).json()
    assert (shown["state"], shown["recipients"]) == ("draft", 0)


@pytest.mark.parametrize("site_settings", [PUBLIC])
async def test_a_test_send_and_its_refusals(site: Site) -> None:
    await _shop(site)
    api = await site.api(await site.key("acme"))
    body = {"name": "x", "template": "news", "lists": ["customers"], "from": "n@example.com"}
    campaign = (await api.post("/campaigns", json=body)).json()
    test = f"/campaigns/{campaign['id']}/test"
    sent = await api.post(test, json={"to": "me@example.net", "contact": "bob@example.org"})
    assert sent.status_code == 202, sent.text
    shown = (await api.get(f"/messages/{sent.json()['queue_id']}")).json()
    assert shown["message"]["subject"] == "News for bob"
    stranger = await api.post(test, json={"to": "me@example.net", "contact": "zed@example.org"})
    assert stranger.status_code == 400
    assert stranger.json()["error"]["field"] == "contact"
    unknown = await api.post(test, json={"to": "me@example.net", "extra": 1})
    assert unknown.status_code in (400, 422)
    zoned = await api.post(
        "/campaigns",
        json={**body, "send_at": "2030-07-01T09:00:00", "time_zone": "Europe/Paris"},
    )
    assert zoned.status_code == 201, zoned.text
    assert zoned.json()["send_at"].startswith("2030-07-01T07:00:00")
    assert zoned.json()["time_zone"] == "Europe/Paris"
    other = await site.api(await site.key("globex"))
    for path in ("figures", "report.csv", "report.xlsx"):
        answer = await other.get(f"/lists/{campaign['list_ids'][0]}/{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    for path in (f"/campaigns/{campaign['id']}/report.xlsx", "/lists/999/report.csv"):
        answer = await other.get(path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found"), path
    assert (await other.get("/stats", params={"campaign": campaign["id"]})).status_code == 404


async def test_the_figures_files_are_in_the_openapi_document(site: Site) -> None:
    paths = (await (await site.api(None)).get("/openapi.json")).json()["paths"]
    for whose, part in (("campaigns", "list"), ("lists", "campaign")):
        for suffix, schema in (
            ("csv", {"text/csv": {"schema": {"type": "string"}}}),
            ("xlsx", {XLSX: {"schema": {"type": "string", "format": "binary"}}}),
        ):
            operation = paths[f"/api/v1/{whose}/{{id}}/report.{suffix}"]["get"]
            assert operation["responses"]["200"]["content"] == schema
            assert {"401", "404"} <= operation["responses"].keys()
            assert f"and by {part}" in operation["summary"]
