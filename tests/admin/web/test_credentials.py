"""The `/credentials` page: SMTP credentials and API keys created (secret shown once), paused,
revoked; trusted networks for admins; viewers and other tenants refused, over real HTTP."""

from __future__ import annotations

import re

import pytest

from gateway.identity import accounts, apikeys
from gateway.intake.auth import Authenticator
from gateway.runtime.changes import ChangeBus
from gateway.storage import activity, tenants
from gateway.storage import apikeys as key_store
from tests.support.site import Site


def _shown(html: str, element: str) -> str:
    found = re.search(rf'id="{element}">([^<]+)<', html)
    assert found, f"no #{element} on the page"
    return found.group(1)


@pytest.mark.parametrize(
    ("role", "tenant", "sees", "hidden"),
    [
        ("admin", None, ["Create an SMTP credential", "Trusted networks", "admin key"], []),
        ("owner", "acme", ["Create an SMTP credential", "Create an API key"], ["Trusted networks"]),
        ("viewer", "acme", ["An owner of the tenant can create one"], ["Create an", "Trusted"]),
    ],
)
async def test_the_page_shows_each_role_what_it_may_do(
    site: Site, role: str, tenant: str | None, sees: list[str], hidden: list[str]
) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user(role, tenant))
    page = await browser.get("/credentials")
    assert page.status_code == 200
    assert "No SMTP credentials yet" in page.text
    assert "No API keys yet" in page.text or role == "admin"
    for text in sees:
        assert text in page.text, text
    for text in hidden:
        assert text not in page.text, text


@pytest.mark.parametrize("site_settings", [{"hostname": "smtp.gateway.test"}])
async def test_a_credential_created_in_the_panel_logs_in_until_revoked(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    created = await site.post_form(
        browser, "/credentials", {"description": "billing", "allow": "example.com, a@b.test"}
    )
    assert created.status_code == 200
    username = _shown(created.text, "new-username")
    password = _shown(created.text, "new-password")
    assert _shown(created.text, "smtp-host") == "smtp.gateway.test"
    settings = site.services.settings
    assert f"{settings.smtp_port} with STARTTLS" in created.text
    assert f"{settings.smtps_port} with implicit TLS" in created.text
    assert 'data-copy="#new-password"' in created.text
    assert 'value="billing"' not in created.text
    authenticator = Authenticator(site.db, settings)
    # As the SMTP role of the API's own process hears the revoke: by its change bus.
    ChangeBus(site.db).subscribe(authenticator.heard, *Authenticator.TOPICS)
    assert await authenticator.authenticate(username, password, "127.0.0.1") is not None

    listed = await browser.get("/credentials")
    assert username in listed.text
    assert password not in listed.text
    assert "example.com, a@b.test" in listed.text
    assert "never" not in listed.text.split(username, 1)[1].split("</tr>", 1)[0]

    [credential] = await tenants.list_credentials(site.db, "acme")
    path = f"/credentials/{credential.id}/revoke"
    asked = await site.post_form(browser, path, {}, page="/credentials")
    assert (asked.status_code, "Are you sure?" in asked.text) == (200, True)
    assert await authenticator.authenticate(username, password, "127.0.0.1") is not None
    revoked = await site.post_form(browser, path, {"confirmed": "yes"}, page="/credentials")
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/credentials")
    assert await authenticator.authenticate(username, password, "127.0.0.1") is None
    assert 'class="status revoked"' in (await browser.get("/credentials")).text

    audit = await activity.list_activity(site.db, "acme")
    assert [(e.kind, e.subject) for e in audit if e.actor] == [
        ("credential.revoked", username),
        ("credential.created", username),
    ]
    assert all(password not in e.detail for e in audit)


@pytest.mark.parametrize(
    ("role", "data", "field", "message"),
    [
        ("admin", {"description": "x"}, "tenant", "name the tenant"),
        ("owner", {"allow": "co.uk"}, "allow", "public suffix"),
        ("owner", {"allow": "@example.com"}, "allow", "expected a domain"),
        ("owner", {"description": "x" * 256}, "description", "too long"),
    ],
)
async def test_a_refused_credential_shows_the_error_beside_its_field(
    site: Site, role: str, data: dict[str, str], field: str, message: str
) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user(role, "acme" if role == "owner" else None))
    refused = await site.post_form(browser, "/credentials", data)
    assert refused.status_code == 400
    error = re.search(rf'<p class="field-error" id="e-{field}">([^<]+)</p>', refused.text)
    assert error, refused.text
    assert message in error.group(1)
    assert await tenants.list_credentials(site.db) == []


