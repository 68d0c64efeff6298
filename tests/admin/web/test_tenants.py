"""Tenants and users pages (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.feedback import reputation
from gateway.storage import users
from gateway.storage.activity import list_activity
from tests.support.site import Site


async def test_an_admin_creates_a_tenant_and_sets_it_up(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    empty = await browser.get("/tenants")
    assert "No tenants yet" in empty.text
    created = await site.post_form(browser, "/tenants", {"name": "acme"})
    assert (created.status_code, created.headers["location"]) == (303, "/tenants/acme")
    page = await browser.get("/tenants/acme")
    assert "Created tenant acme." in page.text
    limits = await site.post_form(
        browser, "/tenants/acme", {"action": "limits", "max_per_day": "1000", "max_size": ""}
    )
    assert limits.status_code == 303
    assert 'value="1000"' in (await browser.get("/tenants/acme")).text
    bad = await site.post_form(browser, "/tenants/acme", {"action": "limits", "max_per_day": "x"})
    assert bad.status_code == 400
    assert 'id="e-max_per_day"' in bad.text
    paused = await site.post_form(
        browser, "/tenants/acme", {"action": "pause", "reason": "too many bounces"}
    )
    assert paused.status_code == 303
    assert "too many bounces" in (await browser.get("/tenants")).text
    kinds = [a.kind for a in await list_activity(site.db, "acme")]
    assert kinds[:3] == ["tenant.pause", "tenant.limits", "tenant.created"]
    [first] = [a for a in await list_activity(site.db, "acme") if a.kind == "tenant.created"]
    assert first.actor is not None
    assert first.actor.startswith("admin")
    assert first.client_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_per_second", "inf", "max_per_second must be a finite number more than 0"),
        ("max_per_second", "nan", "max_per_second must be a finite number more than 0"),
        ("max_per_second", "-1", "max_per_second must be a finite number more than 0"),
        ("max_per_day", "1.5", "max_per_day must be a whole number more than 0"),
    ],
)
async def test_a_limit_is_refused_as_the_api_and_the_cli_refuse_it(
    site: Site, field: str, value: str, message: str
) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    refused = await site.post_form(browser, "/tenants/acme", {"action": "limits", field: value})
    assert refused.status_code == 400
    assert f'id="e-{field}"' in refused.text
    assert message in refused.text


async def test_a_pause_and_a_resume_are_audited_once_and_leave_the_reputation_window(
    site: Site,
) -> None:
    """As from the API and the CLI: only the reputation guard's own pause restarts the window."""
    acme = await site.tenant("acme")
    email = await site.user("admin")
    browser = await site.browser(email)
    for form in ({"action": "pause", "reason": "checking"}, {"action": "resume"}):
        assert (await site.post_form(browser, "/tenants/acme", form)).status_code == 303
    entries = [(e.kind, e.detail, e.actor) for e in await list_activity(site.db, "acme")]
    assert entries == [("tenant.resume", "", email), ("tenant.pause", "checking", email)]
    settings = site.services.settings
    now = datetime.now(UTC)
    since, _ = await reputation.judge(site.db, settings, acme, "acme", now)
    assert since == now - timedelta(days=settings.reputation_window_days)


async def test_a_tenant_name_is_checked_field_by_field(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    bad = await site.post_form(browser, "/tenants", {"name": "Has Spaces"})
    assert bad.status_code == 400
    assert 'id="e-name"' in bad.text
    await site.post_form(browser, "/tenants", {"name": "acme"})
    taken = await site.post_form(browser, "/tenants", {"name": "acme"})
    assert "already exists" in taken.text


async def test_owners_and_viewers_cannot_reach_the_admin_pages(site: Site) -> None:
    for role in ("owner", "viewer"):
        browser = await site.browser(await site.user(role, "acme"))
        page = await browser.get("/account")
        assert 'href="/tenants"' not in page.text
        for path in ("/tenants", "/tenants/acme", "/users"):
            assert (await browser.get(path)).status_code == 403, (role, path)
        refused = await site.post_form(browser, "/tenants", {"name": "mine"}, page="/account")
        assert refused.status_code == 403


async def test_an_admin_adds_and_removes_users(site: Site) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("admin"))
    added = await site.post_form(
        browser, "/users", {"email": "ops@acme.test", "role": "owner", "tenant": "acme"}
    )
    assert added.status_code == 200
    assert "shown only now" in added.text
    no_tenant = await site.post_form(browser, "/users", {"email": "v@acme.test", "role": "viewer"})
    assert no_tenant.status_code == 400
    assert 'id="e-tenant"' in no_tenant.text
    [owner] = [u for u in await users.list_users(site.db) if u.email == "ops@acme.test"]
    asked = await site.post_form(browser, f"/users/{owner.id}/remove", {}, page="/users")
    assert asked.status_code == 200
    assert "Are you sure?" in asked.text
    removed = await site.post_form(
        browser, f"/users/{owner.id}/remove", {"confirmed": "yes"}, page="/users"
    )
    assert removed.status_code == 303
    assert "Removed ops@acme.test." in (await browser.get("/users")).text
    assert "ops@acme.test" not in (await browser.get("/users")).text
