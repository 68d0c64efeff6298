"""A template written in the rich-text editor (Quill), changed in its HTML source view, saved,
edited again, previewed in its sandboxed frame and test-sent, in Chromium, with no Content
Security Policy violation on the way."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import DevPanel
from tests.support.panel import add_domain, add_tenant

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_a_template_is_written_in_the_editor_and_its_source_then_previewed(
    admin: Page, panel: DevPanel
) -> None:
    await add_tenant(admin, "hooli")
    await admin.goto("/templates/new")
    await admin.locator("[name=name]").fill("newsletter")
    await admin.locator("[name=tenant]").select_option("hooli")
    await admin.locator("[name=subject]").fill('News for {{name | default("you")}}')
    source = admin.locator("#f-html")
    await expect(source).to_be_hidden()  # the script replaced it with the editor
    rich = admin.locator(".ql-editor")
    await rich.click()
    await admin.keyboard.type('Hello {{name | default("there")}}, welcome to {{company}}.')
    await admin.keyboard.press("Enter")
    await admin.keyboard.press("Control+b")
    await admin.keyboard.type("Bold news")

    await admin.get_by_role("button", name="HTML source").click()
    await expect(source).to_be_visible()
    await expect(rich).to_be_hidden()
    written = await source.input_value()
    # Quill writes quotes in text as &quot;: the gateway reads variables through entities.
    assert written == (
        "<p>Hello {{name | default(&quot;there&quot;)}}, welcome to {{company}}.</p>"
        "<p><strong>Bold news</strong></p>"
    )
    await source.fill(written + '<p style="text-align: center">Centred <em>{{name}}</em></p>')
    await admin.get_by_role("button", name="Rich text").click()
    await expect(rich.locator("em")).to_have_text("{{name}}")
    await expect(rich.locator("p").last).to_have_css("text-align", "center")
    await admin.get_by_role("button", name="HTML source").click()
    assert "Centred <em>{{name}}</em>" in await source.input_value()  # unchanged: kept as typed
    await admin.get_by_role("button", name="Save").click()
    await expect(admin.get_by_role("status")).to_have_text("Created the template newsletter.")

    # Edited again: the editor loads the saved HTML, and a change in it is saved.
    await expect(admin.locator(".ql-editor em")).to_have_text("{{name}}")
    await admin.locator(".ql-editor strong").click()
    await admin.keyboard.press("End")
    await admin.keyboard.type(" today")
    await admin.get_by_role("button", name="Save").click()
    await expect(admin.get_by_role("status")).to_have_text("Saved the template newsletter.")

    await admin.get_by_role("link", name="Preview and send a test").click()
    await admin.get_by_label("name (required)").fill("Ada <admin>")
    await admin.get_by_label("company (required)").fill("Initech & co")
    await admin.get_by_role("button", name="Preview").click()
    await expect(admin.locator(".rendered-subject")).to_have_text("News for Ada <admin>")
    frame = admin.frame_locator("iframe.preview")
    await expect(frame.locator("p").first).to_have_text(
        "Hello Ada <admin>, welcome to Initech & co."
    )
    await expect(frame.locator("strong")).to_have_text("Bold news today")
    await expect(frame.locator("em")).to_have_text("Ada <admin>")
    assert await admin.locator("iframe.preview").get_attribute("sandbox") == ""
    await expect(admin.locator(".rendered-text")).to_contain_text("Bold news today")

    preview = admin.url
    await admin.locator("[name=to]").fill("success@simulator.amazonses.com")
    await admin.locator("[name=from]").fill("news@hooli.test")
    await admin.get_by_role("button", name="Send a test").click()
    await expect(admin.get_by_role("status")).to_contain_text("Not sent: refused (sender-unknown)")

    await add_domain(admin, "hooli.test", "hooli")
    await admin.get_by_role("button", name="Sync with SES now").click()
    await expect(admin.get_by_role("status")).to_contain_text("verified for sending")
    await admin.goto(preview)
    await admin.locator("[name=to]").fill("success@simulator.amazonses.com")
    await admin.locator("[name=from]").fill("news@hooli.test")
    await admin.get_by_role("button", name="Send a test").click()
    queued = re.compile(r"Test message queued as (\w+)\.")
    await expect(admin.get_by_role("status")).to_have_text(queued)
    found = queued.search(await admin.get_by_role("status").inner_text())
    assert found
    shown = panel.gateway.cli("message", "show", found.group(1))
    assert shown["subject"] == "News for Ada <admin>"
    deadline = time.monotonic() + 20
    while shown["state"] != "done" and time.monotonic() < deadline:  # delivered by the worker
        await asyncio.sleep(0.2)
        shown = panel.gateway.cli("message", "show", found.group(1))
    assert [r["state"] for r in shown["recipients"]] == ["sent"]
