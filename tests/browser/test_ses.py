"""The production request in the panel, in Chromium, against `serve --dev` (its emulator answers
`PutAccountDetails` as SES does): a field error for a URL SES would refuse, then the request,
then SES's conflict for a second one, said on the form."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_the_production_request_form(admin: Page) -> None:
    await admin.goto("/settings")
    await admin.get_by_role("link", name="Sandbox or production").click()
    await expect(admin.get_by_role("heading", level=1)).to_have_text("SES account")
    default = admin.locator(".ses-account").filter(has_text="AWS account default")
    await expect(default).to_contain_text("AWS account default")

    form = admin.locator("#production-request")
    await form.get_by_label("Mail type").select_option("MARKETING")
    await form.get_by_label("Website URL").fill("ftp://shop.example.com")
    await form.get_by_label("Use case").fill("A monthly newsletter, double opt-in.")
    await form.get_by_role("button", name="Request production access").click()
    error = admin.locator("#e-website_url")
    await expect(error).to_contain_text("give the http(s) address of the site")
    await expect(form.get_by_label("Use case")).to_have_value(
        "A monthly newsletter, double opt-in."
    )

    await form.get_by_label("Website URL").fill("https://shop.example.com")
    await form.get_by_label("Additional contacts").fill("ops@shop.example.com")
    await form.get_by_role("button", name="Request production access").click()
    await expect(admin.get_by_role("status")).to_contain_text(
        "Asked AWS for production access (MARKETING, https://shop.example.com)"
    )

    form = admin.locator("#production-request")
    await form.get_by_label("Website URL").fill("https://shop.example.com")
    await form.get_by_label("Use case").fill("Again.")
    await form.get_by_role("button", name="Request production access").click()
    await expect(form.get_by_role("alert")).to_contain_text("already under review")
