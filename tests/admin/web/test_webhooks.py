"""The Webhooks pages: add with field errors and the secret shown once, test-send to a real
HTTPS receiver, recent attempts, remove with confirmation, viewers and other tenants."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.storage import activity
from gateway.storage import webhooks as store
from gateway.webhooks import manage
from tests.support.site import Site, csrf_token
from tests.support.webhookreceiver import Receiver

SECRET = re.compile(r'<code id="webhook-secret">(whsec_[^<]+)</code>')


@pytest.fixture
def site_settings(receiver: Receiver) -> dict[str, Any]:
    return receiver.settings()


@pytest.mark.parametrize(
    ("role", "tenant"), [("admin", None), ("owner", "acme"), ("viewer", "acme")]
)
async def test_the_pages_render_for_every_role(
    site: Site, receiver: Receiver, role: str, tenant: str | None
) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user(role, tenant))
    empty = await browser.get("/webhooks")
    assert empty.status_code == 200
    assert "No webhooks yet." in empty.text
    assert ("Add a webhook" in empty.text) is (role != "viewer")
    hook, _ = await manage.add(
        site.db, b"test secret key", "acme", receiver.url, ("bounce",), allow_private=True
    )
    listed = await browser.get("/webhooks")
    assert f'href="/webhooks/{hook.id}"' in listed.text
    detail = await browser.get(f"/webhooks/{hook.id}")
    assert detail.status_code == 200
    assert "No attempts yet" in detail.text
    assert ("Send a test event" in detail.text) is (role != "viewer")


async def test_an_owner_adds_tests_and_removes_a_webhook(site: Site, receiver: Receiver) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    added = await site.post_form(
        browser, "/webhooks", {"url": receiver.url, "event_bounce": "yes", "event_open": "yes"}
    )
    assert added.status_code == 200
    secret = SECRET.search(added.text)
    assert secret
    assert 'data-copy="#webhook-secret"' in added.text
    [hook] = await store.list_webhooks(site.db)
    assert (hook.tenant, hook.url, hook.events) == ("acme", receiver.url, ("bounce", "open"))
    assert secret.group(1) not in (await browser.get("/webhooks")).text

    receiver.secret = secret.group(1)
    await receiver.start()
    tested = await site.post_form(browser, f"/webhooks/{hook.id}/test", {}, f"/webhooks/{hook.id}")
    assert (tested.status_code, tested.headers["location"]) == (303, f"/webhooks/{hook.id}")
    [event] = receiver.events
    assert event["type"] == "test"
    detail = (await browser.get(f"/webhooks/{hook.id}")).text
    assert "Test event delivered: HTTP 200 in" in detail
    assert event["id"] in detail

    page = f"/webhooks/{hook.id}"
    asked = await site.post_form(browser, f"/webhooks/{hook.id}/remove", {}, page)
    assert "Are you sure?" in asked.text
    assert len(await store.list_webhooks(site.db)) == 1
    removed = await browser.post(
        f"/webhooks/{hook.id}/remove",
        data={"csrf_token": csrf_token(asked.text), "confirmed": "yes"},
    )
    assert (removed.status_code, removed.headers["location"]) == (303, "/webhooks")
    assert await store.list_webhooks(site.db) == []
    audit = await activity.list_activity(site.db, kind="webhook", limit=10)
    assert [e.kind for e in reversed(audit)] == [
        "webhook.added",
        "webhook.tested",
        "webhook.removed",
    ]
    assert all(secret.group(1) not in e.detail for e in audit)


async def test_a_failed_test_shows_why(site: Site, receiver: Receiver) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    hook, _ = await manage.add(
        site.db, b"test secret key", "acme", receiver.url, (), allow_private=True
    )
    await site.post_form(browser, f"/webhooks/{hook.id}/test", {}, f"/webhooks/{hook.id}")
    detail = (await browser.get(f"/webhooks/{hook.id}")).text
    assert "Test event failed:" in detail
    assert detail.count("<td>—</td>") == 1  # no status code in the attempts table


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"url": "http://hooks.example/"}, "url", "only https:// URLs"),
        ({"url": "https://u:p@hooks.example/"}, "url", "must not carry a user"),
        ({"url": ""}, "url", "only https:// URLs"),
    ],
)
async def test_a_bad_url_is_shown_beside_its_field(
    site: Site, form: dict[str, str], field: str, says: str
) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    refused = await site.post_form(browser, "/webhooks", form)
    assert refused.status_code == 400
    assert f'<p class="field-error" id="e-{field}">' in refused.text
    assert says in refused.text
    assert await store.list_webhooks(site.db) == []


@pytest.mark.parametrize("site_settings", [{}])
async def test_a_private_address_is_refused_unless_allowed(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    refused = await site.post_form(browser, "/webhooks", {"url": "https://127.0.0.1:8443/hook"})
    assert refused.status_code == 400
    assert "is not a public address" in refused.text
    assert 'value="https://127.0.0.1:8443/hook"' in refused.text


async def test_an_admin_must_choose_the_tenant(site: Site, receiver: Receiver) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    refused = await site.post_form(browser, "/webhooks", {"url": receiver.url})
    assert refused.status_code == 400
    assert "name the tenant" in refused.text
    added = await site.post_form(browser, "/webhooks", {"url": receiver.url, "tenant": "acme"})
    assert SECRET.search(added.text)


async def test_a_viewer_and_another_tenant_are_refused(site: Site, receiver: Receiver) -> None:
    await site.tenant("acme")
    hook, _ = await manage.add(
        site.db, b"test secret key", "acme", receiver.url, (), allow_private=True
    )
    viewer = await site.browser(await site.user("viewer", "acme"))
    token = csrf_token((await viewer.get("/webhooks")).text)
    for path in ("/webhooks", f"/webhooks/{hook.id}/test", f"/webhooks/{hook.id}/remove"):
        refused = await viewer.post(
            path, data={"csrf_token": token, "url": receiver.url, "confirmed": "yes"}
        )
        assert refused.status_code == 403, path
    stranger = await site.browser(await site.user("owner", "other"))
    assert hook.url not in (await stranger.get("/webhooks")).text
    assert (await stranger.get(f"/webhooks/{hook.id}")).status_code == 404
    token = csrf_token((await stranger.get("/webhooks")).text)
    for path in (f"/webhooks/{hook.id}/test", f"/webhooks/{hook.id}/remove"):
        refused = await stranger.post(path, data={"csrf_token": token, "confirmed": "yes"})
        assert refused.status_code == 404, path
    assert receiver.requests == 0
    assert [w.id for w in await store.list_webhooks(site.db)] == [hook.id]
