"""`/api/v1/webhooks`: add (the secret once), test-send to a real HTTPS receiver, attempts,
remove, URL refusals, tenant isolation and the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.storage import activity
from gateway.webhooks import manage
from tests.support.site import Site
from tests.support.webhookreceiver import Receiver


@pytest.fixture
def site_settings(receiver: Receiver) -> dict[str, Any]:
    return receiver.settings()


async def test_a_webhook_is_added_tested_and_its_attempts_listed(
    site: Site, receiver: Receiver
) -> None:
    api = await site.api(await site.key("acme"))
    created = await api.post("/webhooks", json={"url": receiver.url, "events": ["bounce"]})
    assert created.status_code == 201
    body = created.json()
    webhook, receiver.secret = body["webhook"], body["secret"]
    assert (webhook["tenant"], webhook["url"], webhook["events"]) == (
        "acme",
        receiver.url,
        ["bounce"],
    )
    assert "secret" not in (await api.get(f"/webhooks/{webhook['id']}")).json()
    assert [w["id"] for w in (await api.get("/webhooks")).json()["data"]] == [webhook["id"]]

    down = (await api.post(f"/webhooks/{webhook['id']}/test")).json()
    assert down["state"] == "failed"
    assert down["attempt"]["status_code"] is None
    assert "Connect" in down["attempt"]["error"] or "refused" in down["attempt"]["error"]
    await receiver.start()
    tested = (await api.post(f"/webhooks/{webhook['id']}/test")).json()
    assert (tested["state"], tested["attempt"]["status_code"]) == ("delivered", 200)
    [event] = receiver.events
    assert (event["type"], event["id"], event["tenant"]) == ("test", tested["event_id"], "acme")

    attempts = (await api.get(f"/webhooks/{webhook['id']}/attempts")).json()["data"]
    assert [(a["state"], a["status_code"]) for a in attempts] == [
        ("delivered", 200),
        ("failed", None),
    ]
    assert len((await api.get(f"/webhooks/{webhook['id']}/attempts?limit=1")).json()["data"]) == 1
    assert (await api.delete(f"/webhooks/{webhook['id']}")).status_code == 204
    assert (await api.get(f"/webhooks/{webhook['id']}")).status_code == 404
    audit = await activity.list_activity(site.db, kind="webhook", limit=10)
    assert [(e.kind, e.tenant) for e in reversed(audit)] == [
        ("webhook.added", "acme"),
        ("webhook.tested", "acme"),
        ("webhook.tested", "acme"),
        ("webhook.removed", "acme"),
    ]
    assert all(e.actor and e.actor.startswith("apikey:") for e in audit)
    assert all(receiver.secret not in e.detail for e in audit)


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "http://hooks.example/ses"}, "url", "only https:// URLs"),
        ({"url": "https://user:pw@hooks.example/"}, "url", "must not carry a user"),
        ({"url": "https://hooks.example/", "events": ["bounced"]}, "events", "unknown event type"),
        ({"url": "https://hooks.example/", "secret": "x"}, "secret", "Extra inputs"),
    ],
)
async def test_refusals_name_their_field(
    site: Site, body: dict[str, Any], field: str, says: str
) -> None:
    api = await site.api(await site.key("acme"))
    refused = await api.post("/webhooks", json=body)
    error = refused.json()["error"]
    assert (refused.status_code, error["field"]) == (400, field)
    assert says in error["message"]
    assert (await api.get("/webhooks")).json()["data"] == []


@pytest.mark.parametrize("site_settings", [{}])
async def test_a_private_address_is_refused_unless_allowed(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    for url in ("https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/"):
        refused = await api.post("/webhooks", json={"url": url})
        assert (refused.status_code, refused.json()["error"]["field"]) == (400, "url"), url
        assert "is not a public address" in refused.json()["error"]["message"]


async def test_a_tenant_key_never_reaches_another_tenants_webhook(
    site: Site, receiver: Receiver
) -> None:
    await site.tenant("other")
    theirs, _ = await manage.add(
        site.db, b"test secret key", "other", receiver.url, (), allow_private=True
    )
    api = await site.api(await site.key("acme"))
    assert (await api.get("/webhooks")).json()["data"] == []
    assert (await api.get("/webhooks?tenant=other")).status_code == 404
    for method, path in (
        ("GET", f"/webhooks/{theirs.id}"),
        ("DELETE", f"/webhooks/{theirs.id}"),
        ("POST", f"/webhooks/{theirs.id}/test"),
        ("GET", f"/webhooks/{theirs.id}/attempts"),
    ):
        refused = await api.request(method, path)
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found"), path
    assert receiver.requests == 0
    elsewhere = await api.post("/webhooks", json={"url": receiver.url, "tenant": "other"})
    assert elsewhere.status_code == 404
    admin = await site.api(await site.key())
    assert [w["tenant"] for w in (await admin.get("/webhooks")).json()["data"]] == ["other"]
    unnamed = await admin.post("/webhooks", json={"url": receiver.url})
    assert (unnamed.status_code, unnamed.json()["error"]["field"]) == (400, "tenant")
    assert "name the tenant" in unnamed.json()["error"]["message"]
