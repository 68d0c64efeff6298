"""The Campaigns pages: the list; the form that creates one (the tenant's templates, lists and
verified senders to choose from, a date, time and zone, refusals under their fields in the
CLI's words); a campaign's page with its progress (and its JSON for the page's script), figures
in all and by list, recipients (linking to their messages), launched, paused and cancelled by
its buttons (a refusal shown on the page), a test send, and its figures downloaded as CSV and as
a workbook; a list's figures across its campaigns, downloaded too; the dashboard filtered by a
campaign; viewers look only; another tenant's are not found."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import httpx
import openpyxl

from admin.ops import campaigns, contacts, templates
from admin.ops.context import Actor, Context, Services
from gateway.delivery.worker import DeliveryWorker
from gateway.storage import activity
from gateway.storage import domains as domain_store
from tests.conftest import add_verified_domain, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER, SEALER_KEY
from tests.support.site import Site


async def _campaign(site: Site) -> int:
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "example.com")
    ctx = Context(site.services, Actor.of_cli("tester"), None)
    people = await contacts.create_list(ctx, "people", "acme")
    for name in ("ann", "bob"):
        await contacts.add_contact(ctx, people.id, f"{name}@example.org", {"name": name})
    await templates.create_template(ctx, "news", "News", "<p>Hi {{name}}</p>", None, "acme")
    given = campaigns.NewCampaign("autumn", "news", ["people"], "news@example.com")
    return (await campaigns.create_campaign(ctx, given, "acme")).id


def _https(site: Site) -> Context:
    """The operations under an https `PUBLIC_URL` (the site's own is http: its session cookie
    would be a secure one under https, which this test's plain HTTP client would not send)."""
    settings = site.services.settings.model_copy(update={"public_url": "https://gw.example"})
    services = Services(
        site.db, settings, lambda: SEALER_KEY, lambda: SEALER, site.services.provider
    )
    return Context(services, Actor.of_cli("tester"), None)


async def test_an_owner_follows_pauses_and_resumes_a_campaign(site: Site) -> None:
    campaign_id = await _campaign(site)
    ctx = _https(site)
    await campaigns.launch(ctx, campaign_id)
    browser = await site.browser(await site.user("owner", "acme"))
    listed = await browser.get("/campaigns")
    assert f'<a href="/campaigns/{campaign_id}">autumn</a>' in listed.text
    page = f"/campaigns/{campaign_id}"
    shown = (await browser.get(page)).text
    assert '<progress max="2" value="0" aria-label="recipients made"></progress>' in shown
    assert 'value="pause"' in shown
    paused = await site.post_form(browser, page, {"action": "pause"})
    assert paused.status_code == 303, paused.text
    assert (await campaigns.get_campaign(ctx, campaign_id)).state == "paused"
    resumed = await site.post_form(browser, page, {"action": "resume"})
    assert resumed.status_code == 303, resumed.text
    await site.make_campaign_messages()
    shown = (await browser.get(page)).text
    assert '<progress max="2" value="2" aria-label="recipients made"></progress>' in shown
    assert '<span data-figure="made">2</span> of <span data-figure="recipients">2</span>' in shown
    rows = await campaigns.recipients(ctx, campaign_id)
    assert all(f'<a href="/messages/{r.queue_id}">' in shown for r in rows)
    assert 'value="cancel"' not in shown, "a done campaign has no buttons"
    message = (await browser.get(f"/messages/{rows[0].queue_id}")).text
    assert "by a campaign" in message
    csv = await browser.get(f"{page}/report.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "\nrecipients,2,\n" in csv.text
    xlsx = await browser.get(f"{page}/report.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert ("recipients", 2, None) in list(book["figures"].iter_rows(values_only=True))
    refused = await site.post_form(browser, page, {"action": "pause"})
    assert refused.status_code == 422
    assert "is done" in refused.text


async def test_launch_without_an_https_public_url_is_refused_on_the_page(site: Site) -> None:
    campaign_id = await _campaign(site)
    browser = await site.browser(await site.user("owner", "acme"))
    answer = await site.post_form(browser, f"/campaigns/{campaign_id}", {"action": "launch"})
    assert answer.status_code == 422
    assert "PUBLIC_URL" in answer.text


async def test_a_viewer_sees_no_buttons(site: Site) -> None:
    campaign_id = await _campaign(site)
    browser = await site.browser(await site.user("viewer", "acme"))
    shown = (await browser.get(f"/campaigns/{campaign_id}")).text
    assert "autumn" in shown
    assert 'value="launch"' not in shown


async def _shop(site: Site) -> Context:
    """acme: example.com verified, with news@example.com listed; lists `people` (ann, bob),
    `vips` (bob, cy), `blocked` (ann); template `news`."""
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "example.com")
    [domain] = await domain_store.list_domains(site.db, "acme")
    now = datetime.now(UTC)
    listed = {"address": "news@example.com", "created_at": now}
    await domain_store.insert_address(site.db, domain, acme, listed)
    ctx = Context(site.services, Actor.of_cli("tester"), None)
    for name, people in (("people", "ann bob"), ("vips", "bob cy"), ("blocked", "ann")):
        made = await contacts.create_list(ctx, name, "acme")
        for person in people.split():
            await contacts.add_contact(ctx, made.id, f"{person}@example.org", {"name": person})
    await templates.create_template(ctx, "news", "News", "<p>Hi {{name}}</p>", None, "acme")
    return ctx


FORM = {
    "tenant": "acme",
    "name": "spring",
    "template": "news",
    "exclude": "blocked",
    "from": "news@example.com",
    "reply_to": "help@example.com",
    "when": "later",
    "date": "2030-07-01",
    "time": "09:00",
    "zone": "Europe/Paris",
}


async def _post_campaign(
    browser: httpx.AsyncClient, lists: list[str], without: tuple[str, ...] = (), **changes: str
) -> httpx.Response:
    """The form as sent, with `changes`, and `without` those fields."""
    html = (await browser.get("/campaigns/new")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    data = {"csrf_token": token.group(1), **FORM, **changes, "lists": lists}
    return await browser.post(
        "/campaigns/new", data={k: v for k, v in data.items() if k not in without}
    )


async def test_an_owner_creates_a_campaign_in_the_form(site: Site) -> None:
    ctx = await _shop(site)
    owner = await site.user("owner", "acme")
    browser = await site.browser(owner)
    form = (await browser.get("/campaigns/new")).text
    assert '<option value="news"' in form
    for name in ("people", "vips", "blocked"):
        assert f'<input type="checkbox" name="lists" value="{name}">' in form
    assert '<option value="news@example.com"></option>' in form, "the verified address"
    assert "Any address at example.com may send too." in form
    assert '<select id="f-zone" name="zone" data-browser-zone>' in form
    assert "<option>Europe/Paris</option>" in form
    assert '<script src="/static/campaign.js" defer></script>' in form

    excluded = await _post_campaign(browser, ["people", "blocked"])
    assert excluded.status_code == 400
    said = "the exclusion list is one of the campaign&#39;s lists: exclude another list, or none"
    assert f'<p class="field-error" id="e-exclude">{said}</p>' in excluded.text
    assert '<input type="checkbox" name="lists" value="people" checked>' in excluded.text
    past = await _post_campaign(browser, ["people"], date="2020-01-01")
    assert past.status_code == 400
    assert "2020-01-01T09:00: that time is past" in past.text
    no_list = await _post_campaign(browser, [])
    assert "give 1 to 20 lists" in no_list.text
    no_zone = await _post_campaign(browser, ["people"], zone="Mars/Base")
    assert "is not a time zone" in no_zone.text

    created = await _post_campaign(browser, ["people", "vips"])
    assert created.status_code == 303, created.text
    campaign_id = int(created.headers["location"].rsplit("/", 1)[1])
    campaign = await campaigns.get_campaign(ctx, campaign_id)
    assert (campaign.state, campaign.sender, campaign.reply_to) == (
        "draft",
        "news@example.com",
        "help@example.com",
    )
    assert campaign.send_at == datetime(2030, 7, 1, 7, tzinfo=UTC)
    assert campaign.time_zone == "Europe/Paris"
    assert len(campaign.list_ids) == 2
    page = (await browser.get(f"/campaigns/{campaign_id}")).text
    assert "Created the campaign spring, a draft" in page
    assert "(Europe/Paris)" in page
    [entry] = await activity.list_activity(site.db, "acme", kind="campaign.created")
    assert (entry.subject, entry.actor) == ("spring", owner)


async def test_now_is_the_default_and_an_admin_chooses_the_tenant_first(site: Site) -> None:
    await _shop(site)
    browser = await site.browser(await site.user("admin"))
    first = (await browser.get("/campaigns/new")).text
    assert '<select id="f-tenant" name="tenant"' in first
    assert 'name="lists"' not in first
    form = (await browser.get("/campaigns/new?tenant=acme")).text
    assert '<input type="hidden" name="tenant" value="acme">' in form
    created = await _post_campaign(browser, ["people"], when="now", date="", time="")
    assert created.status_code == 303, created.text
    # As the browser sends it when campaign.js disabled the date, time and zone of "now".
    created = await _post_campaign(
        browser, ["people"], when="now", without=("date", "time", "zone")
    )
    assert created.status_code == 303, created.text
    made = int(created.headers["location"].rsplit("/", 1)[1])
    assert (await campaigns.get_campaign(_https(site), made)).send_at is None
    shown = (await browser.get(created.headers["location"])).text
    assert "starts" not in shown


async def test_a_viewer_gets_no_form(site: Site) -> None:
    await _shop(site)
    browser = await site.browser(await site.user("viewer", "acme"))
    assert "New campaign" not in (await browser.get("/campaigns")).text
    assert (await browser.get("/campaigns/new")).status_code == 403


async def test_a_campaign_to_two_lists_is_followed_by_list_and_on_the_dashboard(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    await _shop(site)
    ctx = _https(site)
    given = campaigns.NewCampaign("spring", "news", ["people", "vips"], "news@example.com")
    campaign = await campaigns.create_campaign(ctx, given, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    page = f"/campaigns/{campaign.id}"

    tested = await site.post_form(
        browser, page, {"action": "test", "to": "me@example.net", "contact": "cy@example.org"}
    )
    assert tested.status_code == 303, tested.text
    shown = (await browser.get(page)).text
    found = re.search(r"Test message queued as (\w+)\.", shown)
    assert found
    await settled(site.db, found.group(1))
    stranger = await site.post_form(
        browser, page, {"action": "test", "to": "me@example.net", "contact": "zed@example.org"}
    )
    assert stranger.status_code == 422
    said = "zed@example.org is on none of the campaign&#39;s lists"
    assert f'<p class="field-error" id="e-contact">{said}</p>' in stranger.text

    people = await contacts.find_list(ctx, "people", "acme")
    draft = (await browser.get(f"/lists/{people.id}/figures")).text
    assert "No campaign was sent to this list yet." in draft, "a draft is sent to nobody yet"
    await campaigns.launch(ctx, campaign.id)
    progress = (await browser.get(f"{page}/progress")).json()
    assert (progress["state"], progress["made"], progress["recipients"]) == ("sending", 0, 3)
    await site.make_campaign_messages()
    rows = await campaigns.recipients(ctx, campaign.id)
    for row in rows:
        assert row.queue_id
        await settled(site.db, row.queue_id)
    progress = (await browser.get(f"{page}/progress")).json()
    assert (progress["state"], progress["made"], progress["sent"]) == ("done", 3, 3)
    assert progress["rates"]["delivered"] == 0.0

    shown = (await browser.get(page)).text
    by_list = shown[shown.index('<table class="by-list">') :]
    # bob is on both lists: he counts in people, the first.
    assert re.search(r"<td>people</td>\s*<td>2</td>\s*<td>2</td>", by_list)
    assert re.search(r"<td>vips</td>\s*<td>1</td>\s*<td>1</td>", by_list)
    message = (await browser.get(f"/messages/{rows[0].queue_id}")).text
    assert rows[0].address in message

    figures_page = (await browser.get(f"/lists/{people.id}/figures")).text
    assert f'<a href="/campaigns/{campaign.id}">spring</a>' in figures_page
    assert '<td data-figure="sent">2</td>' in figures_page
    list_page = (await browser.get(f"/lists/{people.id}")).text
    assert f'href="/lists/{people.id}/figures"' in list_page
    for kind in ("csv", "xlsx"):
        link = f'<a href="/lists/{people.id}/report.{kind}" download>'
        assert link in list_page
        assert link in figures_page
    await _list_downloads(browser, people.id, campaign.id)
    by_list_csv = (await browser.get(f"{page}/report.csv")).text
    vips = await contacts.find_list(ctx, "vips", "acme")
    assert f"\n{people.id},people,2,2,0," in by_list_csv
    assert f"\n{vips.id},vips,1,1,0," in by_list_csv

    everything = (await browser.get("/")).text
    assert f'<option value="{campaign.id}">spring</option>' in everything
    filtered = (await browser.get(f"/?campaign={campaign.id}")).text
    assert "the messages of campaign spring" in filtered

    def sent(html: str) -> str:
        card = re.search(r'class="stat sent">\s*<div class="value">([\d,]+)</div>', html)
        assert card
        return card.group(1)

    assert (sent(everything), sent(filtered)) == ("4", "3"), "the test message is no campaign's"
    assert (await browser.get("/?campaign=x")).status_code == 400


async def _list_downloads(browser: httpx.AsyncClient, list_id: int, campaign_id: int) -> None:
    """List `list_id`'s figures, of campaign `campaign_id` (2 recipients, both sent), as a CSV
    and a workbook to save; any other suffix refused."""
    saved = await browser.get(f"/lists/{list_id}/report.csv")
    assert saved.headers["content-type"].startswith("text/csv")
    assert saved.headers["content-disposition"] == f'attachment; filename="list-{list_id}.csv"'
    assert saved.text.startswith(f"list,{list_id},people\nmetric,count,rate\nrecipients,2,\n")
    assert "\ncampaign,name,recipients,sent,delivered,bounced," in saved.text
    assert f"\n{campaign_id},spring,2,2,0,0,0,0,0,0,0,0,0.0," in saved.text
    workbook = await browser.get(f"/lists/{list_id}/report.xlsx")
    assert workbook.headers["content-disposition"] == (
        f'attachment; filename="list-{list_id}.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True)
    assert book.sheetnames == ["figures", "links", "campaigns"]
    assert ("sent", 2, None) in list(book["figures"].iter_rows(values_only=True))
    rows = book["campaigns"].iter_rows(min_row=2, max_col=4, values_only=True)
    assert list(rows) == [(campaign_id, "spring", 2, 2)]
    wrong = await browser.get(f"/lists/{list_id}/report.pdf")
    assert wrong.status_code == 400
    assert "the figures are a .csv or an .xlsx file" in wrong.text


async def test_another_tenants_campaign_is_not_found(site: Site) -> None:
    campaign_id = await _campaign(site)
    ctx = Context(site.services, Actor.of_cli("tester"), None)
    people = await contacts.find_list(ctx, "people", "acme")
    browser = await site.browser(await site.user("owner", "globex"))
    for path in (
        f"/campaigns/{campaign_id}/progress",
        f"/?campaign={campaign_id}",
        f"/campaigns/{campaign_id}/report.xlsx",
        f"/lists/{people.id}/report.csv",
        f"/lists/{people.id}/report.xlsx",
    ):
        assert (await browser.get(path)).status_code == 404, path


async def test_a_refused_test_sender_is_shown_on_the_page(site: Site) -> None:
    campaign_id = await _campaign(site)
    ctx = Context(site.services, Actor.of_cli("tester"), None)
    given = campaigns.NewCampaign("stranger", "news", ["people"], "news@elsewhere.example")
    stranger = await campaigns.create_campaign(ctx, given, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    page = f"/campaigns/{stranger.id}"
    answer = await site.post_form(browser, page, {"action": "test", "to": "me@example.net"})
    assert answer.status_code == 422
    assert '<p class="error" role="alert">no value and no default for name' in answer.text
    answer = await site.post_form(
        browser, page, {"action": "test", "to": "me@example.net", "contact": "ann@example.org"}
    )
    assert answer.status_code == 422
    assert '<p class="error" role="alert">refused (sender-unknown)' in answer.text
    assert campaign_id != stranger.id
