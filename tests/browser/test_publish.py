"""Publishing a domain's records to Route 53 from its page, in Chromium: the change set shown
first, then published once confirmed. Route 53 is the `serve --dev` emulator's (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import DevPanel
from tests.support.panel import add_domain, add_tenant
from tests.support.route53 import create_zone, zone_records

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


def emulator_url(panel: DevPanel) -> str:
    """Where the `serve --dev` emulator listens (it says so in its data folder)."""
    marker = Path(panel.gateway.env["SES_GATEWAY_DATA_DIR"]) / "dev-emulator.json"
    return str(json.loads(marker.read_text())["url"])


async def test_publish_shows_the_change_set_then_publishes_once_confirmed(
    admin: Page, panel: DevPanel
) -> None:
    await add_tenant(admin, "oscorp")
    await add_domain(admin, "oscorp.test", "oscorp")
    url = emulator_url(panel)
    zone = create_zone(url, "oscorp.test")

    await admin.get_by_role("button", name="Show the change set").click()
    changes = admin.locator("table.change-set tbody tr")
    await expect(changes).to_have_count(4)
    await expect(changes.filter(has_text="create")).to_have_count(4)
    await expect(admin.locator("main")).to_contain_text(f"Hosted zone oscorp.test {zone}")
    assert zone_records(url, zone) == {}

    await admin.get_by_role("button", name="Publish 4 changes").click()
    await expect(admin.locator("main [role=status]")).to_contain_text(
        "in sync on Route 53's nameservers", timeout=30_000
    )
    await expect(admin.locator("table.dns-check")).to_be_visible()
    held = zone_records(url, zone)
    assert len(held) == 4
    assert ("_dmarc.oscorp.test", "TXT") in held

    await admin.goto("/domains/oscorp.test")
    await admin.get_by_role("button", name="Show the change set").click()
    await expect(admin.locator("main [role=status]")).to_contain_text("Nothing to change")
