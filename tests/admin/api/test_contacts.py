"""`/api/v1/lists` and `/api/v1/imports`: lists, contacts, a streamed CSV import and its report,
exports, tenant scoping and the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from gateway.feedback import suppressions
from gateway.storage import activity
from tests.support.site import Site


async def streamed(*parts: bytes) -> AsyncIterator[bytes]:
    """A request body sent in chunks, as a large file is."""
    for part in parts:
        yield part


async def test_a_tenant_key_imports_searches_edits_and_exports_a_list(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    created = await api.post("/lists", json={"name": "News"})
    assert created.status_code == 201, created.text
    list_id = created.json()["id"]
    assert created.json()["tenant"] == "acme"
    again = await api.post("/lists", json={"name": "News"})
    assert again.status_code == 409

    imported = await api.post(
        f"/lists/{list_id}/imports",
        params={"filename": "people.csv"},
        content=streamed(
            "\ufeffEmail;First Name;Company\r\n".encode(),
            "ann@Bücher.example;Ann;=cmd()\r\nbob@example.com;Bob;\r\n".encode(),
            b"nope;x;y\r\nBOB@example.com;Robert;\r\n",
        ),
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    report = imported.json()
    counted = ("state", "rows", "added", "updated", "duplicates", "invalid")
    assert {k: report[k] for k in counted} == {
        "state": "done",
        "rows": 4,
        "added": 2,
        "updated": 0,
        "duplicates": 1,
        "invalid": 1,
    }
    assert report["filename"] == "people.csv"
    invalid = await api.get(f"/imports/{report['id']}/invalid")
    assert invalid.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(invalid.text)))[1][0] == "4"

    await suppressions.add(site.db, "bob@example.com", "acme")
    shown = (await api.get(f"/lists/{list_id}")).json()
    assert shown["counts"] == {"total": 2, "subscribed": 1, "unsubscribed": 0, "suppressed": 1}
    found = (await api.get(f"/lists/{list_id}/contacts", params={"search": "xn--"})).json()
    assert [c["email"] for c in found["data"]] == ["ann@xn--bcher-kva.example"]
    assert found["data"][0]["fields"] == {"first_name": "Ann", "company": "=cmd()"}
    suppressed = await api.get(f"/lists/{list_id}/contacts", params={"status": "suppressed"})
    assert [c["email"] for c in suppressed.json()["data"]] == ["bob@example.com"]

    edited = await api.patch(
        f"/lists/{list_id}/contacts/ann@xn--bcher-kva.example",
        json={"fields": {"City": "Oslo"}, "unset": ["company"], "status": "unsubscribed"},
    )
    assert edited.status_code == 200, edited.text
    contact = edited.json()
    assert contact["fields"] == {"first_name": "Ann", "city": "Oslo"}
    assert (contact["status"], contact["unsubscribed_how"]) == ("unsubscribed", "api")
    assert contact["unsubscribed_at"]

    export = await api.get(f"/lists/{list_id}/export")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["email"], r["status"]) for r in rows] == [
        ("ann@xn--bcher-kva.example", "unsubscribed"),
        ("bob@example.com", "suppressed"),
    ]
    added = await api.post(
        f"/lists/{list_id}/contacts", json={"email": "new@example.com", "fields": {"a": "1"}}
    )
    assert added.status_code == 201
    removed = await api.delete(f"/lists/{list_id}/contacts/new@example.com")
    assert removed.status_code == 204
    assert (await api.get(f"/lists/{list_id}/contacts/new@example.com")).status_code == 404

    kinds = [e.kind for e in await activity.list_activity(site.db, limit=100)]
    for kind in ("list.created", "contacts.imported", "contact.updated", "contact.added"):
        assert kind in kinds
    assert "contact.removed" in kinds


async def test_a_refused_file_answers_400_and_imports_nothing(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    list_id = (await api.post("/lists", json={"name": "n"})).json()["id"]
    answer = await api.post(
        f"/lists/{list_id}/imports",
        content=b"name\nAnn\n",
        headers={"content-type": "text/csv"},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "file"
    assert "no `email` column" in error["message"]
    assert "nothing was imported" in error["message"]
    [report] = (await api.get(f"/lists/{list_id}/imports")).json()["data"]
    assert (report["state"], report["added"]) == ("failed", 0)
    assert (await api.get(f"/lists/{list_id}")).json()["counts"]["total"] == 0


async def test_another_tenants_list_is_not_found(site: Site) -> None:
    admin = await site.api(await site.key())
    await site.tenant("globex")
    theirs = (await admin.post("/lists", json={"name": "x", "tenant": "globex"})).json()
    acme = await site.api(await site.key("acme"))
    assert (await acme.get(f"/lists/{theirs['id']}")).status_code == 404
    assert (await acme.get("/lists")).json() == {"data": []}
    assert [entry["name"] for entry in (await admin.get("/lists")).json()["data"]] == ["x"]
    refused = await admin.post("/lists", json={"name": "y"})
    assert refused.status_code == 400
