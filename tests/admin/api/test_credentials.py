"""`/api/v1/credentials`, `/api/v1/api-keys` and `/api/v1/networks`: secrets shown once, the
credentials and keys working (and refused once revoked), tenant isolation, the audit log."""

from __future__ import annotations

import httpx
import pytest

from gateway.intake.auth import Authenticator
from gateway.runtime.changes import ChangeBus
from gateway.storage import activity
from tests.support.site import Site


async def _audit(site: Site) -> list[tuple[str, str, str]]:
    found = await activity.list_activity(site.db, limit=100)
    return [(e.kind, e.subject, e.detail) for e in found if e.actor]


async def test_a_credential_created_over_the_api_logs_in_until_revoked(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    created = await api.post(
        "/credentials", json={"description": "billing", "allow": ["Example.com", "news@a.test"]}
    )
    assert created.status_code == 201
    body = created.json()
    credential, password = body["credential"], body["password"]
    assert credential["tenant"] == "acme"
    assert credential["allowed_senders"] == ["example.com", "news@a.test"]
    authenticator = Authenticator(site.db, site.services.settings)
    # As the SMTP role of the API's own process hears the revoke: by its change bus.
    ChangeBus(site.db).subscribe(authenticator.heard, *Authenticator.TOPICS)
    principal = await authenticator.authenticate(credential["username"], password, "127.0.0.1")
    assert principal is not None
    assert principal.tenant_name == "acme"

    [listed] = (await api.get("/credentials")).json()["data"]
    assert listed["last_used_at"] is not None
    assert "password" not in listed
    assert password not in (await api.get("/credentials")).text

    revoked = await api.delete(f"/credentials/{credential['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert await authenticator.authenticate(credential["username"], password, "127.0.0.1") is None
    again = await api.delete(f"/credentials/{credential['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")

    audit = await _audit(site)
    assert [(kind, subject) for kind, subject, _ in audit] == [
        ("credential.revoked", credential["username"]),
        ("credential.created", credential["username"]),
    ]
    assert all(password not in detail for _, _, detail in audit)


async def test_a_credential_is_paused_with_a_reason_and_resumed(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    credential = (await api.post("/credentials", json={})).json()["credential"]
    paused = await api.put(f"/credentials/{credential['id']}/pause", json={"reason": "leaked"})
    assert paused.json()["paused_reason"] == "leaked"
    blank = await api.put(f"/credentials/{credential['id']}/pause", json={"reason": " "})
    assert (blank.status_code, blank.json()["error"]["field"]) == (400, "reason")
    resumed = await api.put(f"/credentials/{credential['id']}/pause", json={"reason": None})
    assert resumed.json()["paused_reason"] is None
    kinds = [kind for kind, _, _ in await _audit(site)]
    assert kinds[:2] == ["credential.resumed", "credential.paused"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tenant"),
        ({"tenant": "acme", "allow": ["co.uk"]}, "allow"),
        ({"tenant": "acme", "allow": ["a b@example.com"]}, "allow"),
        ({"tenant": "acme", "description": "x" * 256}, "description"),
        ({"tenant": "acme", "password": "mine"}, "password"),
    ],
)
async def test_a_credential_refused_names_the_field(
    site: Site, body: dict[str, object], field: str
) -> None:
    await site.tenant("acme")
    api = await site.api(await site.key())
    refused = await api.post("/credentials", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_input"
    assert refused.json()["error"]["field"] == field


async def test_an_admin_key_sees_and_creates_for_every_tenant(site: Site) -> None:
    admin = await site.api(await site.key())
    for tenant in ("acme", "other"):
        await site.tenant(tenant)
        assert (await admin.post("/credentials", json={"tenant": tenant})).status_code == 201
    everyone = (await admin.get("/credentials")).json()["data"]
    assert sorted(c["tenant"] for c in everyone) == ["acme", "other"]
    one = (await admin.get("/credentials", params={"tenant": "other"})).json()["data"]
    assert [c["tenant"] for c in one] == ["other"]
    ghost = await admin.get("/credentials", params={"tenant": "ghost"})
    assert ghost.status_code == 404


async def test_a_tenant_key_never_reaches_another_tenants_credentials(site: Site) -> None:
    admin = await site.api(await site.key())
    await site.tenant("acme")
    theirs = (await admin.post("/credentials", json={"tenant": "acme"})).json()["credential"]
    other = await site.api(await site.key("other"))
    assert (await other.get("/credentials")).json()["data"] == []
    assert (await other.get("/credentials", params={"tenant": "acme"})).status_code == 404
    assert (await other.post("/credentials", json={"tenant": "acme"})).status_code == 404
    assert (await other.delete(f"/credentials/{theirs['id']}")).status_code == 404
    pause = await other.put(f"/credentials/{theirs['id']}/pause", json={"reason": "mine"})
    assert pause.status_code == 404
    [still] = (await admin.get("/credentials")).json()["data"]
    assert (still["revoked_at"], still["paused_reason"]) == (None, None)


async def test_an_api_key_created_over_the_api_works_until_revoked(site: Site) -> None:
    owner = await site.api(await site.key("acme"))
    created = await owner.post("/api-keys", json={"description": "deploy"})
    assert created.status_code == 201
    body = created.json()
    assert body["api_key"]["tenant"] == "acme"
    assert body["key"].startswith(f"sgw_{body['api_key']['prefix']}_")
    async with httpx.AsyncClient(
        base_url=str(owner.base_url), headers={"authorization": f"Bearer {body['key']}"}
    ) as new:
        assert (await new.get("/credentials")).status_code == 200
        listed = (await owner.get("/api-keys")).json()["data"]
        assert body["key"] not in (await owner.get("/api-keys")).text
        [mine] = [k for k in listed if k["id"] == body["api_key"]["id"]]
        assert mine["last_used_at"] is not None
        revoked = await owner.delete(f"/api-keys/{body['api_key']['id']}")
        assert (revoked.status_code, revoked.json()["revoked_at"] is not None) == (200, True)
        refused = await new.get("/credentials")
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
        again = await owner.delete(f"/api-keys/{body['api_key']['id']}")
        assert again.status_code == 409
    audit = await _audit(site)
    assert [(k, s) for k, s, _ in audit][:2] == [
        ("apikey.revoked", body["api_key"]["prefix"]),
        ("apikey.created", body["api_key"]["prefix"]),
    ]
    assert all(body["key"].split("_", 2)[2] not in detail for _, _, detail in audit)


async def test_a_tenant_key_never_reaches_other_tenants_or_admin_keys(site: Site) -> None:
    admin = await site.api(await site.key())
    admin_key = (await admin.post("/api-keys", json={"admin": True})).json()["api_key"]
    await site.tenant("acme")
    acme_key = (await admin.post("/api-keys", json={"tenant": "acme"})).json()["api_key"]
    other = await site.api(await site.key("other"))
    listed = (await other.get("/api-keys")).json()["data"]
    assert {k["tenant"] for k in listed} == {"other"}
    assert (await other.delete(f"/api-keys/{admin_key['id']}")).status_code == 404
    assert (await other.delete(f"/api-keys/{acme_key['id']}")).status_code == 404
    assert (await other.post("/api-keys", json={"admin": True})).status_code == 403
    assert (await other.post("/api-keys", json={"tenant": "acme"})).status_code == 404
    everything = (await admin.get("/api-keys")).json()["data"]
    assert {k["tenant"] for k in everything} == {None, "acme", "other"}
    assert all(k["revoked_at"] is None for k in everything)


@pytest.mark.parametrize(
    ("body", "field"), [({}, "tenant"), ({"tenant": "acme", "admin": True}, "tenant")]
)
async def test_an_admin_says_whose_key_it_is(
    site: Site, body: dict[str, object], field: str
) -> None:
    await site.tenant("acme")
    admin = await site.api(await site.key())
    refused = await admin.post("/api-keys", json=body)
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, field)


async def test_trusted_networks_are_added_listed_and_removed_by_admins(site: Site) -> None:
    await site.tenant("acme")
    admin = await site.api(await site.key())
    added = await admin.post("/networks", json={"tenant": "acme", "cidr": "10.1.2.0/24"})
    assert (added.status_code, added.json()["cidr"]) == (201, "10.1.2.0/24")
    again = await admin.post("/networks", json={"tenant": "acme", "cidr": "10.1.2.0/24"})
    assert again.status_code == 409
    for cidr in ("10.1.2.3/24", "0.0.0.0/0", "nonsense"):
        bad = await admin.post("/networks", json={"tenant": "acme", "cidr": cidr})
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, "cidr")
    listed = (await admin.get("/networks", params={"tenant": "acme"})).json()["data"]
    assert [(n["cidr"], n["tenant"]) for n in listed] == [("10.1.2.0/24", "acme")]
    removed = await admin.delete("/networks", params={"cidr": "10.1.2.0/24"})
    assert removed.status_code == 204
    gone = await admin.delete("/networks", params={"cidr": "10.1.2.0/24"})
    assert gone.status_code == 404
    assert (await admin.get("/networks")).json()["data"] == []
    kinds = [(k, s) for k, s, _ in await _audit(site)]
    assert kinds == [("network.removed", "10.1.2.0/24"), ("network.added", "10.1.2.0/24")]


async def test_a_tenant_key_may_not_touch_trusted_networks(site: Site) -> None:
    tenant = await site.api(await site.key("acme"))
    assert (await tenant.get("/networks")).status_code == 403
    add = await tenant.post("/networks", json={"tenant": "acme", "cidr": "10.0.0.0/8"})
    assert (add.status_code, add.json()["error"]["code"]) == (403, "forbidden")
    assert (await tenant.delete("/networks", params={"cidr": "10.0.0.0/8"})).status_code == 403
