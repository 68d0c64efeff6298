"""`POST /api/v1/domains/{name}/publish`: the change set (dry run), then applied as confirmed,
refusals in the API's error shape. SES is the stand-in (DKIM tokens); Route 53 is moto."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.route53 import create_zone, zone_records
from tests.support.site import Site


@pytest.fixture
def site_settings(dns: DnsServer) -> dict[str, Any]:
    return {"dns_nameservers": [dns.address], "dns_timeout": 1}


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    """A domain of this test's own: moto's zones live as long as the session."""
    return f"api-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]}.example.org"


async def test_a_dry_run_then_the_change_set_confirmed(
    stand_in: FakeSes, site: Site, moto_server: str, domain: str
) -> None:
    api = await site.api(await site.key("acme"))
    assert (await api.post("/domains", json={"name": domain})).status_code == 201
    zone = create_zone(moto_server, domain)

    dry = await api.post(f"/domains/{domain}/publish", json={"dry_run": True})
    assert dry.status_code == 200, dry.text
    shown = dry.json()
    assert shown["zone"] == {"id": zone, "name": domain, "private": False}
    assert [s["action"] for s in shown["steps"]] == ["create"] * 4
    assert (shown["change_id"], shown["status"], shown["check"]) == (None, None, None)
    assert zone_records(moto_server, zone) == {}

    done = await api.post(
        f"/domains/{domain}/publish", json={"expect": shown["fingerprint"], "wait": 5}
    )
    assert done.status_code == 200, done.text
    answer = done.json()
    assert (answer["dry_run"], answer["status"]) == (False, "INSYNC")
    assert answer["change_id"]
    assert len(answer["check"]) == 4
    held = zone_records(moto_server, zone)
    assert {name for name, _ in held} == {s["name"] for s in shown["steps"]}


async def test_a_change_set_that_changed_since_it_was_shown_is_refused(
    stand_in: FakeSes, site: Site, moto_server: str, domain: str
) -> None:
    api = await site.api(await site.key("acme"))
    await api.post("/domains", json={"name": domain})
    zone = create_zone(moto_server, domain)
    refused = await api.post(f"/domains/{domain}/publish", json={"expect": "0123456789abcdef"})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "status": 400,
            "code": "invalid_input",
            "message": "the hosted zone changed since the change set was shown: look at it again",
            "field": "zone_id",
        }
    }
    assert zone_records(moto_server, zone) == {}


async def test_refusals_use_the_error_shape(
    stand_in: FakeSes, site: Site, domain: str, aws_env: pytest.MonkeyPatch
) -> None:
    api = await site.api(await site.key("acme"))
    await api.post("/domains", json={"name": domain})
    none = await api.post(f"/domains/{domain}/publish", json={})
    assert none.status_code == 400
    assert none.json()["error"]["field"] == "zone_id"
    assert none.json()["error"]["message"].startswith(
        f"no Route 53 hosted zone in this AWS account holds {domain}"
    )
    other = await api.post("/domains/not-mine.example.org/publish", json={})
    assert other.status_code == 404
    bad = await api.post(f"/domains/{domain}/publish", json={"wait": 301})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "wait")