async def test_a_credential_is_paused_with_a_reason_then_resumed(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    new = await accounts.create_credential(site.db, "acme")
    path = f"/credentials/{new.credential.id}"
    blank = await site.post_form(
        browser, f"{path}/pause", {"reason": " ", "confirmed": "yes"}, page="/credentials"
    )
    assert (blank.status_code, "give a reason" in blank.text) == (400, True)
    asked = await site.post_form(browser, f"{path}/pause", {"reason": "leaked"}, "/credentials")
    assert 'name="reason" value="leaked"' in asked.text
    paused = await site.post_form(
        browser, f"{path}/pause", {"reason": "leaked", "confirmed": "yes"}, page="/credentials"
    )
    assert paused.status_code == 303
    page = await browser.get("/credentials")
    assert 'class="status paused"' in page.text
    assert "leaked" in page.text
    resumed = await site.post_form(browser, f"{path}/resume", {}, page="/credentials")
    assert resumed.status_code == 303
    [credential] = await tenants.list_credentials(site.db, "acme")
    assert credential.paused_reason is None
    kinds = [e.kind for e in await activity.list_activity(site.db, "acme") if e.actor]
    assert kinds == ["credential.resumed", "credential.paused"]


async def test_an_api_key_created_in_the_panel_works_until_revoked(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    created = await site.post_form(
        browser, "/credentials/api-keys", {"description": "deploy"}, page="/credentials"
    )
    assert created.status_code == 200
    assert "shown only now" in created.text
    key = _shown(created.text, "new-key")
    api = await site.api(key)
    assert (await api.get("/credentials")).status_code == 200
    listed = await browser.get("/credentials")
    assert key not in listed.text
    [info] = await key_store.list_keys(site.db)
    assert info.tenant == "acme"
    path = f"/credentials/api-keys/{info.id}/revoke"
    revoked = await site.post_form(browser, path, {"confirmed": "yes"}, page="/credentials")
    assert revoked.status_code == 303
    assert (await api.get("/credentials")).status_code == 401
    kinds = [(e.kind, e.subject) for e in await activity.list_activity(site.db) if e.actor]
    assert kinds == [("apikey.revoked", info.prefix), ("apikey.created", info.prefix)]
    assert all(key.split("_", 2)[2] not in e.detail for e in await activity.list_activity(site.db))


async def test_an_admin_creates_an_admin_key_or_a_tenants_key(site: Site) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    for scope in ("*", "acme"):
        made = await site.post_form(
            browser, "/credentials/api-keys", {"key_tenant": scope}, page="/credentials"
        )
        assert made.status_code == 200
    assert sorted(str(k.tenant) for k in await key_store.list_keys(site.db)) == ["None", "acme"]
    refused = await site.post_form(browser, "/credentials/api-keys", {}, page="/credentials")
    assert refused.status_code == 400
    assert 'id="e-key_tenant"' in refused.text


async def test_a_viewer_changes_nothing(site: Site) -> None:
    browser = await site.browser(await site.user("viewer", "acme"))
    new = await accounts.create_credential(site.db, "acme")
    key = await apikeys.create_api_key(site.db, "acme")
    attempts = [
        ("/credentials", {"description": "x"}),
        (f"/credentials/{new.credential.id}/revoke", {"confirmed": "yes"}),
        (f"/credentials/{new.credential.id}/pause", {"reason": "x", "confirmed": "yes"}),
        (f"/credentials/{new.credential.id}/resume", {}),
        ("/credentials/api-keys", {}),
        (f"/credentials/api-keys/{key.info.id}/revoke", {"confirmed": "yes"}),
    ]
    for path, data in attempts:
        refused = await site.post_form(browser, path, data, page="/credentials")
        assert refused.status_code == 403, path
    [credential] = await tenants.list_credentials(site.db)
    assert (credential.revoked_at, credential.paused_reason) == (None, None)
    assert len(await tenants.list_credentials(site.db)) == 1
    assert [k.revoked_at for k in await key_store.list_keys(site.db)] == [None]


async def test_an_owner_never_reaches_another_tenants_credentials_or_keys(site: Site) -> None:
    await site.tenant("acme")
    theirs = await accounts.create_credential(site.db, "acme")
    their_key = await apikeys.create_api_key(site.db, "acme")
    admin_key = await apikeys.create_api_key(site.db, None)
    browser = await site.browser(await site.user("owner", "other"))
    page = await browser.get("/credentials")
    assert theirs.credential.username not in page.text
    assert their_key.info.prefix not in page.text
    assert admin_key.info.prefix not in page.text
    credential = f"/credentials/{theirs.credential.id}"
    attempts = [
        (f"{credential}/revoke", {"confirmed": "yes"}, 404),
        (f"{credential}/pause", {"reason": "x", "confirmed": "yes"}, 404),
        (f"{credential}/resume", {}, 404),
        (f"/credentials/api-keys/{their_key.info.id}/revoke", {"confirmed": "yes"}, 404),
        (f"/credentials/api-keys/{admin_key.info.id}/revoke", {"confirmed": "yes"}, 404),
        ("/credentials", {"tenant": "acme"}, 404),
        ("/credentials/api-keys", {"key_tenant": "acme"}, 404),
        ("/credentials/networks", {"network_tenant": "other", "network_cidr": "10.0.0.0/8"}, 403),
        ("/credentials/networks/remove", {"cidr": "10.0.0.0/8", "confirmed": "yes"}, 403),
    ]
    for path, data, status in attempts:
        refused = await site.post_form(browser, path, data, page="/credentials")
        assert refused.status_code == status, path
    assert [c.tenant for c in await tenants.list_credentials(site.db)] == ["acme"]
    [credential_after] = await tenants.list_credentials(site.db)
    assert (credential_after.revoked_at, credential_after.paused_reason) == (None, None)
    assert [k.revoked_at for k in await key_store.list_keys(site.db)] == [None, None]


async def test_an_admin_trusts_a_network_and_removes_it(site: Site) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    bad = await site.post_form(
        browser,
        "/credentials/networks",
        {"network_tenant": "acme", "network_cidr": "10.1.2.3/24"},
        "/credentials",
    )
    assert bad.status_code == 400
    assert re.search(r'id="e-network_cidr">[^<]*host bits set', bad.text)
    added = await site.post_form(
        browser,
        "/credentials/networks",
        {"network_tenant": "acme", "network_cidr": "10.1.2.0/24"},
        "/credentials",
    )
    assert added.status_code == 303
    assert "<code>10.1.2.0/24</code>" in (await browser.get("/credentials")).text
    form = {"cidr": "10.1.2.0/24"}
    asked = await site.post_form(browser, "/credentials/networks/remove", form, "/credentials")
    assert "Stop trusting 10.1.2.0/24?" in asked.text
    removed = await site.post_form(
        browser, "/credentials/networks/remove", {**form, "confirmed": "yes"}, "/credentials"
    )
    assert removed.status_code == 303
    assert "No trusted networks" in (await browser.get("/credentials")).text
    kinds = [(e.kind, e.subject) for e in await activity.list_activity(site.db) if e.actor]
    assert kinds == [("network.removed", "10.1.2.0/24"), ("network.added", "10.1.2.0/24")]
