"""The Suppressions page: search, add, remove with confirmation, CSV export and upload, what
viewers and other tenants may do."""

from __future__ import annotations

import pytest

from gateway.feedback import suppressions
from gateway.storage import activity
from tests.support.site import Site, csrf_token


@pytest.mark.parametrize(
    ("role", "tenant"), [("admin", None), ("owner", "acme"), ("viewer", "acme")]
)
async def test_the_page_lists_what_the_user_may_see(
    site: Site, role: str, tenant: str | None
) -> None:
    await site.tenant("acme")
    await site.tenant("other")
    browser = await site.browser(await site.user(role, tenant))
    empty = await browser.get("/suppressions")
    assert empty.status_code == 200
    assert "No address is suppressed" in empty.text
    await suppressions.add(site.db, "everyone@example.org", reason="complaint")
    await suppressions.add(site.db, "ours@example.org", "acme", "bounce")
    await suppressions.add(site.db, "theirs@example.org", "other", "bounce")
    page = (await browser.get("/suppressions")).text
    assert "everyone@example.org" in page
    assert "ours@example.org" in page
    assert ("theirs@example.org" in page) is (role == "admin")
    assert ("Suppress an address" in page) is (role != "viewer")
    assert ("Import a CSV file" in page) is (role != "viewer")
    removable = page.count('action="/suppressions/remove"')
    assert removable == {"admin": 3, "owner": 1, "viewer": 0}[role]


async def test_an_owner_adds_and_removes_after_confirming(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    added = await site.post_form(
        browser,
        "/suppressions",
        {"address": "Gone@Example.org", "reason": "bounce", "detail": "5.1.1", "expires_at": ""},
    )
    assert (added.status_code, added.headers["location"]) == (303, "/suppressions")
    page = (await browser.get("/suppressions")).text
    assert "Suppressed gone@example.org for tenant acme." in page
    assert "gone@example.org" in page

    form = {"address": "gone@example.org", "tenant": "acme"}
    asked = await site.post_form(browser, "/suppressions/remove", form, page="/suppressions")
    assert asked.status_code == 200
    assert "Are you sure?" in asked.text
    assert len(await suppressions.list_entries(site.db)) == 1
    token = csrf_token(asked.text)
    removed = await browser.post(
        "/suppressions/remove", data={**form, "csrf_token": token, "confirmed": "yes"}
    )
    assert removed.status_code == 303
    assert await suppressions.list_entries(site.db) == []
    audit = await activity.list_activity(site.db, kind="suppression", limit=10)
    assert [(e.kind, e.subject, e.tenant) for e in reversed(audit)] == [
        ("suppression.added", "gone@example.org", "acme"),
        ("suppression.removed", "gone@example.org", "acme"),
    ]
    assert all(e.actor and e.actor.startswith("owner") for e in audit)


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"address": "nobody"}, "address", "is not a mail address"),
        ({"address": "a@example.org", "reason": "spam"}, "reason", "unknown reason"),
        ({"address": "a@example.org", "expires_at": "2020-01-01"}, "expires_at", "in the past"),
    ],
)
async def test_a_bad_form_shows_the_error_beside_its_field(
    site: Site, form: dict[str, str], field: str, says: str
) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    refused = await site.post_form(browser, "/suppressions", form)
    assert refused.status_code == 400
    assert f'<p class="field-error" id="e-{field}">' in refused.text
    assert says in refused.text
    assert await suppressions.list_entries(site.db) == []


async def test_filters_narrow_the_list_and_the_export(site: Site) -> None:
    await site.tenant("acme")
    await suppressions.add(site.db, "a@example.org", reason="bounce")
    await suppressions.add(site.db, "b@example.org", "acme", "complaint")
    browser = await site.browser(await site.user("admin"))
    page = (await browser.get("/suppressions?reason=complaint&search=example")).text
    assert "b@example.org" in page
    assert "a@example.org" not in page
    assert 'href="/suppressions/export?search=example&amp;reason=complaint"' in page
    exported = await browser.get("/suppressions/export?search=example&reason=complaint")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert [line.split(",")[0] for line in exported.text.splitlines()] == [
        "address",
        "b@example.org",
    ]
    bad = await browser.get("/suppressions?since=yesterday")
    assert bad.status_code == 400
    assert '<p class="field-error" id="e-since">' in bad.text
    none = await browser.get("/suppressions?scope=global&reason=complaint")
    assert "No suppression matches these filters" in none.text


async def test_an_uploaded_export_comes_back(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    await suppressions.add(site.db, "one@example.org", "acme", "bounce", "5.1.1")
    await suppressions.add(site.db, "two@example.org", "acme", "unsubscribe")
    exported = (await browser.get("/suppressions/export")).content
    for address in ("one@example.org", "two@example.org"):
        await suppressions.remove(site.db, address, "acme")
    token = csrf_token((await browser.get("/suppressions")).text)
    upload = exported + b"bad row\n"
    done = await browser.post(
        "/suppressions/import",
        data={"csrf_token": token},
        files={"file": ("suppressions.csv", upload, "text/csv")},
    )
    assert done.status_code == 200
    assert "Imported: added 2, updated 0, skipped 1." in done.text
    assert "Line 4: &#39;bad row&#39; is not a mail address" in done.text
    entries = await suppressions.list_entries(site.db)
    assert [(e.address, e.tenant, e.reason) for e in entries] == [
        ("one@example.org", "acme", "bounce"),
        ("two@example.org", "acme", "unsubscribe"),
    ]
    missing = await browser.post("/suppressions/import", data={"csrf_token": token})
    assert missing.status_code == 400
    assert "choose a CSV file" in missing.text


async def test_a_viewer_changes_nothing(site: Site) -> None:
    browser = await site.browser(await site.user("viewer", "acme"))
    await suppressions.add(site.db, "x@example.org", "acme")
    token = csrf_token((await browser.get("/suppressions")).text)
    for path, data in (
        ("/suppressions", {"address": "y@example.org"}),
        ("/suppressions/remove", {"address": "x@example.org", "confirmed": "yes"}),
    ):
        refused = await browser.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403, path
    upload = await browser.post(
        "/suppressions/import",
        data={"csrf_token": token},
        files={"file": ("s.csv", b"y@example.org\n", "text/csv")},
    )
    assert upload.status_code == 403
    assert [e.address for e in await suppressions.list_entries(site.db)] == ["x@example.org"]


async def test_an_owner_cannot_touch_global_or_other_tenants_entries(site: Site) -> None:
    await site.tenant("other")
    await suppressions.add(site.db, "everyone@example.org")
    await suppressions.add(site.db, "theirs@example.org", "other")
    browser = await site.browser(await site.user("owner", "acme"))
    token = csrf_token((await browser.get("/suppressions")).text)
    for data in (
        {"address": "everyone@example.org"},
        {"address": "theirs@example.org", "tenant": "other"},
        {"address": "theirs@example.org"},
    ):
        refused = await browser.post(
            "/suppressions/remove", data={"csrf_token": token, "confirmed": "yes", **data}
        )
        assert refused.status_code == 404, data
    assert (await browser.get("/suppressions?tenant=other")).status_code == 404
    assert "theirs@example.org" not in (await browser.get("/suppressions/export")).text
    assert len(await suppressions.list_entries(site.db)) == 2
