"""`/api/v1/suppressions`: search with filters and pages, add, remove, CSV export and import,
global entries read-only for tenants, tenant isolation and the audit log."""

from __future__ import annotations

from typing import Any

from gateway.core.types.events import SuppressionInfo
from gateway.feedback import suppressions
from gateway.storage import activity
from tests.support.site import Site


async def _audit(site: Site) -> list[tuple[str | None, str, str, str]]:
    found = await activity.list_activity(site.db, kind="suppression", limit=100)
    return [(e.tenant, e.kind, e.subject, e.detail) for e in reversed(found)]


def _fields(entry: SuppressionInfo) -> tuple[Any, ...]:
    """An entry without its id."""
    return (entry.address, entry.tenant, entry.reason, entry.detail, entry.created_at)


def _addresses(listed: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["address"], e["tenant"]) for e in listed["data"]]


async def test_an_admin_adds_searches_and_removes_entries_of_any_scope(site: Site) -> None:
    await site.tenant("acme")
    api = await site.api(await site.key())
    everyone = await api.post("/suppressions", json={"address": "All@Example.org"})
    assert everyone.status_code == 201
    assert everyone.json() | {"id": 0, "created_at": ""} == {
        "id": 0,
        "address": "all@example.org",
        "tenant": None,
        "reason": "manual",
        "detail": "",
        "created_at": "",
        "expires_at": None,
        "added": True,
    }
    acme = await api.post(
        "/suppressions",
        json={
            "address": "gone@example.org",
            "tenant": "acme",
            "reason": "bounce",
            "detail": "5.1.1",
            "expires_at": "2099-01-01",
        },
    )
    assert acme.json()["expires_at"] == "2099-01-01T00:00:00Z"
    again = await api.post(
        "/suppressions", json={"address": "gone@example.org", "tenant": "acme", "reason": "bounce"}
    )
    assert (again.status_code, again.json()["added"]) == (201, False)

    newest_first = [("gone@example.org", "acme"), ("all@example.org", None)]
    assert _addresses((await api.get("/suppressions")).json()) == newest_first
    assert _addresses((await api.get("/suppressions?scope=global")).json()) == newest_first[1:]
    own = (await api.get("/suppressions", params={"scope": "tenant", "tenant": "acme"})).json()
    assert _addresses(own) == newest_first[:1]
    assert _addresses((await api.get("/suppressions?reason=bounce")).json()) == newest_first[:1]
    assert _addresses((await api.get("/suppressions?search=ALL@")).json()) == newest_first[1:]
    assert (await api.get("/suppressions?since=2099-01-01")).json()["data"] == []
    assert len((await api.get("/suppressions?until=2099-01-01")).json()["data"]) == 2

    removed = await api.delete("/suppressions/gone@example.org", params={"tenant": "acme"})
    assert removed.status_code == 200
    global_one = await api.delete("/suppressions/all@example.org")
    assert global_one.status_code == 200
    gone = await api.delete("/suppressions/all@example.org")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    assert [(tenant, kind, subject) for tenant, kind, subject, _ in await _audit(site)] == [
        (None, "suppression.added", "all@example.org"),
        ("acme", "suppression.added", "gone@example.org"),
        ("acme", "suppression.updated", "gone@example.org"),
        ("acme", "suppression.removed", "gone@example.org"),
        (None, "suppression.removed", "all@example.org"),
    ]


async def test_a_tenant_key_sees_global_entries_but_changes_only_its_own(site: Site) -> None:
    await site.tenant("other")
    api = await site.api(await site.key("acme"))
    diagnostic = "bounced for tenant other: 550 5.1.1, SES id 0100abc"
    await suppressions.add(site.db, "everyone@example.org", None, "bounce", diagnostic)
    await suppressions.add(site.db, "theirs@example.org", "other")
    added = await api.post("/suppressions", json={"address": "mine@example.org"})
    assert added.json()["tenant"] == "acme"
    answer = await api.get("/suppressions")
    listed = _addresses(answer.json())
    assert listed == [("mine@example.org", "acme"), ("everyone@example.org", None)]
    assert diagnostic not in answer.text  # another tenant's bounce, in a global entry
    assert (await api.get("/suppressions?tenant=other")).status_code == 404
    csv = (await api.get("/suppressions/export")).text
    assert "theirs@example.org" not in csv
    assert "everyone@example.org" in csv
    assert diagnostic not in csv

    for address in ("everyone@example.org", "theirs@example.org"):
        refused = await api.delete(f"/suppressions/{address}")
        assert refused.status_code == 404, address
    assert (await api.delete("/suppressions/theirs@example.org?tenant=other")).status_code == 404
    elsewhere = await api.post(
        "/suppressions", json={"address": "x@example.org", "tenant": "other"}
    )
    assert elsewhere.status_code == 404
    assert len(await suppressions.list_entries(site.db)) == 3
    assert (await api.delete("/suppressions/mine@example.org")).status_code == 200


