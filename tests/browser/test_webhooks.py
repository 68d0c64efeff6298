"""A webhook added in the browser, test-sent to a receiver on loopback, in Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.support.panel import add_tenant, add_webhook, confirm_in_dialog
from tests.support.webhookreceiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Receiver]:
    endpoint = Receiver(Path(tmp_path_factory.mktemp("receiver")))
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


async def test_a_webhook_shows_its_secret_once_and_its_test_event(
    admin: Page, receiver: Receiver
) -> None:
    await add_tenant(admin, "cyberdyne")
    receiver.secret = await add_webhook(admin, receiver.url, "cyberdyne")
    await admin.get_by_role("status").get_by_role("link", name=receiver.url).click()
    await expect(admin.get_by_role("heading", level=1)).to_contain_text(receiver.url)
    await expect(admin.locator("#webhook-secret")).to_have_count(0)

    await admin.get_by_role("button", name="Send a test event").click()
    await expect(admin.get_by_role("status")).to_contain_text("Test event delivered")
    [event] = await receiver.wait_for(1)
    assert event["type"] == "test"
    attempt = admin.get_by_role("row").filter(has_text="test")
    await expect(attempt).to_contain_text("200")

    await confirm_in_dialog(admin.locator("main"), "Remove")
    await expect(admin).to_have_url(re.compile(r"/webhooks$"))
    await expect(admin.get_by_role("row").filter(has_text=receiver.url)).to_have_count(0)
