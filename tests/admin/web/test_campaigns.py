"""The Campaigns pages: the list, a campaign's page with its progress, figures and recipients
(linking to their messages), launched, paused and cancelled by its buttons (a refusal shown on
the page), and its figures downloaded as CSV and as a workbook; viewers look only."""

from __future__ import annotations

import io

import openpyxl

from admin.ops import campaigns, contacts, templates
from admin.ops.context import Actor, Context, Services
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from tests.conftest import add_verified_domain
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
    settings = ctx.services.settings
    sender = CampaignSender(site.db, settings, Submitter(site.db, settings, SEALER))
    sender.start()
    try:
        await sender.run()
        await sender.run()
    finally:
        await sender.stop()
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
