"""Signing in and out, tenants and their owners, passwords, and confirmation dialogs, in
Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.browser import DevPanel, Problems
from tests.support.panel import (
    PASSWORD,
    add_domain,
    add_tenant,
    add_user,
    confirm_in_dialog,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def nav(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator("header nav a").all_inner_texts()]


async def test_signing_in_leads_to_the_page_asked_for(page: Page, panel: DevPanel) -> None:
    await page.goto("/account")
    await expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)account$"))
    await page.get_by_label("Email").fill(panel.admin)
    await page.get_by_label("Password").fill(panel.password)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(f"{panel.url}/account")
    await expect(page.locator("header .who")).to_contain_text(panel.admin)
    await expect(page.locator("header .who")).to_contain_text("admin")


async def test_a_wrong_password_shows_the_error(page: Page, panel: DevPanel) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(panel.admin)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/login"))
    await expect(page.get_by_label("Email")).to_have_value(panel.admin)
    await page.goto("/account")
    await expect(page).to_have_url(re.compile(r"/login\?"))  # not signed in


async def test_an_admin_creates_a_tenant_and_its_owner_who_sees_only_that_tenant(
    admin: Page, context: BrowserContext
) -> None:
    await add_tenant(admin, "acme")
    await expect(admin).to_have_url(re.compile(r"/tenants/acme$"))
    await add_tenant(admin, "globex")
    await add_domain(admin, "acme.example", "acme")
    await add_domain(admin, "globex.example", "globex")
    await add_user(admin, "owner@acme.test", "owner", "acme")
    assert "Tenants" in await nav(admin)

    owner = await context.new_page()
    await sign_in(owner, "owner@acme.test", PASSWORD)
    await owner.goto("/account")
    await expect(owner.locator("header .who")).to_contain_text("owner · acme")
    assert "globex" not in await owner.content()
    labels = await nav(owner)
    assert "Tenants" not in labels
    assert "Users" not in labels
    await owner.goto("/domains")
    await expect(owner.get_by_role("link", name="acme.example")).to_be_visible()
    assert "globex" not in await owner.content()
    refused = await owner.goto("/tenants")
    assert refused is not None
    assert refused.status == 403


async def test_an_owner_changes_the_password(admin: Page, context: BrowserContext) -> None:
    await add_tenant(admin, "initech")
    await add_user(admin, "owner@initech.test", "owner", "initech")
    owner = await context.new_page()
    await sign_in(owner, "owner@initech.test", PASSWORD)

    await owner.goto("/account")
    await owner.get_by_label("Current password").fill(PASSWORD)
    await owner.get_by_label("New password", exact=True).fill("a new and longer password")
    await owner.get_by_label("New password again").fill("not the same password")
    await owner.get_by_role("button", name="Change password").click()
    await expect(owner.locator("#e-repeat_password")).to_have_text("the two new passwords differ")

    await owner.get_by_label("Current password").fill(PASSWORD)
    await owner.get_by_label("New password", exact=True).fill("a new and longer password")
    await owner.get_by_label("New password again").fill("a new and longer password")
    await owner.get_by_role("button", name="Change password").click()
    await expect(owner.get_by_role("status")).to_contain_text("Password changed.")

    await owner.get_by_role("button", name="Sign out").click()
    await expect(owner).to_have_url(re.compile(r"/login$"))
    with pytest.raises(AssertionError, match="not signed in"):
        await sign_in(owner, "owner@initech.test", PASSWORD)
    await sign_in(owner, "owner@initech.test", "a new and longer password")


async def test_removing_a_user_asks_in_a_dialog_first(admin: Page) -> None:
    await add_user(admin, "leaving@example.org", "admin")
    row = admin.get_by_role("row").filter(has_text="leaving@example.org")
    dialog = admin.locator("dialog.confirm")

    await row.get_by_role("button", name="Remove").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Remove leaving@example.org?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    await expect(row).to_have_count(1)

    await confirm_in_dialog(row, "Remove")
    await expect(admin.get_by_role("status")).to_have_text("Removed leaving@example.org.")
    await expect(row).to_have_count(0)


async def test_a_content_security_policy_violation_is_caught(
    browser: Browser, panel: DevPanel
) -> None:
    problems = Problems()
    context = await browser.new_context(base_url=panel.url)
    problems.watch(context)
    page = await context.new_page()
    await page.goto("/login")
    await page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'document.title = 1'; document.body.append(s); }"
    )
    await expect(page).to_have_title(re.compile("Sign in"))  # the inline script did not run
    await context.close()
    assert any("Content Security Policy" in found for found in problems.found), problems.found
