"""`/api/v1/domains`: add, records, the live DNS check, sync, settings, addresses, removal, and
what a tenant's key may not see. SES is moto, or the stand-in where moto falls short (custom
MAIL FROM, BYODKIM, verification moving on); DNS is a real server on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.storage import activity
from gateway.storage import domains as domain_store
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.site import Site


@pytest.fixture
def site_settings(dns: DnsServer) -> dict[str, Any]:
    return {"dns_nameservers": [dns.address], "dns_timeout": 2}


def publish(dns: DnsServer, records: list[dict[str, Any]]) -> None:
    """Serve the records as a tenant would publish them."""
    for record in records:
        value = record["value"]
        if record["type"] == "TXT":
            value = f'"{value}"'
        elif record["type"] in ("CNAME", "MX"):
            value += "."
        dns.add(record["name"], record["type"], value)


async def add(api: httpx.AsyncClient, name: str, **more: Any) -> dict[str, Any]:
    added = await api.post("/domains", json={"name": name, **more})
    assert added.status_code == 201, added.text
    body: dict[str, Any] = added.json()
    return body


async def test_an_owner_key_adds_a_domain_and_reads_the_records_to_publish(
    stand_in: FakeSes, site: Site
) -> None:
    api = await site.api(await site.key("acme"))
    added = await add(api, "Example.COM", mail_from="mail")
    assert added["domain"]["name"] == "example.com"
    for token in stand_in.identities["example.com"].dkim_tokens:
        name = f"{token}._domainkey.example.com"
        assert {"type": "CNAME", "name": name, "value": f"{token}.dkim.amazonses.com"}.items() <= (
            next(r for r in added["records"] if r["name"] == name).items()
        )
    assert added["domain"]["tenant"] == "acme"
    assert added["domain"]["state"]["mail_from_domain"] == "mail.example.com"
    records = {(r["type"], r["name"]): r for r in added["records"]}
    assert records[("MX", "mail.example.com")]["value"].endswith(".amazonses.com")
    assert records[("TXT", "_dmarc.example.com")]["required"] is False
    assert [line.split("\t")[3] for line in added["zone"]] == [r["type"] for r in added["records"]]
    shown = await api.get("/domains/example.com")
    assert shown.json() == added
    listed = (await api.get("/domains/example.com/records")).json()["data"]
    assert listed == added["records"]
    assert [d["name"] for d in (await api.get("/domains")).json()["data"]] == ["example.com"]


async def test_byodkim_publishes_the_gateways_own_key(stand_in: FakeSes, site: Site) -> None:
    api = await site.api(await site.key("acme"))
    added = await add(api, "example.com", dkim="byodkim")
    assert added["domain"]["dkim_mode"] == "byodkim"
    [dkim] = [r for r in added["records"] if "._domainkey." in r["name"]]
    assert (dkim["type"], dkim["value"][:2]) == ("TXT", "p=")


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"name": "co.uk"}, 400, "name", "public suffix"),
        ({"name": "not a domain"}, 400, "name", "contains a space"),
        ({"name": "example.com", "mail_from": "a b"}, 400, "mail_from", "subdomain"),
        ({"name": "example.com", "dkim": "mine"}, 400, "dkim", "easy"),
        ({"name": "example.com", "colour": "red"}, 400, "colour", "Extra inputs"),
    ],
)
async def test_a_bad_domain_is_refused_with_the_field_at_fault(
    site: Site, body: dict[str, Any], status: int, field: str, words: str
) -> None:
    api = await site.api(await site.key("acme"))
    refused = await api.post("/domains", json=body)
    error = refused.json()["error"]
    assert (refused.status_code, error["code"], error["field"]) == (status, "invalid_input", field)
    assert words in error["message"]
    assert (await api.get("/domains")).json()["data"] == []


async def test_a_domain_is_added_once_and_an_admin_names_the_tenant(site: Site) -> None:
    await site.tenant("acme")
    admin = await site.api(await site.key())
    unnamed = await admin.post("/domains", json={"name": "example.com"})
    assert (unnamed.status_code, unnamed.json()["error"]["field"]) == (400, "tenant")
    await add(admin, "example.com", tenant="acme")
    again = await admin.post("/domains", json={"name": "example.com", "tenant": "acme"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    unknown = await admin.post("/domains", json={"name": "other.example", "tenant": "nobody"})
    assert unknown.status_code == 404


async def test_a_tenant_key_never_sees_nor_changes_another_tenants_domain(site: Site) -> None:
    theirs = await site.api(await site.key("beta"))
    await add(theirs, "beta.example")
    await theirs.post("/domains/beta.example/addresses", json={"address": "info@beta.example"})
    mine = await site.api(await site.key("acme"))
    assert (await mine.get("/domains")).json()["data"] == []
    assert (await mine.get("/domains", params={"tenant": "beta"})).status_code == 404
    for method, path, body in [
        ("GET", "/domains/beta.example", None),
        ("GET", "/domains/beta.example/records", None),
        ("PATCH", "/domains/beta.example", {"open_tracking": True}),
        ("POST", "/domains/beta.example/check", None),
        ("POST", "/domains/beta.example/sync", None),
        ("GET", "/domains/beta.example/addresses", None),
        ("POST", "/domains/beta.example/addresses", {"address": "x@beta.example"}),
        ("DELETE", "/domains/beta.example/addresses/info@beta.example", None),
        ("DELETE", "/domains/beta.example", None),
    ]:
        refused = await mine.request(method, path, json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found"), path
        assert "beta.example" in refused.json()["error"]["message"]
    stolen = await mine.post("/domains", json={"name": "acme.example", "tenant": "beta"})
    assert stolen.status_code == 404
    domain = await domain_store.get_domain(site.db, "beta.example")
    assert not domain.open_tracking
    [address] = await domain_store.list_addresses(site.db, domain="beta.example")
    assert address.address == "info@beta.example"


async def test_the_live_check_says_what_dns_answers_record_by_record(
    stand_in: FakeSes, site: Site, dns: DnsServer
) -> None:
    api = await site.api(await site.key("acme"))
    added = await add(api, "example.com", mail_from="mail")
    dns.add("amazonses.com", "TXT", '"v=spf1 ip4:199.255.192.0/22 -all"')
    publish(dns, added["records"])
    dmarc = next(r for r in added["records"] if r["name"] == "_dmarc.example.com")
    dns.remove(dmarc["name"])
    dns.add(dmarc["name"], "TXT", '"v=DMARC1; p=reject;"')
    mx = next(r for r in added["records"] if r["type"] == "MX")
    dns.remove(mx["name"])
    dns.add(mx["name"], "TXT", '"v=spf1 include:amazonses.com ~all"')
    checked = await api.post("/domains/example.com/check")
    assert checked.status_code == 200
    results = {(r["type"], r["name"]): r for r in checked.json()["records"]}
    assert results[("MX", "mail.example.com")]["status"] == "missing"
    assert results[("TXT", "_dmarc.example.com")]["found"] == ["v=DMARC1; p=reject;"]
    assert results[("TXT", "_dmarc.example.com")]["status"] != "ok"
    dkim = [r for key, r in results.items() if key[0] == "CNAME"]
    assert dkim
    assert {r["status"] for r in dkim} == {"ok"}
    assert {r["nameserver"] for r in results.values()} == {dns.address}


async def test_sync_asks_ses_now_and_is_audited(stand_in: FakeSes, site: Site) -> None:
    api = await site.api(await site.key("acme"))
    added = await add(api, "example.com")
    assert added["domain"]["state"]["verified_for_sending"] is False
    stand_in.set_identity_status("example.com")
    synced = await api.post("/domains/example.com/sync")
    assert synced.status_code == 200
    body = synced.json()
    assert body["domain"]["state"]["verified_for_sending"] is True
    assert "domain.verified" in [e["kind"] for e in body["events"]]
    audit = await activity.list_activity(site.db, "acme", limit=10)
    kinds = [(e.kind, e.subject) for e in audit if e.actor and e.actor.startswith("apikey:")]
    assert kinds[:2] == [("domain.synced", "example.com"), ("domain.added", "example.com")]
    assert all(e.client_address == "127.0.0.1" for e in audit if e.actor)


async def test_settings_change_only_what_is_given(stand_in: FakeSes, site: Site) -> None:
    api = await site.api(await site.key("acme"))
    await add(api, "example.com")
    changed = await api.patch(
        "/domains/example.com",
        json={
            "open_tracking": True,
            "tracking_host": "T.Example.com",
            "restrict_to_addresses": True,
        },
    )
    assert changed.status_code == 200, changed.text
    domain = changed.json()["domain"]
    assert (domain["open_tracking"], domain["click_tracking"]) == (True, False)
    assert (domain["tracking_host"], domain["restrict_to_addresses"]) == ("t.example.com", True)
    again = (await api.patch("/domains/example.com", json={"click_tracking": True})).json()
    assert again["domain"]["open_tracking"] is True
    reset = (await api.patch("/domains/example.com", json={"tracking_host": ""})).json()
    assert reset["domain"]["tracking_host"] is None
    bad_host = await api.patch("/domains/example.com", json={"tracking_host": "a b"})
    assert (bad_host.status_code, bad_host.json()["error"]["field"]) == (400, "tracking_host")
    bad_mail_from = await api.patch("/domains/example.com", json={"mail_from": "bad_name"})
    assert bad_mail_from.json()["error"]["field"] == "mail_from"
    mail_from = await api.patch("/domains/example.com", json={"mail_from": "bounce"})
    assert mail_from.json()["domain"]["state"]["mail_from_domain"] == "bounce.example.com"
    [event] = await activity.list_activity(site.db, "acme", kind="domain.changed", limit=1)
    assert event.detail == "mail_from bounce"


async def test_the_unsubscribe_header_needs_an_https_public_url(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    await add(api, "example.com")
    refused = await api.patch(
        "/domains/example.com", json={"open_tracking": True, "unsubscribe": True}
    )
    error = refused.json()["error"]
    assert (refused.status_code, error["field"]) == (400, "unsubscribe")
    assert "PUBLIC_URL" in error["message"]
    assert not (await domain_store.get_domain(site.db, "example.com")).open_tracking


@pytest.mark.parametrize("site_settings", [{"public_url": "https://gw.example.com"}])
async def test_the_unsubscribe_header_is_turned_on_over_https(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    await add(api, "example.com")
    changed = await api.patch("/domains/example.com", json={"unsubscribe": True})
    assert changed.json()["domain"]["unsubscribe"] is True


async def test_addresses_are_added_listed_and_removed(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    await add(api, "example.com")
    added = await api.post(
        "/domains/example.com/addresses", json={"address": "Info@Example.com", "verify_email": True}
    )
    assert added.status_code == 201, added.text
    assert (added.json()["address"], added.json()["ses_identity"]) == ("Info@example.com", True)
    elsewhere = await api.post("/domains/example.com/addresses", json={"address": "x@other.test"})
    assert (elsewhere.status_code, elsewhere.json()["error"]["field"]) == (400, "address")
    bad = await api.post("/domains/example.com/addresses", json={"address": "no-at-sign"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "address")
    twice = await api.post("/domains/example.com/addresses", json={"address": "Info@example.com"})
    assert twice.status_code == 409
    listed = (await api.get("/domains/example.com/addresses")).json()["data"]
    assert [a["address"] for a in listed] == ["Info@example.com"]
    removed = await api.delete("/domains/example.com/addresses/Info@example.com")
    assert removed.status_code == 204
    gone = await api.delete("/domains/example.com/addresses/Info@example.com")
    assert gone.status_code == 404
    kinds = [e.kind for e in await activity.list_activity(site.db, "acme", kind="address")]
    assert kinds[:2] == ["address.removed", "address.added"]


async def test_removing_a_domain_deletes_it_everywhere(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    await add(api, "example.com")
    removed = await api.delete("/domains/example.com")
    assert removed.json() == {"domain": "example.com", "failed_messages": 0}
    assert (await api.get("/domains/example.com")).status_code == 404
    again = await add(api, "example.com")
    assert again["domain"]["name"] == "example.com"
    [event] = await activity.list_activity(site.db, "acme", kind="domain.removed", limit=1)
    assert event.actor is not None
    assert event.actor.startswith("apikey:")
