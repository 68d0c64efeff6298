"""The SES account page (admins): the account's state, the production request form (CSRF,
field errors, SES's refusal on the form), and the suppression page's word on SES's list."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from gateway.feedback import suppressions
from tests.support.fakeses import FakeSes
from tests.support.site import Site, csrf_token

FORM = {
    "mail_type": "TRANSACTIONAL",
    "website_url": "https://shop.example.com",
    "use_case": "Receipts for our customers.",
    "contact_language": "EN",
    "additional_contacts": "ops@shop.example.com, billing@shop.example.com",
}


@pytest.mark.parametrize(("role", "tenant"), [("owner", "acme"), ("viewer", "acme")])
async def test_only_admins_see_it(site: Site, role: str, tenant: str) -> None:
    browser = await site.browser(await site.user(role, tenant))
    assert (await browser.get("/ses")).status_code == 403


async def test_the_state_and_a_request(stand_in: FakeSes, site: Site) -> None:
    stand_in.account.update(ProductionAccessEnabled=False)
    browser = await site.browser(await site.user())
    page = (await browser.get("/ses")).text
    assert "sandbox" in page
    assert "From SES GetAccount" in page

    forged = await browser.post("/ses", data=FORM)
    assert forged.status_code == 403
    assert stand_in.account_state.calls == []

    bad = await site.post_form(browser, "/ses", {**FORM, "additional_contacts": "nobody"})
    assert bad.status_code == 400
    assert 'id="e-additional_contacts"' in bad.text
    assert stand_in.account_state.calls == []

    done = await site.post_form(browser, "/ses", FORM)
    assert (done.status_code, done.headers["location"]) == (303, "/ses")
    [(_, sent)] = stand_in.account_state.calls
    assert sent["AdditionalContactEmailAddresses"] == [
        "ops@shop.example.com",
        "billing@shop.example.com",
    ]
    assert "PENDING" in (await browser.get("/ses")).text

    again = await site.post_form(browser, "/ses", FORM)
    assert again.status_code == 502
    assert "already under review" in again.text


async def test_removing_says_what_became_of_it_at_ses(stand_in: FakeSes, site: Site) -> None:
    stand_in.account_state.suppress("gone@example.org")
    await suppressions.add(site.db, "gone@example.org", reason="bounce")
    browser = await site.browser(await site.user())
    form = {"address": "gone@example.org", "tenant": "", "confirmed": "yes"}
    page = (await browser.get("/suppressions")).text
    removed = await browser.post(
        "/suppressions/remove", data={**form, "csrf_token": csrf_token(page)}
    )
    assert removed.status_code == 303
    assert unquote(removed.cookies["sgw_flash"]) == (
        "gone@example.org is no longer suppressed for every tenant. "
        "Removed gone@example.org from SES's account-level list too."
    )
    assert stand_in.account_state.suppressed == {}
