"""Steps through the panel's forms, as a person takes them in a browser (Playwright pages whose
context has the panel as `base_url`). Each step checks the answer it expects, so that a test or
scripts/screenshots stops at the step that went wrong.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

__all__ = [
    "PASSWORD",
    "add_domain",
    "add_list",
    "add_tenant",
    "add_user",
    "add_webhook",
    "confirm_in_dialog",
    "create_credential",
    "form_with",
    "sign_in",
    "suppress",
    "write_template",
]

PASSWORD = "correct horse battery staple"
"""The password `add_user` gives."""


def form_with(page: Page, button: str) -> Locator:
    """The form whose submit button is named `button` (pages have several forms, and fields
    of the same name in them)."""
    return page.locator("form").filter(has=page.get_by_role("button", name=button, exact=True))


async def sign_in(page: Page, email: str, password: str) -> None:
    """Through the login form; raises with the form's error unless signed in."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()
    if "/login" in page.url:
        error = await page.get_by_role("alert").all_inner_texts()
        raise AssertionError(f"not signed in as {email}: {error}")


async def add_tenant(admin: Page, name: str) -> None:
    await admin.goto("/tenants")
    form = form_with(admin, "Create tenant")
    await form.locator("[name=name]").fill(name)
    await form.get_by_role("button").click()
    await expect(admin.get_by_role("status")).to_have_text(f"Created tenant {name}.")


async def add_user(
    admin: Page, email: str, role: str, tenant: str = "", password: str = PASSWORD
) -> None:
    await admin.goto("/users")
    form = form_with(admin, "Add user")
    await form.locator("[name=email]").fill(email)
    await form.locator("[name=role]").select_option(role)
    await form.locator("[name=tenant]").select_option(tenant)
    await form.locator("[name=password]").fill(password)
    await form.get_by_role("button").click()
    await expect(admin.get_by_role("status")).to_contain_text(f"Created {role} {email}")


async def add_domain(page: Page, name: str, tenant: str = "") -> None:
    """Adds `name` (for `tenant`, when an admin adds it); ends on the domain's page."""
    await page.goto("/domains")
    form = form_with(page, "Add domain")
    await form.locator("[name=name]").fill(name)
    if tenant:
        await form.locator("[name=tenant]").select_option(tenant)
    await form.get_by_role("button").click()
    await expect(page).to_have_url(re.compile(rf"/domains/{re.escape(name)}$"))
    await expect(page.get_by_role("status")).to_contain_text(f"Added {name}")


async def create_credential(page: Page, tenant: str = "", description: str = "") -> tuple[str, str]:
    """A new SMTP credential: (username, password), read off the page that shows them once."""
    await page.goto("/credentials")
    form = form_with(page, "Create credential")
    if tenant:
        await form.locator("[name=tenant]").select_option(tenant)
    await form.locator("[name=description]").fill(description)
    await form.get_by_role("button").click()
    shown = page.locator("#new-credential")
    await expect(shown).to_be_visible()
    username = await shown.locator("#new-username").inner_text()
    return username, await shown.locator("#new-password").inner_text()


async def suppress(page: Page, address: str, tenant: str = "", note: str = "") -> None:
    await page.goto("/suppressions")
    form = form_with(page, "Suppress")
    await form.locator("[name=address]").fill(address)
    await form.locator("[name=detail]").fill(note)
    if tenant:
        await form.locator("[name=tenant]").select_option(tenant)
    await form.get_by_role("button").click()
    await expect(page.get_by_role("row").filter(has_text=address)).to_have_count(1)


async def add_webhook(page: Page, url: str, tenant: str = "") -> str:
    """A webhook for every event type (of `tenant`, when an admin adds it); its signing secret,
    shown once."""
    await page.goto("/webhooks")
    form = form_with(page, "Add webhook")
    await form.locator("[name=url]").fill(url)
    if tenant:
        await form.locator("[name=tenant]").select_option(tenant)
    await form.get_by_role("button").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Added webhook {url}")
    return await page.locator("#webhook-secret").inner_text()


async def confirm_in_dialog(row: Locator, button: str) -> None:
    """Clicks `button` in `row` and Confirm in the dialog that asks first."""
    await row.get_by_role("button", name=button).click()
    dialog = row.page.locator("dialog.confirm")
    await expect(dialog).to_be_visible()
    async with row.page.expect_navigation():
        await dialog.get_by_role("button", name="Confirm").click()


async def add_list(page: Page, name: str, tenant: str, people: dict[str, str]) -> str:
    """A list of `tenant`'s with `people` (address: name) added one by one; its page's URL."""
    await page.goto("/lists")
    form = form_with(page, "Create list")
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=tenant]").select_option(tenant)
    await form.get_by_role("button").click()
    await expect(page.get_by_role("status").first).to_have_text(f"Created the list {name}.")
    url = page.url
    for address, shown in people.items():
        adding = form_with(page, "Add")
        await adding.locator("[name=email]").fill(address)
        await adding.locator("[name=fields]").fill(f"name: {shown}")
        await adding.get_by_role("button").click()
        await expect(page.get_by_role("status").first).to_have_text(f"Added {address}.")
    return url


async def write_template(page: Page, name: str, tenant: str, subject: str, text: str) -> None:
    """A template of `tenant`'s: `text` typed into the rich-text editor, and saved."""
    await page.goto("/templates/new")
    await page.locator("[name=name]").fill(name)
    await page.locator("[name=tenant]").select_option(tenant)
    await page.locator("[name=subject]").fill(subject)
    await page.locator(".ql-editor").click()
    await page.keyboard.type(text)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text(f"Created the template {name}.")
