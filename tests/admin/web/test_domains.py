"""The Domains pages over real HTTP: the list and the add form, a domain's records and live DNS
check, sync, settings, addresses and removal, per role and per tenant. SES is moto, or the
stand-in where a test needs what moto lacks (custom MAIL FROM, verification moving on)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.storage import activity
from gateway.storage import domains as domain_store
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.site import Site, csrf_token


@pytest.fixture
def site_settings(dns: DnsServer) -> dict[str, Any]:
    return {"dns_nameservers": [dns.address], "dns_timeout": 2}


async def add_domain(site: Site, tenant: str, name: str = "example.com") -> None:
    await site.tenant(tenant)
    await site.services.domains.add(tenant, name)


async def confirm(site: Site, browser: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    """POST a destructive action as the confirmation page does: asked first, then confirmed."""
    asked = await site.post_form(browser, path, data, page="/domains")
    assert asked.status_code == 200
    assert 'name="confirmed"' in asked.text
    token = csrf_token(asked.text)
    return await browser.post(path, data={"csrf_token": token, "confirmed": "yes", **data})


async def test_the_empty_list_says_what_to_do_next(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/domains")
    assert page.status_code == 200
    assert "Add your first domain: you will get the DNS records to publish" in page.text
    assert 'action="/domains"' in page.text
    assert 'name="tenant"' not in page.text


async def test_an_owner_adds_a_domain_and_sees_the_records_to_publish(
    stand_in: FakeSes, site: Site
) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    added = await site.post_form(browser, "/domains", {"name": "Example.com", "dkim": "easy"})
    assert (added.status_code, added.headers["location"]) == (303, "/domains/example.com")
    page = await browser.get("/domains/example.com")
    assert "publish these DNS records" in page.text
    domain = await domain_store.get_domain(site.db, "example.com")
    records = site.services.domains.records(domain)
    assert len(records) == 4
    for index, record in enumerate(records, 1):
        assert f'<code id="record-value-{index}">{record.value}</code>' in page.text
        assert f'data-copy="#record-value-{index}"' in page.text
    assert 'id="zone-file"' in page.text
    assert "_dmarc.example.com.\t3600\tIN\tTXT\t&#34;v=DMARC1; p=none;&#34;" in page.text
    assert "Check DNS now" in page.text
    listed = await browser.get("/domains")
    assert 'href="/domains/example.com"' in listed.text
    assert 'class="status pending"' in listed.text
    # one entry, the audit's: the gateway records no `domain.added` of its own beside it
    audited = await activity.list_activity(site.db, "acme")
    assert [(e.kind, e.subject, e.detail, bool(e.actor)) for e in audited] == [
        ("domain.added", "example.com", "registered with SES in us-east-1, easy DKIM", True)
    ]


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"name": "co.uk"}, "name", "public suffix"),
        ({"name": "exa mple.com"}, "name", "contains a space"),
        ({"name": "taken.example"}, "name", "already added"),
        ({"name": "example.com", "mail_from": "a b"}, "mail_from", "subdomain"),
    ],
)
async def test_the_add_form_shows_what_is_wrong_under_its_field(
    site: Site, form: dict[str, str], field: str, words: str
) -> None:
    await add_domain(site, "acme", "taken.example")
    browser = await site.browser(await site.user("owner", "acme"))
    refused = await site.post_form(browser, "/domains", form)
    assert refused.status_code == 400
    assert f'<p class="field-error" id="e-{field}">' in refused.text
    assert words in refused.text
    assert f'value="{form["name"]}"' in refused.text


async def test_an_admin_chooses_the_tenant(site: Site) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/domains")
    assert '<option value="acme">acme</option>' in page.text
    unnamed = await site.post_form(browser, "/domains", {"name": "example.com", "tenant": ""})
    assert unnamed.status_code == 400
    assert '<p class="field-error" id="e-tenant">' in unnamed.text
    added = await site.post_form(browser, "/domains", {"name": "example.com", "tenant": "acme"})
    assert added.status_code == 303
    assert (await domain_store.get_domain(site.db, "example.com")).tenant == "acme"
    listed = await browser.get("/domains", params={"tenant": "acme"})
    assert "<td>acme</td>" in listed.text


async def test_a_viewer_sees_the_records_but_changes_nothing(site: Site) -> None:
    await add_domain(site, "acme")
    browser = await site.browser(await site.user("viewer", "acme"))
    listed = await browser.get("/domains")
    assert "example.com" in listed.text
    assert "Add a domain" not in listed.text
    page = await browser.get("/domains/example.com")
    assert page.status_code == 200
    assert "record-value-1" in page.text
    assert 'action="/domains/example.com/sync"' not in page.text
    assert "Save settings" not in page.text
    assert "/remove" not in page.text
    token = csrf_token(page.text)
    for path, data in [
        ("/domains", {"name": "viewer.example"}),
        ("/domains/example.com/sync", {}),
        ("/domains/example.com/settings", {"open_tracking": "on"}),
        ("/domains/example.com/addresses", {"address": "a@example.com"}),
        ("/domains/example.com/remove", {"confirmed": "yes"}),
    ]:
        refused = await browser.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403, path
    checked = await browser.post("/domains/example.com/check", data={"csrf_token": token})
    assert checked.status_code == 200
    assert not (await domain_store.get_domain(site.db, "example.com")).open_tracking


async def test_another_tenants_domain_is_invisible_and_unchangeable(site: Site) -> None:
    await add_domain(site, "beta", "beta.example")
    await site.services.domains.add_address("info@beta.example")
    browser = await site.browser(await site.user("owner", "acme"))
    listed = await browser.get("/domains")
    assert "beta.example" not in listed.text
    assert (await browser.get("/domains/beta.example")).status_code == 404
    token = csrf_token(listed.text)
    for path, data in [
        ("/domains/beta.example/check", {}),
        ("/domains/beta.example/sync", {}),
        ("/domains/beta.example/settings", {"open_tracking": "on"}),
        ("/domains/beta.example/mail-from", {"mail_from": "mail"}),
        ("/domains/beta.example/addresses", {"address": "x@beta.example"}),
        ("/domains/beta.example/addresses/remove", {"address": "info@beta.example"}),
        ("/domains/beta.example/remove", {}),
    ]:
        refused = await browser.post(path, data={"csrf_token": token, "confirmed": "yes", **data})
        assert refused.status_code == 404, path
    stolen = await browser.post(
        "/domains", data={"csrf_token": token, "name": "x.example", "tenant": "beta"}
    )
    assert stolen.status_code == 404
    domain = await domain_store.get_domain(site.db, "beta.example")
    assert not domain.open_tracking
    assert len(await domain_store.list_addresses(site.db, domain="beta.example")) == 1


async def test_check_dns_now_shows_each_record_found_missing_or_mismatched(
    stand_in: FakeSes, site: Site, dns: DnsServer
) -> None:
    await add_domain(site, "acme")
    domain = await domain_store.get_domain(site.db, "example.com")
    records = site.services.domains.records(domain)
    dns.add("amazonses.com", "TXT", '"v=spf1 ip4:199.255.192.0/22 -all"')
    for record in records:
        if record.type == "CNAME":
            dns.add(record.name, "CNAME", record.value + ".")
    dns.add("_dmarc.example.com", "TXT", '"v=DMARC1; p=quarantine;"')
    browser = await site.browser(await site.user("owner", "acme"))
    checked = await site.post_form(browser, "/domains/example.com/check", {}, page="/domains")
    assert checked.status_code == 200
    assert checked.text.count('<span class="status ok">found</span>') == 3
    assert "v=DMARC1; p=quarantine;" in checked.text
    assert '<span class="status mismatch">' in checked.text
    assert dns.address in checked.text
    for record in records:
        if record.type == "CNAME":
            dns.remove(record.name)
    again = await site.post_form(browser, "/domains/example.com/check", {}, page="/domains")
    assert '<span class="status missing">missing</span>' in again.text


async def test_sync_with_ses_now_says_what_ses_said(stand_in: FakeSes, site: Site) -> None:
    await add_domain(site, "acme")
    stand_in.set_identity_status("example.com")
    browser = await site.browser(await site.user("owner", "acme"))
    synced = await site.post_form(browser, "/domains/example.com/sync", {}, page="/domains")
    assert synced.status_code == 303
    page = await browser.get(synced.headers["location"])
    assert "SES says: verified for sending. SES verified the identity for sending." in page.text
    assert '<span class="status verified">verified</span>' in page.text
    [event] = await activity.list_activity(site.db, "acme", kind="domain.synced")
    assert event.actor is not None
    assert event.actor.startswith("owner")


async def test_settings_and_mail_from_are_saved_with_field_errors(
    stand_in: FakeSes, site: Site
) -> None:
    await add_domain(site, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    path = "/domains/example.com"
    saved = await site.post_form(
        browser,
        f"{path}/settings",
        {"open_tracking": "on", "restrict_to_addresses": "on", "tracking_host": "t.example.com"},
        page=path,
    )
    assert saved.status_code == 303
    domain = await domain_store.get_domain(site.db, "example.com")
    assert (domain.open_tracking, domain.click_tracking) == (True, False)
    assert (domain.restrict_to_addresses, domain.tracking_host) == (True, "t.example.com")
    bad_host = await site.post_form(
        browser, f"{path}/settings", {"tracking_host": "bad host"}, page=path
    )
    assert bad_host.status_code == 400
    assert '<p class="field-error" id="e-tracking_host">' in bad_host.text
    https = await site.post_form(browser, f"{path}/settings", {"unsubscribe": "on"}, page=path)
    assert https.status_code == 400
    assert '<p class="field-error" id="e-unsubscribe">' in https.text
    assert "PUBLIC_URL" in https.text
    assert (await domain_store.get_domain(site.db, "example.com")).open_tracking
    refused = await site.post_form(browser, f"{path}/mail-from", {"mail_from": ""}, page=path)
    assert '<p class="field-error" id="e-mail_from">' in refused.text
    mail_from = await site.post_form(browser, f"{path}/mail-from", {"mail_from": "mail"}, page=path)
    assert mail_from.status_code == 303
    page = await browser.get(path)
    assert "10 feedback-smtp.us-east-1.amazonses.com" in page.text
    changes = await activity.list_activity(site.db, kind="domain.changed")
    assert [e.detail for e in changes] == [
        "mail_from mail",
        "restrict_to_addresses on, open_tracking on, click_tracking off, unsubscribe off, "
        "tracking_host t.example.com",
    ]


async def test_addresses_are_added_and_removed_after_confirmation(site: Site) -> None:
    await add_domain(site, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    path = "/domains/example.com/addresses"
    added = await site.post_form(browser, path, {"address": "info@example.com"}, page="/domains")
    assert added.status_code == 303
    elsewhere = await site.post_form(browser, path, {"address": "a@other.test"}, page="/domains")
    assert elsewhere.status_code == 400
    assert '<p class="field-error" id="e-address">' in elsewhere.text
    page = await browser.get("/domains/example.com")
    assert "<td>info@example.com</td>" in page.text
    assert 'data-confirm="Remove the sender address info@example.com?"' in page.text
    removed = await confirm(site, browser, f"{path}/remove", address="info@example.com")
    assert removed.status_code == 303
    assert await domain_store.list_addresses(site.db, domain="example.com") == []
    kinds = [e.kind for e in await activity.list_activity(site.db, "acme", kind="address")]
    assert kinds == ["address.removed", "address.added"]


async def test_removing_a_domain_asks_first(site: Site) -> None:
    await add_domain(site, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/domains/example.com")
    assert 'data-confirm="Remove example.com? Its SES identity is deleted' in page.text
    removed = await confirm(site, browser, "/domains/example.com/remove")
    assert (removed.status_code, removed.headers["location"]) == (303, "/domains")
    assert await domain_store.find_domain(site.db, "example.com") is None
    listed = await browser.get("/domains")
    assert "Removed example.com; 0 queued messages failed." in listed.text
