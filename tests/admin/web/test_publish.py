"""Publishing a domain to Route 53 from its page: the change set shown, then applied once
confirmed (CSRF, the change set that was shown), refusals as the zone field's error. SES is the
stand-in; Route 53 is moto."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from gateway.storage import activity
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.route53 import create_zone, zone_records
from tests.support.site import Site, csrf_token


@pytest.fixture
def site_settings(dns: DnsServer) -> dict[str, Any]:
    return {"dns_nameservers": [dns.address], "dns_timeout": 1}


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    return f"web-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]}.example.org"


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


async def test_the_change_set_is_shown_then_published_once_confirmed(
    stand_in: FakeSes, site: Site, moto_server: str, domain: str
) -> None:
    await site.tenant("acme")
    await site.services.domains.add("acme", domain)
    zone = create_zone(moto_server, domain)
    browser = await site.browser(await site.user("owner", "acme"))
    page = f"/domains/{domain}"
    assert "Show the change set" in (await browser.get(page)).text

    shown = await site.post_form(browser, f"{page}/publish", {}, page=page)
    assert shown.status_code == 200
    assert f"Hosted zone <code>{domain}</code>" in shown.text
    assert shown.text.count('<span class="status pending">create</span>') == 4
    assert "Publish 4 changes" in shown.text
    assert zone_records(moto_server, zone) == {}

    done = await browser.post(
        f"{page}/publish",
        data={
            "csrf_token": csrf_token(shown.text),
            "zone_id": hidden(shown.text, "zone_id"),
            "fingerprint": hidden(shown.text, "fingerprint"),
            "confirmed": "yes",
        },
    )
    assert done.status_code == 200, done.text
    assert "Published: change" in done.text
    assert "in sync on Route 53" in done.text
    assert 'class="dns-check"' in done.text
    assert len(zone_records(moto_server, zone)) == 4
    [entry] = [e for e in await activity.list_activity(site.db) if e.kind == "domain.published"]
    assert entry.subject == domain

    again = await site.post_form(browser, f"{page}/publish", {}, page=page)
    assert "Nothing to change" in again.text


async def test_refusals_are_the_zone_fields_error_and_viewers_cannot_publish(
    stand_in: FakeSes, site: Site, domain: str
) -> None:
    await site.tenant("acme")
    await site.services.domains.add("acme", domain)
    browser = await site.browser(await site.user("owner", "acme"))
    page = f"/domains/{domain}"
    refused = await site.post_form(browser, f"{page}/publish", {"zone_id": "ZNONE"}, page=page)
    assert refused.status_code == 400
    assert 'id="e-zone_id"' in refused.text
    assert "no hosted zone ZNONE in this AWS account" in refused.text
    assert 'value="ZNONE"' in refused.text

    viewer = await site.browser(await site.user("viewer", "acme"))
    assert "Show the change set" not in (await viewer.get(page)).text
    token = csrf_token((await viewer.get(page)).text)
    denied = await viewer.post(
        f"{page}/publish", data={"csrf_token": token, "confirmed": "yes", "fingerprint": "x"}
    )
    assert denied.status_code == 403
    forged = await browser.post(f"{page}/publish", data={"csrf_token": "forged"})
    assert forged.status_code == 403
