"""An AWS account added in Chromium (the `--dev` emulator answers its check): the secret typed
into the form is never rendered back, not on the account's page, the list, nor a refused form;
the tenant page puts a tenant on it; its removal is refused while the tenant uses it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.panel import add_tenant, confirm_in_dialog, form_with

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SECRET = "browser/Secret+Access+Key/never-shown-0123456789"


async def fill_account(admin: Page, name: str, region: str) -> None:
    await admin.goto("/aws-accounts")
    form = form_with(admin, "Check and add")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Region").fill(region)
    await form.get_by_label("Access key ID").fill("AKIAIOSFODNN7EXAMPLE")
    await form.get_by_label("Secret access key").fill(SECRET)
    await form.get_by_role("button").click()


async def test_an_account_is_added_and_its_secret_never_rendered(admin: Page) -> None:
    await fill_account(admin, "browser-keys", "moon")
    form = form_with(admin, "Check and add")
    await expect(form.locator("#e-region")).to_contain_text("'moon' is not an AWS region")
    await expect(form.get_by_label("Secret access key")).to_have_value("")
    assert SECRET not in await admin.content()

    await fill_account(admin, "browser-keys", "us-east-1")
    await expect(admin).to_have_url(re.compile(r"/aws-accounts/browser-keys$"))
    await expect(admin.get_by_role("status")).to_contain_text("Added AWS account browser-keys")
    await expect(admin.locator("main")).to_contain_text("stored encrypted (never shown)")
    assert SECRET not in await admin.content()
    await admin.goto("/aws-accounts")
    await expect(admin.get_by_role("row").filter(has_text="browser-keys")).to_contain_text(
        "AKIAIOSFODNN7EXAMPLE"
    )
    assert SECRET not in await admin.content()

    await add_tenant(admin, "tessier")
    await admin.goto("/tenants/tessier")
    account = form_with(admin, "Save account")
    await account.get_by_label("Sends through").select_option("browser-keys")
    await account.get_by_role("button").click()
    await expect(admin.get_by_role("status")).to_have_text("tessier sends through browser-keys.")

    await admin.goto("/aws-accounts/browser-keys")
    await confirm_in_dialog(admin.locator("main"), "Remove")
    await expect(admin.locator("#e-remove")).to_contain_text(
        "AWS account browser-keys is used by tenant tessier"
    )
    assert SECRET not in await admin.content()
