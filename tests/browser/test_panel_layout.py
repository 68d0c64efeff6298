"""The panel read at a glance, in Chromium at 1400 and at 390 pixels wide: tables whose times stay
on one line and whose long values are clipped (whole on hover) and scroll sideways in their own
box; a dashboard whose figures say what they count; a message page with one status per recipient,
its refused recipients and its auto-replies; a truthful Settings page in dev mode; a favicon; and
no serious or critical accessibility violation (axe-core) on any page."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, StorageState, expect

from tests.support.browser import (
    WIDTHS,
    DevPanel,
    axe_page,
    axe_violations,
    layout_problems,
    watched,
)
from tests.support.panel import add_domain, add_tenant, create_credential, suppress
from tests.support.process import smtp_client

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SIMULATOR = "simulator.amazonses.com"
LONG = f"success+a-label-long-enough-to-be-clipped-in-every-table@{SIMULATOR}"
REFUSED = "refused.at.rcpt@gallifrey.test"
LIST_PAGES = (
    "/",
    "/messages",
    "/events",
    "/suppressions",
    "/domains",
    "/credentials",
    "/webhooks",
    "/activity",
    "/tenants",
    "/users",
    "/settings",
    "/aws-accounts",
)


@dataclass(frozen=True)
class Sample:
    """What the module's tests look at: a message to a long address, a bounce, an auto-reply
    and a complaint, with one recipient refused at RCPT TO."""

    queue_id: str
    domain: str


def send_with_a_refusal(panel: DevPanel, username: str, password: str, sender: str) -> str:
    """One transaction: `REFUSED` refused at RCPT TO (suppressed), then four simulator
    recipients accepted; the queue id."""
    recipients = [LONG, f"bounce@{SIMULATOR}", f"ooto@{SIMULATOR}", f"complaint@{SIMULATOR}"]
    data = (
        f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: Layout sample\r\n\r\nHi.\r\n"
    ).encode()
    with smtp_client(panel.gateway.smtp_port, username, password) as client:
        assert client.mail(sender)[0] == 250
        code, reply = client.rcpt(REFUSED)
        assert code == 550, reply
        for recipient in recipients:
            assert client.rcpt(recipient)[0] == 250
        code, reply = client.data(data)
        assert code == 250, reply
    found = re.search(rb"queued as (\w+)", reply)
    assert found
    return found.group(1).decode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sample(browser: Browser, panel: DevPanel, admin_state: StorageState) -> Sample:
    async with watched(browser, panel.url, admin_state) as context:
        page = await context.new_page()
        await add_tenant(page, "gallifrey")
        await add_domain(page, "gallifrey.test", "gallifrey")
        username, password = await create_credential(page, "gallifrey", "layout")
        await suppress(page, REFUSED, "gallifrey", "asked us to stop: " + "a long note " * 12)
    queue_id = await asyncio.to_thread(
        send_with_a_refusal, panel, username, password, "billing@gallifrey.test"
    )
    # Three deliveries, two bounces (the permanent one and the auto-reply), one complaint.
    expected = {"delivery": 3, "bounce": 2, "complaint": 1}
    for _ in range(600):
        log = panel.server.log()
        counts = {
            kind: len(re.findall(rf"ses-event kind={kind} .*queue_id={queue_id} ", log))
            for kind in expected
        }
        if counts == expected:
            break
        await asyncio.sleep(0.1)
    assert counts == expected
    return Sample(queue_id, "gallifrey.test")


async def at_width(page: Page, width: int) -> None:
    await page.set_viewport_size({"width": width, "height": 900})


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
async def test_every_list_page_fits_its_width(admin: Page, sample: Sample, width: int) -> None:
    await at_width(admin, width)
    for path in (*LIST_PAGES, f"/messages/{sample.queue_id}", f"/domains/{sample.domain}"):
        response = await admin.goto(path)
        assert response is not None
        assert response.ok, path
        assert await layout_problems(admin) == [], path


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
async def test_events_and_suppressions_rows_stay_one_line(
    admin: Page, sample: Sample, width: int
) -> None:
    await at_width(admin, width)
    await admin.goto("/events?tenant=gallifrey")
    rows = admin.locator("table.events tbody tr")
    await expect(rows.first).to_be_visible()
    assert await rows.count() >= 8  # send, delivery, bounce... of five recipients
    heights = await rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 45, heights  # one line of text with its padding
    address = admin.locator("table.events .clip", has_text=LONG).first
    assert await address.get_attribute("title") == LONG
    clipped = await address.evaluate("e => e.scrollWidth > e.clientWidth")
    assert clipped  # the long address is cut, not wrapped
    box = admin.locator(".table-scroll").first
    overflow = await box.evaluate("b => b.scrollWidth - b.clientWidth")
    if width == WIDTHS["wide"]:
        assert overflow <= 1  # the whole table fits at 1400 px
    else:
        assert overflow > 0  # it scrolls sideways in its box on a phone

    await admin.goto("/suppressions?tenant=gallifrey")
    row = admin.locator("table.suppressions tbody tr", has_text=REFUSED)
    assert (await row.bounding_box() or {"height": 999})["height"] < 50
    detail = row.locator(".clip").nth(1)
    assert (await detail.get_attribute("title") or "").startswith("asked us to stop")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
async def test_the_dashboard_says_what_each_figure_counts(
    admin: Page, sample: Sample, width: int
) -> None:
    await at_width(admin, width)
    await admin.goto("/?tenant=gallifrey")
    cards = admin.locator("section.stats .stat")
    assert await cards.count() == 8
    bounced = admin.locator(".stat.bounced")
    await expect(bounced.locator(".value")).to_have_text("1")  # the auto-reply is not counted
    await expect(bounced.locator(".what")).to_contain_text("auto-replies")
    await expect(admin.locator(".card.reputation")).to_contain_text("of the window's")
    await expect(admin.locator(".card.ses-account")).to_contain_text("SES's own count")
    # No orphan row: every row of cards is full.
    tops = await cards.evaluate_all("cs => cs.map(c => Math.round(c.getBoundingClientRect().top))")
    per_row = [tops.count(top) for top in sorted(set(tops))]
    assert len(set(per_row)) == 1, per_row
    # An empty chart is one line that says so.
    empty = admin.locator("p.chart-empty")
    for i in range(await empty.count()):
        box = await empty.nth(i).bounding_box()
        assert box is not None
        assert box["height"] < 60
        await expect(empty.nth(i)).to_contain_text("nothing in this range")
    # The filter bar: labels on one line, inputs as tall as the selects.
    form = admin.locator("form.filters")
    labels = await form.locator("label").evaluate_all(
        "ls => ls.map(l => Math.round(l.getBoundingClientRect().top))"
    )
    if width == WIDTHS["wide"]:
        assert len(set(labels)) == 1, labels
    heights = await form.locator("input, select").evaluate_all(
        "es => es.map(e => Math.round(e.getBoundingClientRect().height))"
    )
    assert len(set(heights)) == 1, heights


async def test_the_message_page_gives_one_status_per_recipient(admin: Page, sample: Sample) -> None:
    await admin.goto(f"/messages/{sample.queue_id}")
    recipients = admin.locator("section.recipient")
    await expect(recipients).to_have_count(4)
    for i in range(4):
        await expect(recipients.nth(i).locator("h3 .status")).to_have_count(1)
    expected = {LONG: "delivered", "bounce@": "bounced", "ooto@": "delivered"}
    expected["complaint@"] = "complained"
    for address, status in expected.items():
        section = recipients.filter(has_text=address)
        await expect(section.locator("h3 .status")).to_have_text(status)
    ooto = recipients.filter(has_text="ooto@")
    await expect(ooto.locator(".timeline .status.auto-reply")).to_have_count(1)
    await expect(ooto.locator(".timeline .status.bounce")).to_have_count(0)
    await expect(ooto.locator(".timeline")).to_contain_text("automatic answer")
    send = recipients.first.locator(".timeline li", has=admin.locator(".status.send"))
    await expect(send).to_contain_text("SES took the message in")
    times = await admin.locator("dl.facts time, .timeline time").all_inner_texts()
    assert times
    assert all(re.search(r"\d\d:\d\d:\d\d UTC$", t) for t in times), times
    refused = admin.locator("table.refused tbody tr")
    await expect(refused).to_have_count(1)
    await expect(refused).to_contain_text(REFUSED)
    await expect(refused).to_contain_text("550")


async def test_settings_in_dev_mode_tell_the_truth(admin: Page) -> None:
    await admin.goto("/settings")
    await expect(admin.locator(".dev-mode")).to_contain_text("mailbox simulator is wired")
    await expect(admin.get_by_text("To do:")).to_have_count(0)
    await expect(admin.get_by_text("SNS is not wired")).to_have_count(0)
    body = await admin.locator("main").inner_text()
    assert "`" not in body
    queue_age = admin.locator("table.settings tr", has_text="SES_GATEWAY_MAX_QUEUE_AGE")
    await expect(queue_age.locator("td").nth(1)).to_have_text("24 h")
    assert "86400" not in await admin.locator("table.settings").inner_text()
    await expect(admin.locator(".dev-mode code").first).to_be_visible()


async def test_the_panel_has_a_favicon(admin: Page) -> None:
    await admin.goto("/")
    href = await admin.locator("link[rel=icon]").get_attribute("href")
    assert href == "/static/favicon.svg"
    response = await admin.request.get(href)
    assert response.ok
    assert response.headers["content-type"].startswith("image/svg+xml")


async def test_the_users_form_defaults_agree(admin: Page, sample: Sample) -> None:
    await admin.goto("/users")
    form = admin.locator("form[action='/users']")
    role = await form.locator("[name=role]").input_value()
    tenant = await form.locator("[name=tenant]").input_value()
    assert (role, bool(tenant)) in (("owner", True), ("admin", False)), (role, tenant)
    # Changing the role keeps them agreeing.
    await form.locator("[name=role]").select_option("admin")
    await expect(form.locator("[name=tenant]")).to_have_value("")
    await form.locator("[name=role]").select_option("viewer")
    await expect(form.locator("[name=tenant]")).not_to_have_value("")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
async def test_no_page_has_a_serious_accessibility_violation(
    browser: Browser, panel: DevPanel, admin_state: StorageState, sample: Sample, width: int
) -> None:
    paths = (*LIST_PAGES, f"/messages/{sample.queue_id}", f"/domains/{sample.domain}")
    found = {}
    async with axe_page(browser, panel.url, admin_state, width) as page:
        for path in (*paths, "/account", "/tenants/gallifrey"):
            await page.goto(path)
            if violations := await axe_violations(page):
                found[path] = violations
        await page.context.clear_cookies()
        await page.goto("/login")
        if violations := await axe_violations(page):
            found["/login"] = violations
    assert found == {}
