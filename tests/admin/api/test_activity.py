"""`/api/v1/activity` and `/api/v1/notifications`: the audit log with its filters and pages,
notifications read and unread, and each tenant seeing only its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.storage.activity import record_activity
from tests.support.site import Site

NOW = datetime.now(UTC)


def prefix(key: str) -> str:
    return key.split("_")[1]


async def raise_notifications(site: Site) -> None:
    """One notification of acme, one of beta, one of the gateway (no tenant)."""
    acme, beta = await site.tenant("acme"), await site.tenant("beta")
    await record_activity(site.db, acme, "domain.verified", "acme.test", "SES verified", NOW, True)
    await record_activity(site.db, beta, "tenant.paused", "beta", "5% bounced", NOW, True)
    await record_activity(site.db, None, "sns.unsubscribed", "arn:topic", "gone", NOW, True)


async def test_a_change_through_the_api_is_audited_with_who_and_where(site: Site) -> None:
    key = await site.key()
    api = await site.api(key)
    assert (await api.post("/tenants", json={"name": "acme"})).status_code == 201
    [entry] = (await api.get("/activity", params={"kind": "tenant"})).json()["data"]
    assert entry["kind"] == "tenant.created"
    assert entry["subject"] == entry["tenant"] == "acme"
    assert entry["actor"] == f"apikey:{prefix(key)}"
    assert entry["client_address"] == "127.0.0.1"
    assert datetime.fromisoformat(entry["created_at"]) > NOW - timedelta(minutes=1)


async def test_the_log_is_filtered_and_paged(site: Site) -> None:
    key = await site.key()
    api = await site.api(key)
    for name in ("acme", "beta", "gamma"):
        await api.post("/tenants", json={"name": name})
    await record_activity(site.db, None, "sns.subscribed", "arn:topic", "", NOW)
    mine = {"actor": f"apikey:{prefix(key)}", "limit": "2"}
    first = (await api.get("/activity", params=mine)).json()
    assert [e["subject"] for e in first["data"]] == ["gamma", "beta"]
    second = (await api.get("/activity", params={**mine, "cursor": first["next_cursor"]})).json()
    assert ([e["subject"] for e in second["data"]], second["next_cursor"]) == (["acme"], None)
    gateway = (await api.get("/activity", params={"actor": "gateway"})).json()["data"]
    assert [(e["kind"], e["actor"]) for e in gateway] == [("sns.subscribed", None)]
    beta = (await api.get("/activity", params={"tenant": "beta"})).json()["data"]
    assert [e["kind"] for e in beta] == ["tenant.created"]
    later = (NOW + timedelta(hours=1)).isoformat()
    assert (await api.get("/activity", params={"since": later})).json()["data"] == []
    assert len((await api.get("/activity", params={"until": later})).json()["data"]) == 4


async def test_bad_filters_are_refused_with_the_field(site: Site) -> None:
    api = await site.api(await site.key())
    cases = (
        ({"cursor": "abc"}, "cursor"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
    )
    for params, field in cases:
        refused = await api.get("/activity", params=params)
        assert refused.status_code == 400, params
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_input", field)
    unknown = await api.get("/activity", params={"colour": "red"})
    assert unknown.json()["error"]["field"] == "colour"


async def test_a_tenant_key_sees_only_its_tenants_activity(site: Site) -> None:
    admin = await site.api(await site.key())
    for name in ("acme", "beta"):
        await admin.post("/tenants", json={"name": name})
    await raise_notifications(site)
    acme = await site.api(await site.key("acme"))
    seen = (await acme.get("/activity")).json()["data"]
    assert {e["tenant"] for e in seen} == {"acme"}
    assert {e["kind"] for e in seen} == {"tenant.created", "domain.verified"}
    other = await acme.get("/activity", params={"tenant": "beta"})
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")


async def test_notifications_are_read_one_by_one_or_all_at_once(site: Site) -> None:
    await raise_notifications(site)
    api = await site.api(await site.key())
    listed = (await api.get("/notifications")).json()
    assert listed["unread"] == 3
    first = listed["data"][0]
    assert (first["kind"], first["read_at"]) == ("sns.unsubscribed", None)
    read = await api.post(f"/notifications/{first['id']}/read")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = (await api.get("/notifications", params={"unread": "true"})).json()
    assert (unread["unread"], len(unread["data"])) == (2, 2)
    assert (await api.post("/notifications/read")).json() == {"marked": 2}
    assert (await api.get("/notifications")).json()["unread"] == 0
    missing = await api.post("/notifications/999/read")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    audit = (await api.get("/activity", params={"kind": "notification"})).json()["data"]
    assert [e["kind"] for e in audit] == ["notification.read-all", "notification.read"]


async def test_a_tenant_key_reads_only_its_notifications(site: Site) -> None:
    await raise_notifications(site)
    admin = await site.api(await site.key())
    ids = {n["kind"]: n["id"] for n in (await admin.get("/notifications")).json()["data"]}
    acme = await site.api(await site.key("acme"))
    listed = (await acme.get("/notifications")).json()
    assert (listed["unread"], [n["kind"] for n in listed["data"]]) == (1, ["domain.verified"])
    for kind in ("tenant.paused", "sns.unsubscribed"):  # beta's, and the gateway's
        assert (await acme.post(f"/notifications/{ids[kind]}/read")).status_code == 404
    assert (await acme.post("/notifications/read")).json() == {"marked": 1}
    assert (await admin.get("/notifications")).json()["unread"] == 2  # the others are unread