async def test_bad_input_names_its_field(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"address": "nobody"}, "address", "is not a mail address"),
        ({"address": "a@example.org", "reason": "spam"}, "reason", "Input should be"),
        ({"address": "a@example.org", "expires_at": "2020-01-01"}, "expires_at", "in the past"),
        ({"address": "a@example.org", "expires_at": "soon"}, "expires_at", "not an ISO date"),
        ({"address": "a@example.org", "colour": "red"}, "colour", "Extra inputs"),
    ]
    for body, field, says in cases:
        refused = await api.post("/suppressions", json=body)
        error = refused.json()["error"]
        assert (refused.status_code, error["field"]) == (400, field), body
        assert says in error["message"]
    for query, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ):
        refused = await api.get("/suppressions", params=query)
        assert (refused.status_code, refused.json()["error"]["field"]) == (400, field), query


async def test_pages_follow_the_cursor(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    for n in range(5):
        await api.post("/suppressions", json={"address": f"n{n}@example.org"})
    seen: list[str] = []
    cursor = ""
    while True:
        page = (await api.get("/suppressions", params={"limit": 2, "cursor": cursor})).json()
        seen += [e["address"] for e in page["data"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == [f"n{n}@example.org" for n in reversed(range(5))]


async def test_an_export_imports_back_to_the_same_entries(site: Site) -> None:
    await site.tenant("acme")
    api = await site.api(await site.key())
    await suppressions.add(site.db, "a@example.org", reason="bounce", detail='said "no", twice')
    await suppressions.add(site.db, "b@bücher.example", "acme", "unsubscribe")
    await suppressions.add(site.db, "c@example.net", "acme", "complaint")
    formula = '=HYPERLINK("http://evil.example/","open me")'
    await suppressions.add(site.db, "d@example.net", "acme", "manual", detail=formula)
    before = await suppressions.list_entries(site.db)
    exported = await api.get("/suppressions/export")
    assert f"'{formula}".replace('"', '""') in exported.text  # inert in a spreadsheet
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == ",".join(suppressions.CSV_COLUMNS)
    filtered = (await api.get("/suppressions/export?reason=complaint")).text.splitlines()
    assert [line.split(",")[0] for line in filtered[1:]] == ["c@example.net"]
    for entry in before:
        await suppressions.remove(site.db, entry.address, entry.tenant)

    imported = await api.post(
        "/suppressions/import",
        content=exported.content,
        headers={"content-type": "text/csv"},
    )
    assert imported.json() == {"added": 4, "updated": 0, "skipped": 0, "errors": []}
    after = await suppressions.list_entries(site.db)
    assert [_fields(e) for e in after] == [_fields(e) for e in before]
    [(_, _, _, detail)] = [row for row in await _audit(site) if row[1] == "suppression.imported"]
    assert detail == "added 4, updated 0, skipped 0"


async def test_an_import_reports_bad_rows_by_line(site: Site) -> None:
    await site.tenant("other")
    api = await site.api(await site.key("acme"))
    body = (
        "address,tenant,reason\n"
        "ok@example.org,,bounce\n"
        "not-an-address,,\n"
        "x@example.org,other,manual\n"
        "y@example.org,,spam\n"
    )
    imported = await api.post("/suppressions/import", content=body.encode())
    answer = imported.json()
    assert (answer["added"], answer["skipped"]) == (1, 3)
    assert [e["line"] for e in answer["errors"]] == [3, 4, 5]
    assert "is not a mail address" in answer["errors"][0]["message"]
    assert "unknown reason 'spam'" in answer["errors"][2]["message"]
    [entry] = await suppressions.list_entries(site.db)
    assert (entry.address, entry.tenant) == ("ok@example.org", "acme")
    unreadable = await api.post("/suppressions/import", content=b"\xff\xfe\x00")
    assert (unreadable.status_code, unreadable.json()["error"]["field"]) == (400, "file")
    empty = await api.post("/suppressions/import")
    assert (empty.status_code, empty.json()["error"]["field"]) == (400, "file")
    headless = await api.post("/suppressions/import", content=b"who,what\n")
    assert headless.status_code == 400
    assert "no `address` column" in headless.json()["error"]["message"]
