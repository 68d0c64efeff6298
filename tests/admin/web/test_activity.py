"""The Activity page: notifications (unread highlighted, marked read) and the audit log with
who, when and from where, its filters and pages; each tenant sees its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from admin.ops.activity import PAGE_SIZE
from gateway.storage import notifications
from gateway.storage.activity import record_activity
from tests.support.site import Site

NOW = datetime.now(UTC)


async def raise_notifications(site: Site) -> dict[str, int]:
    """A notification of acme, of beta and of the gateway: their ids by kind."""
    acme, beta = await site.tenant("acme"), await site.tenant("beta")
    await record_activity(site.db, acme, "domain.verified", "acme.test", "SES verified", NOW, True)
    await record_activity(site.db, beta, "tenant.paused", "beta", "5% bounced", NOW, True)
    await record_activity(site.db, None, "sns.unsubscribed", "arn:topic", "gone", NOW, True)
    return {n.kind: n.id for n in await notifications.list_notifications(site.db)}


def unread_rows(html: str) -> int:
    return len(re.findall(r'<tr class="unread">', html))


@pytest.mark.parametrize("role", ["admin", "owner", "viewer"])
async def test_the_page_shows_notifications_and_the_log_to_everyone(site: Site, role: str) -> None:
    await raise_notifications(site)
    browser = await site.browser(await site.user(role, None if role == "admin" else "acme"))
    page = await browser.get("/activity")
    assert page.status_code == 200
    assert "acme.test" in page.text
    assert unread_rows(page.text) == (3 if role == "admin" else 1)
    assert ("5% bounced" in page.text) is (role == "admin")
    assert ("arn:topic" in page.text) is (role == "admin")


async def test_an_empty_page_says_what_will_appear(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/activity")
    assert "No notifications." in page.text
    assert "Nothing has happened yet" in page.text


async def test_a_viewer_marks_one_read_then_all(site: Site) -> None:
    ids = await raise_notifications(site)
    acme = await site.tenant("acme")
    await record_activity(site.db, acme, "quota.near-limit", "acme", "80%", NOW, True)
    browser = await site.browser(await site.user("viewer", "acme"))
    one = f"/activity/notifications/{ids['domain.verified']}/read"
    done = await site.post_form(browser, one, {}, page="/activity")
    assert (done.status_code, done.headers["location"]) == (303, "/activity")
    assert unread_rows((await browser.get("/activity")).text) == 1
    done = await site.post_form(browser, "/activity/notifications/read", {}, page="/activity")
    assert done.status_code == 303
    page = await browser.get("/activity")
    assert unread_rows(page.text) == 0
    assert "Marked 1 notifications read." in page.text
    assert await notifications.unread_count(site.db) == 2  # beta's and the gateway's


async def test_another_tenants_notification_cannot_be_marked(site: Site) -> None:
    ids = await raise_notifications(site)
    browser = await site.browser(await site.user("owner", "acme"))
    for kind in ("tenant.paused", "sns.unsubscribed"):
        path = f"/activity/notifications/{ids[kind]}/read"
        refused = await site.post_form(browser, path, {}, page="/activity")
        assert refused.status_code == 404
    assert await notifications.unread_count(site.db) == 3


async def test_a_change_in_the_panel_is_logged_with_who_and_where(site: Site) -> None:
    email = await site.user("admin")
    browser = await site.browser(email)
    created = await site.post_form(browser, "/tenants", {"name": "acme"})
    assert created.status_code == 303
    page = await browser.get("/activity", params={"kind": "tenant", "actor": email})
    row = re.search(r"<tr>\s*<td><time.*?</tr>", page.text, re.S)
    assert row, page.text
    assert email in row.group(0)
    assert "127.0.0.1" in row.group(0)
    assert "tenant.created" in row.group(0)
    other = await browser.get("/activity", params={"actor": "gateway"})
    assert "tenant.created" not in other.text.split("Audit log")[1]


async def test_the_log_is_paged(site: Site) -> None:
    acme = await site.tenant("acme")
    for n in range(PAGE_SIZE + 1):
        await record_activity(site.db, acme, "domain.added", f"d{n}.test", "", NOW)
    browser = await site.browser(await site.user("owner", "acme"))
    first = await browser.get("/activity", params={"kind": "domain"})
    assert "d0.test" not in first.text
    older = re.search(r'<a href="(/activity\?[^"]*cursor=[^"]*)">Older', first.text)
    assert older
    second = await browser.get(older.group(1).replace("&amp;", "&"))
    assert "d0.test" in second.text
    assert "d1.test" not in second.text
    assert "Newest" in second.text


async def test_a_bad_date_is_a_field_error(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/activity", params={"since": "someday"})
    assert page.status_code == 400
    assert 'id="e-since"' in page.text


async def test_a_tenant_user_cannot_ask_for_another_tenant(site: Site) -> None:
    await site.tenant("beta")
    browser = await site.browser(await site.user("owner", "acme"))
    assert (await browser.get("/activity", params={"tenant": "beta"})).status_code == 404
