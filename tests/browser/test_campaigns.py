"""A campaign made in Chromium from start to end: a template written and saved in the rich-text
editor, then edited and saved again; two contact lists; the campaign's form (its time zone
picker starting at the browser's zone); the launch; its progress refreshed by the page's script
until every message went out through the dev emulator and the mailbox simulator; its figures by
list, a recipient's message, the list's figures and the dashboard filtered by the campaign; each
page at 1400 and 390 pixels wide without a layout problem nor a serious accessibility violation;
the list's figures saved as a workbook. The form's date, time and zone, disabled for "when
launched".

The gateway is this module's own: a campaign needs an https `PUBLIC_URL` (its unsubscribe links
point there), which the package's panel has not."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openpyxl
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, StorageState, expect

from tests.support.browser import (
    WIDTHS,
    DevPanel,
    Problems,
    axe_page,
    axe_violations,
    layout_problems,
)
from tests.support.panel import add_domain, add_list, add_tenant, form_with, write_template
from tests.support.process import Processes, problems

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SIMULATOR = "simulator.amazonses.com"
ZONE = "Asia/Tokyo"
"""The browser's time zone: not the server's default (UTC), so that the picker shows it chose."""
LISTS = {
    "readers": {"ann": "Ann", "bob": "Bob"},
    "vips": {"bob": "Bobby", "cy": "Cy"},
}
"""bob is on both lists: he gets one message, and counts in `readers`, the first (the form
lists them by name)."""


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevPanel]:
    directory = tmp_path_factory.mktemp("campaigns")
    processes = Processes(directory)
    try:
        started = DevPanel.start(
            processes, directory / "gw", public_url="https://127.0.0.1", tracking_scanner_window=0
        )
        yield started
        if problems(started.server.log()):
            raise started.server.fail("logged an error")
    finally:
        processes.close()


@pytest_asyncio.fixture(loop_scope="module")
async def admin(
    browser: Browser, panel: DevPanel, admin_state: StorageState
) -> AsyncIterator[Page]:
    """A page in the zone `ZONE`, signed in as the admin; no CSP violation nor script error."""
    found = Problems()
    context = await browser.new_context(
        base_url=panel.url, storage_state=admin_state, timezone_id=ZONE
    )
    found.watch(context)
    try:
        yield await context.new_page()
    finally:
        await context.close()
    assert not found.found, "\n".join(found.found)


def address(name: str) -> str:
    return f"success+{name}@{SIMULATOR}"


async def edit_template(admin: Page) -> None:
    """`welcome`, written in the editor and saved, then changed in it and saved again."""
    await write_template(
        admin, "welcome", "initech", "Welcome, {{name}}", 'Hello {{name | default("friend")}}.'
    )
    await admin.locator(".ql-editor p").first.click()
    await admin.keyboard.press("End")
    await admin.keyboard.type(" Our news is out.")
    await admin.get_by_role("button", name="Save").click()
    await expect(admin.get_by_role("status")).to_have_text("Saved the template welcome.")
    await expect(admin.locator(".ql-editor p").first).to_contain_text("Our news is out.")


async def check_page(admin: Page, path: str) -> None:
    """The page at each width: no layout problem (axe runs with the CSP bypassed: see
    test_panel_layout.py), here for the layout alone."""
    for width in WIDTHS.values():
        await admin.set_viewport_size({"width": width, "height": 900})
        await admin.goto(path)
        assert await layout_problems(admin) == [], (path, width)


async def test_a_campaign_is_made_launched_and_followed_in_the_panel(
    admin: Page, panel: DevPanel, browser: Browser, admin_state: StorageState
) -> None:
    await add_tenant(admin, "initech")
    await add_domain(admin, "initech.test", "initech")
    await admin.get_by_role("button", name="Sync with SES now").click()
    await expect(admin.get_by_role("status")).to_contain_text("verified for sending")
    await edit_template(admin)
    list_pages = {
        name: await add_list(admin, name, "initech", {address(p): n for p, n in people.items()})
        for name, people in LISTS.items()
    }

    await admin.goto("/campaigns")
    await admin.get_by_role("link", name="New campaign").click()
    await admin.get_by_label("Tenant").select_option("initech")
    await admin.get_by_role("button", name="Continue").click()
    await expect(admin.get_by_label("Time zone")).to_have_value(ZONE)
    await admin.get_by_label("Name").fill("launch day")
    await admin.get_by_label("Template").select_option("welcome")
    for name in LISTS:
        await admin.get_by_role("checkbox", name=name).check()
    await admin.get_by_label("From").fill("news@initech.test")
    await admin.get_by_label("Reply to").fill("help@initech.test")
    await admin.get_by_role("radio", name="at a date and time").check()
    await admin.get_by_label("Date", exact=True).fill("2020-01-01")
    await admin.get_by_label("Time", exact=True).fill("09:00")
    await admin.get_by_role("button", name="Create the draft").click()
    await expect(admin.locator("fieldset.when .field-error")).to_contain_text(
        "2020-01-01T09:00: that time is past"
    )
    await expect(admin.get_by_label("Time zone")).to_have_value(ZONE)  # as sent back
    await expect(admin.get_by_role("checkbox", name="vips")).to_be_checked()
    await admin.get_by_role("radio", name="when launched").check()
    await admin.get_by_role("button", name="Create the draft").click()
    await expect(admin.get_by_role("status")).to_contain_text("Created the campaign launch day")
    campaign_url = admin.url
    campaign_path = "/" + campaign_url.split("/", 3)[3]

    test = form_with(admin, "Send a test")
    await test.locator("[name=to]").fill(address("tester"))
    await test.locator("[name=contact]").fill(address("cy"))
    await test.get_by_role("button").click()
    await expect(admin.get_by_role("status")).to_have_text(re.compile(r"Test message queued as"))

    await admin.get_by_role("button", name="Launch").click()
    await expect(admin.get_by_role("status")).to_contain_text("Launch: campaign")
    # The page's script follows the campaign: its state and figures change with no reload here.
    await expect(admin.locator(".campaign-state")).to_have_text("done", timeout=60_000)
    await expect(admin.locator('td[data-figure="sent"]')).to_have_text("3", timeout=60_000)
    await expect(admin.locator('[data-figure="made"]')).to_have_text("3")
    await expect(admin.locator('[data-figure="waiting"]')).to_have_text("0")
    assert await admin.locator("progress").evaluate("p => [p.value, p.max]") == [3, 3]

    by_list = admin.locator("table.by-list tbody tr")
    await expect(by_list).to_have_count(2)
    await expect(by_list.nth(0).locator("td").nth(1)).to_have_text("2")  # readers: ann, bob
    await expect(by_list.nth(1).locator("td").nth(1)).to_have_text("1")  # vips: cy
    recipient = admin.locator("table.recipients tbody tr", has_text=address("cy"))
    await recipient.get_by_role("link").click()
    await expect(admin.locator("main")).to_contain_text("by a campaign")
    await expect(admin.locator("section.recipient h3 .status")).to_have_text(
        re.compile("sent|delivered")
    )

    await admin.goto(list_pages["readers"])
    await admin.get_by_role("link", name="Campaign figures").click()
    await expect(admin.locator('td[data-figure="sent"]')).to_have_text("2")
    await expect(admin.get_by_role("link", name="launch day")).to_be_visible()
    async with admin.expect_download() as saving:
        await admin.get_by_role("link", name="Excel workbook").click()
    download = await saving.value
    assert re.fullmatch(r"list-\d+\.xlsx", download.suggested_filename)
    saved = await download.path()
    book = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()), read_only=True)
    rows = book["campaigns"].iter_rows(min_row=2, min_col=2, max_col=4, values_only=True)
    assert list(rows) == [("launch day", 2, 2)]  # ann and bob, each sent

    await admin.goto(campaign_url)
    await admin.get_by_role("link", name="on the dashboard").click()
    await expect(admin.locator("#f-campaign")).to_have_value(campaign_path.rsplit("/", 1)[1])
    await expect(admin.locator(".stat.sent .value")).to_have_text("3")  # not the test message

    figures_path = "/" + list_pages["readers"].split("/", 3)[3] + "/figures"
    shown = ("/campaigns", "/campaigns/new?tenant=initech", campaign_path, figures_path)
    for path in shown:
        await check_page(admin, path)
    for width in WIDTHS.values():
        found = {}
        async with axe_page(browser, panel.url, admin_state, width) as page:
            for path in shown:
                await page.goto(path)
                if violations := await axe_violations(page):
                    found[path] = violations
        assert found == {}, width


async def test_the_date_time_and_zone_are_asked_only_for_later(
    admin: Page, panel: DevPanel, tmp_path: Path
) -> None:
    """Disabled while "when launched" is chosen (so not sent), enabled for "at a date and
    time", as the page loads (the form sent back) and as the choice changes."""
    html = tmp_path / "memo.html"
    html.write_text("<p>Hello</p>", encoding="utf-8")
    panel.gateway.cli("tenant", "create", "umbrella")
    panel.gateway.cli("list", "create", "staff", "--tenant", "umbrella")
    panel.gateway.cli(
        "template", "create", "memo", "--tenant", "umbrella", "--subject", "Memo",
        "--html-file", str(html),
    )  # fmt: skip
    await admin.goto("/campaigns/new?tenant=umbrella")
    asked = [
        admin.get_by_label("Date", exact=True),
        admin.get_by_label("Time", exact=True),
        admin.get_by_label("Time zone"),
    ]

    async def enabled(expected: bool) -> None:
        for field in asked:
            await (expect(field).to_be_enabled() if expected else expect(field).to_be_disabled())

    await expect(admin.get_by_role("radio", name="when launched")).to_be_checked()
    await enabled(False)
    await admin.get_by_role("radio", name="at a date and time").check()
    await enabled(True)
    await admin.get_by_label("Name").fill("memo day")
    await admin.get_by_role("checkbox", name="staff").check()
    await admin.get_by_label("From").fill("news@umbrella.test")
    await admin.get_by_label("Date", exact=True).fill("2020-01-01")
    await admin.get_by_label("Time", exact=True).fill("09:00")
    await admin.get_by_role("button", name="Create the draft").click()
    await expect(admin.locator("fieldset.when .field-error")).to_contain_text("that time is past")
    await expect(admin.get_by_role("radio", name="at a date and time")).to_be_checked()
    await enabled(True)
    await admin.get_by_role("radio", name="when launched").check()
    await enabled(False)
    await admin.get_by_role("button", name="Create the draft").click()
    await expect(admin.get_by_role("status")).to_contain_text("Created the campaign memo day")
    [made] = panel.gateway.cli("campaign", "list", "--tenant", "umbrella")["campaigns"]
    assert (made["name"], made["send_at"]) == ("memo day", None)
