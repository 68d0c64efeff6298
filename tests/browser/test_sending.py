"""Setting up sending in the browser alone: a domain and its DNS records, an SMTP credential
that then sends over SMTP, the message followed to its outcome and counted on the dashboard, and
suppressions that SMTP obeys, in Chromium."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import DevPanel
from tests.support.panel import (
    add_domain,
    add_tenant,
    confirm_in_dialog,
    create_credential,
    form_with,
    suppress,
)
from tests.support.process import smtp_client

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"


def rcpt_reply(port: int, username: str, password: str, sender: str, recipient: str) -> int:
    """The code the gateway gives `recipient` at RCPT TO."""
    with smtp_client(port, username, password) as client:
        client.mail(sender)
        code, _ = client.rcpt(recipient)
        client.rset()
        return code


async def wait_for_rcpt_reply(
    expected: int, session: tuple[int, str, str, str, str], timeout: float = 20
) -> None:
    """Until RCPT TO gets `expected` (the gateway caches what it knows for a few seconds)."""
    deadline = time.monotonic() + timeout
    while (code := await asyncio.to_thread(rcpt_reply, *session)) != expected:
        assert time.monotonic() < deadline, f"RCPT TO still gets {code}, not {expected}"
        await asyncio.sleep(0.5)


async def test_adding_a_domain_shows_the_dns_records_to_publish(admin: Page) -> None:
    await add_tenant(admin, "stark")
    await add_domain(admin, "stark.test", "stark")

    records = admin.locator("table.records tbody tr")
    await expect(records.first).to_be_visible()
    await expect(records.first).to_contain_text("stark.test")
    await admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
    value = await records.first.locator("code").last.inner_text()
    copy = records.first.locator("button.copy").last
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await admin.evaluate("navigator.clipboard.readText()") == value

    await admin.get_by_role("button", name="Sync with SES now").click()
    await expect(admin.get_by_role("status")).to_contain_text("verified for sending")
    await admin.goto("/domains")
    row = admin.get_by_role("row").filter(has_text="stark.test")
    await expect(row).to_contain_text("verified")


async def test_a_credential_made_in_the_browser_sends_over_smtp(
    admin: Page, panel: DevPanel
) -> None:
    await add_tenant(admin, "wayne")
    await add_domain(admin, "wayne.test", "wayne")
    username, password = await create_credential(admin, "wayne", "billing app")
    assert len(password) >= 16

    await admin.goto("/credentials")  # the password was shown once only
    await expect(admin.locator("#new-password")).to_have_count(0)
    row = admin.get_by_role("row").filter(has_text=username)
    await expect(row).to_contain_text("never")

    queue_id = await asyncio.to_thread(
        panel.send, username, password, "billing@wayne.test", SUCCESS, "Your invoice"
    )
    assert re.fullmatch(r"\w+", queue_id)
    await admin.reload()
    await expect(row).not_to_contain_text("never")


async def test_a_suppressed_address_is_refused_until_unsuppressed(
    admin: Page, panel: DevPanel
) -> None:
    await add_tenant(admin, "tyrell")
    await add_domain(admin, "tyrell.test", "tyrell")
    username, password = await create_credential(admin, "tyrell")
    blocked = "blocked@example.net"
    session = (panel.gateway.smtp_port, username, password, "news@tyrell.test", blocked)

    await suppress(admin, blocked, "tyrell", "asked us to stop")
    row = admin.get_by_role("row").filter(has_text=blocked)
    await expect(row).to_contain_text("tyrell")
    await expect(row).to_contain_text("asked us to stop")
    await wait_for_rcpt_reply(550, session)

    await confirm_in_dialog(row, "Remove")
    await expect(admin.get_by_role("status")).to_contain_text("no longer suppressed")
    await expect(row).to_have_count(0)
    await wait_for_rcpt_reply(250, session)


async def test_a_message_sent_over_smtp_is_followed_to_its_bounce_and_counted(
    admin: Page, panel: DevPanel
) -> None:
    await add_tenant(admin, "soylent")
    await add_domain(admin, "soylent.test", "soylent")
    username, password = await create_credential(admin, "soylent")
    queue_id = await asyncio.to_thread(
        panel.send, username, password, "orders@soylent.test", BOUNCE, "Your order has shipped"
    )
    await asyncio.to_thread(panel.server.wait_for_log, rf"ses-event kind=bounce .*{queue_id} ")

    await admin.goto("/messages")
    search = form_with(admin, "Search")
    await search.locator("[name=subject]").fill("order has shipped")
    await search.get_by_role("button").click()
    row = admin.get_by_role("row").filter(has_text="Your order has shipped")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(BOUNCE)
    await row.get_by_role("link", name="Your order has shipped").click()

    await expect(admin).to_have_url(re.compile(rf"/messages/{queue_id}$"))
    recipient = admin.locator("section.recipient").filter(has_text=BOUNCE)
    await expect(recipient).to_contain_text("bounced")
    timeline = recipient.locator("ol.timeline")
    for step in ("queued", "sent", "bounce"):
        await expect(timeline).to_contain_text(step)
    await expect(admin.locator("dl.facts")).to_contain_text("Your order has shipped")

    await admin.goto("/")  # the dashboard counts it for its tenant
    filters = form_with(admin, "Show")
    await filters.locator("[name=tenant]").select_option("soylent")
    await filters.get_by_role("button").click()
    await expect(admin.locator(".stat.sent .value")).to_have_text("1")
    await expect(admin.locator(".stat.bounced .value")).to_have_text("1")
    await expect(admin.locator(".stat.delivered .value")).to_have_text("0")
    await expect(admin.locator("figure.chart svg").first).to_be_visible()
