"""`/api/v1/templates`: create (sanitised), list, read, change, preview, test-send through the
policy and the spool, delete; refusals name their field; tenant isolation; the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from gateway.feedback import suppressions
from gateway.storage import activity, queue, tenants
from tests.conftest import add_verified_domain
from tests.support.messages import SEALER
from tests.support.site import Site

HTML = '<h1>Hi {{name | default("there")}}</h1><p onclick="x()">At {{company}}</p>'


async def test_a_template_is_created_previewed_test_sent_changed_and_deleted(site: Site) -> None:
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "acme.test")
    api = await site.api(await site.key("acme"))
    created = await api.post(
        "/templates", json={"name": "welcome", "subject": "Hi {{name}}", "html": HTML}
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["html"] == '<h1>Hi {{name | default("there")}}</h1><p>At {{company}}</p>'
    assert (template["tenant"], template["text"]) == ("acme", None)
    assert (template["variables"], template["required"]) == (
        ["name", "company"],
        ["name", "company"],
    )
    path = f"/templates/{template['id']}"
    assert [t["id"] for t in (await api.get("/templates")).json()["data"]] == [template["id"]]
    assert (await api.get(path)).json() == template

    fields = {"name": "<Bo>", "company": "A&B"}
    preview = await api.post(f"{path}/preview", json={"variables": fields})
    assert preview.json() == {
        "subject": "Hi <Bo>",
        "html": "<h1>Hi &lt;Bo&gt;</h1><p>At A&amp;B</p>",
        "text": "Hi <Bo>\n\nAt A&B\n",
    }
    missing = await api.post(f"{path}/preview", json={"variables": {"name": "Bo"}})
    assert (missing.status_code, missing.json()["error"]["field"]) == (400, "variables")
    assert "no value and no default for company" in missing.json()["error"]["message"]

    sent = await api.post(
        f"{path}/test",
        json={"to": "bo@customer.test", "from": "news@acme.test", "variables": fields},
    )
    assert sent.status_code == 202, sent.text
    queue_id = sent.json()["queue_id"]
    status = await queue.message_status(site.db, SEALER, queue_id)
    assert (status.tenant, status.mail_from, status.subject) == (
        "acme",
        "news@acme.test",
        "Hi <Bo>",
    )
    now = datetime.now(UTC)
    [job] = await queue.claim(
        site.db, site.services.sealer, "t", 1, now, now + timedelta(minutes=1)
    )
    message = message_from_bytes(job.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert (message["To"], message["Subject"]) == ("bo@customer.test", "Hi <Bo>")
    text, html = (part.get_content().replace("\r\n", "\n") for part in message.iter_parts())
    assert (text, html.strip()) == (
        "Hi <Bo>\n\nAt A&B\n",
        "<h1>Hi &lt;Bo&gt;</h1><p>At A&amp;B</p>",
    )

    changed = await api.patch(path, json={"text": "Dear {{name}}", "subject": "Yo"})
    assert (changed.json()["text"], changed.json()["subject"]) == ("Dear {{name}}", "Yo")
    assert changed.json()["required"] == ["company", "name"]
    made = await api.patch(
        path, json={"text": "", "html": '<p>{{company}}<img src=x onerror="y()">'}
    )
    assert (made.json()["text"], made.json()["html"]) == (None, '<p>{{company}}<img src="x"></p>')
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    audit = await activity.list_activity(site.db, kind="template", limit=10)
    assert [(e.kind, e.tenant) for e in reversed(audit)] == [
        ("template.created", "acme"),
        ("template.test_sent", "acme"),
        ("template.updated", "acme"),
        ("template.updated", "acme"),
        ("template.deleted", "acme"),
    ]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"name": "t", "subject": "s", "html": "<p>{{ x.y }}</p>"}, "html", "is not a variable"),
        ({"name": "t", "subject": "{{a", "html": "<p>x</p>"}, "subject", "without its }}"),
        ({"name": "t", "subject": "s\nBcc: x", "html": "<p>x</p>"}, "subject", "one line"),
        ({"name": "t", "subject": "s", "html": ""}, "html", "needs an HTML part"),
        ({"name": "", "subject": "s", "html": "<p>x</p>"}, "name", "at least 1 character"),
        ({"name": "t", "subject": "s", "html": "<p>x</p>", "code": "x"}, "code", "Extra inputs"),
    ],
)
async def test_refusals_name_their_field(
    site: Site, body: dict[str, Any], field: str, says: str
) -> None:
    api = await site.api(await site.key("acme"))
    refused = await api.post("/templates", json=body)
    error = refused.json()["error"]
    assert (refused.status_code, error["field"]) == (400, field), error
    assert says in error["message"]
    assert (await api.get("/templates")).json()["data"] == []


async def test_a_test_send_is_policed_like_smtp(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    created = await api.post("/templates", json={"name": "t", "subject": "s", "html": "<p>x</p>"})
    test = f"/templates/{created.json()['id']}/test"
    refused = await api.post(test, json={"to": "a@customer.test", "from": "me@acme.test"})
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "from")
    assert "sender-unknown" in refused.json()["error"]["message"]
    bad = await api.post(test, json={"to": "not an address", "from": "me@acme.test"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "to")
    await add_verified_domain(site.db, await site.tenant("acme"), "acme.test")
    await suppressions.add(site.db, "gone@customer.test", "acme", "manual", "asked")
    gone = await api.post(test, json={"to": "gone@customer.test", "from": "me@acme.test"})
    assert (gone.status_code, gone.json()["error"]["field"]) == (400, "to")
    assert (
        "refused (suppressed): Recipient gone@customer.test is suppressed"
        in (gone.json()["error"]["message"])
    )
    await tenants.set_tenant_paused(site.db, "acme", "too many bounces")
    paused = await api.post(test, json={"to": "a@customer.test", "from": "me@acme.test"})
    assert "refused (paused): sending paused: too many bounces" in paused.json()["error"]["message"]
    assert await queue.pending_count(site.db) == 0


async def test_a_tenant_key_never_reaches_another_tenants_template(site: Site) -> None:
    admin = await site.api(await site.key())
    await site.tenant("other")
    theirs = await admin.post(
        "/templates", json={"name": "t", "subject": "secret", "html": "<p>x</p>", "tenant": "other"}
    )
    assert theirs.status_code == 201
    theirs_id = theirs.json()["id"]
    api = await site.api(await site.key("acme"))
    assert (await api.get("/templates")).json()["data"] == []
    assert (await api.get("/templates?tenant=other")).status_code == 404
    for method, path, body in (
        ("GET", f"/templates/{theirs_id}", None),
        ("PATCH", f"/templates/{theirs_id}", {"subject": "mine"}),
        ("DELETE", f"/templates/{theirs_id}", None),
        ("POST", f"/templates/{theirs_id}/preview", {}),
        ("POST", f"/templates/{theirs_id}/test", {"to": "a@x.test", "from": "b@x.test"}),
    ):
        refused = await api.request(method, path, json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found"), path
    elsewhere = await api.post(
        "/templates", json={"name": "t", "subject": "s", "html": "<p>x</p>", "tenant": "other"}
    )
    assert elsewhere.status_code == 404
    assert (await admin.get(f"/templates/{theirs_id}")).json()["subject"] == "secret"
    unnamed = await admin.post("/templates", json={"name": "t", "subject": "s", "html": "<p>x</p>"})
    assert (unnamed.status_code, unnamed.json()["error"]["field"]) == (400, "tenant")


async def test_a_preview_and_a_test_send_with_a_contacts_fields(site: Site) -> None:
    await add_verified_domain(site.db, await site.tenant("acme"), "acme.test")
    api = await site.api(await site.key("acme"))
    html = "<p>Hi {{name}} ({{email}}) of {{company}}</p>"
    created = await api.post("/templates", json={"name": "t", "subject": "s", "html": html})
    path = f"/templates/{created.json()['id']}"
    news, vip = [(await api.post("/lists", json={"name": n})).json()["id"] for n in ("news", "vip")]
    contact = {"email": "Eve@Example.org", "fields": {"name": "<Eve>", "company": "E&Co"}}
    assert (await api.post(f"/lists/{news}/contacts", json=contact)).status_code == 201

    shown = await api.post(f"{path}/preview", json={"contact": "eve@example.org"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["html"] == "<p>Hi &lt;Eve&gt; (eve@example.org) of E&amp;Co</p>"
    given = {"contact": "eve@example.org", "variables": {"company": "Given"}}
    assert "of Given" in (await api.post(f"{path}/preview", json=given)).json()["html"]

    added = await api.post(f"/lists/{vip}/contacts", json={"email": "eve@example.org"})
    assert added.status_code == 201
    twice = await api.post(f"{path}/preview", json={"contact": "eve@example.org"})
    assert (twice.status_code, twice.json()["error"]["field"]) == (400, "list")
    assert twice.json()["error"]["message"] == (
        "eve@example.org is on 2 lists: name one of 'news', 'vip'"
    )
    on_news = await api.post(f"{path}/preview", json={"contact": "eve@example.org", "list": "news"})
    assert on_news.json() == shown.json()
    on_vip = await api.post(f"{path}/preview", json={"contact": "eve@example.org", "list": "vip"})
    assert (on_vip.status_code, on_vip.json()["error"]["field"]) == (400, "variables")
    nobody = await api.post(f"{path}/preview", json={"contact": "nobody@example.org"})
    assert nobody.status_code == 404

    sent = await api.post(
        f"{path}/test",
        json={"to": "me@acme.test", "from": "news@acme.test", "contact": "eve@example.org",
              "list": "news"},
    )  # fmt: skip
    assert sent.status_code == 202, sent.text
    [job] = await queue.claim(
        site.db,
        site.services.sealer,
        "w",
        5,
        datetime.now(UTC) + timedelta(minutes=1),
        datetime.now(UTC) + timedelta(minutes=2),
    )
    parsed = message_from_bytes(job.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("html",))
    assert body is not None
    assert body.get_content().strip() == "<p>Hi &lt;Eve&gt; (eve@example.org) of E&amp;Co</p>"
    assert parsed["To"] == "me@acme.test"
