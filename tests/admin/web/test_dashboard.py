"""The dashboard (`/`): the counts of real mail, by tenant, domain and range; the reputation
verdict; the SES account (moto) for admins and the daily usage for tenants; the queue; the charts
without inline style; "Getting started" on a fresh install."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.identity import accounts
from gateway.storage import tenants
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade
from tests.conftest import make_settings
from tests.support.fakeses import FakeSes
from tests.support.messages import queued
from tests.support.ports import closed_port_url
from tests.support.site import Site
from tests.support.site import site as serve_site
from tests.support.traffic import ACME_DAY, counts, sent, two_tenants


@pytest.mark.parametrize("role", ["owner", "viewer"])
async def test_a_tenant_user_sees_the_counts_of_its_own_mail(site: Site, role: str) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user(role, "acme"))
    page = await browser.get("/")
    assert page.status_code == 200
    assert counts(page.text) == ACME_DAY
    assert "25.0% of sent" in page.text  # bounced: 1 of 4
    assert 'name="tenant"' not in page.text
    assert "SES account" not in page.text


async def test_an_admin_sees_every_tenant_or_the_one_chosen(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("admin"))
    everyone = counts((await browser.get("/")).text)
    assert (everyone["sent"], everyone["delivered"], everyone["rejected"]) == (8, 5, 2)
    assert counts((await browser.get("/?tenant=acme")).text) == ACME_DAY
    theirs = counts((await browser.get("/?tenant=other")).text)
    assert (theirs["sent"], theirs["delivered"], theirs["bounced"]) == (4, 4, 0)
    assert '<option value="other">other</option>' in (await browser.get("/")).text


async def test_an_owner_never_sees_another_tenants_counts(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("owner", "other"))
    page = await browser.get("/")
    assert counts(page.text)["sent"] == 4
    assert "example.com" not in page.text
    assert (await browser.get("/?tenant=acme")).status_code == 404
    assert (await browser.get("/?domain=example.com")).status_code == 404


async def test_the_domain_filter_counts_mail_from_that_domain(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/")
    assert '<option value="shop.example">shop.example</option>' in page.text
    assert "o.test" not in page.text
    shown = counts((await browser.get("/?domain=example.com")).text)
    assert shown == {**ACME_DAY, "sent": 3, "complained": 0}
    shop = counts((await browser.get("/?domain=SHOP.example")).text)
    assert (shop["sent"], shop["complained"], shop["delivered"], shop["rejected"]) == (1, 1, 0, 0)


async def test_the_range_chooses_what_is_counted(site: Site) -> None:
    data = await two_tenants(site)
    browser = await site.browser(await site.user("owner", "acme"))
    assert counts((await browser.get("/?range=7d")).text)["sent"] == 5
    assert counts((await browser.get("/?range=30d")).text)["sent"] == 5
    day = (data.now - timedelta(days=3)).date().isoformat()
    custom = await browser.get(f"/?range=custom&since={day}&until={day}")
    assert counts(custom.text) == {**dict.fromkeys(ACME_DAY, 0), "sent": 1}
    assert "by the hour" in custom.text  # one day: hourly buckets


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("range=custom", "since", "give the first day of the range"),
        (
            "range=custom&since=yesterday",
            "since",
            "since &#39;yesterday&#39; is not an ISO date or datetime (2026-03-01, "
            "2026-03-01T12:00 or 2026-03-01T12:00:00+02:00)",
        ),
        ("range=custom&since=2026-01-10&until=2026-01-05", "until", "until must be after since"),
        ("range=1y", "range", "choose one of 24h, 7d, 30d"),
    ],
)
async def test_a_bad_range_is_a_field_error(
    site: Site, query: str, field: str, message: str
) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await browser.get(f"/?{query}")
    assert page.status_code == 400
    assert f'<p class="field-error" id="e-{field}">{message}</p>' in page.text
    assert page.text.count('<figure class="chart">') == 3


@pytest.mark.parametrize(
    ("site_settings", "verdict"),
    [
        ({}, "not judged"),
        ({"reputation_min_sends": 1, "reputation_bounce_warn": 20, "reputation_bounce_pause": 50,
          "reputation_complaint_warn": 20, "reputation_complaint_pause": 50}, "ok"),
        ({"reputation_min_sends": 1, "reputation_bounce_warn": 10, "reputation_bounce_pause": 50,
          "reputation_complaint_warn": 10, "reputation_complaint_pause": 50}, "warning"),
        ({"reputation_min_sends": 1}, "paused"),
    ],
)  # fmt: skip
async def test_the_rates_are_judged_against_the_thresholds(
    site: Site, site_settings: dict[str, Any], verdict: str
) -> None:
    """Every tenant together: 9 sends in the window, 1 bounced and 1 complained (11.1%)."""
    await two_tenants(site)
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/")
    reputation = page.text.split('<div class="card reputation">')[1].split("</div>")[0]
    assert re.search(rf'<h2>Reputation <span class="status [\w-]+">{verdict}</span>', reputation)
    said = '11.11% <span class="hint">(1 of the window\'s 9 sends bounced permanently;'
    assert said in reputation


@pytest.mark.parametrize("site_settings", [{"reputation_min_sends": 1}])
async def test_a_tenant_paused_by_the_guard_says_so(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/")
    assert "Tenant acme is paused: " in page.text
    assert (await tenants.get_tenant(site.db, "acme")).paused_reason is not None


async def test_an_admin_sees_the_ses_account_from_moto(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/")
    card = page.text.split('<div class="card ses-account">')[1].split("</section>")[0]
    assert "<dt>MaxSendRate</dt><dd>1 a second</dd>" in card  # moto's sandbox quota
    # moto is shared by the session's tests: others may have sent through it already
    assert re.search(r"<dt>Sent in 24 hours</dt><dd>[\d,]+ of 200 ", card)
    assert f"<dt>Region</dt><dd>{site.services.provider.region}</dd>" in card
    # moto answers v1 GetSendQuota only: the sandbox and sending state are unknown, and why
    assert card.count('<span class="status unknown">unknown</span>') == 2
    assert "SES answered GetSendQuota only (not SESv2 GetAccount)" in card


@asynccontextmanager
async def site_with_ses(
    tmp_path: Path, aws_env: pytest.MonkeyPatch, endpoint: str
) -> AsyncIterator[Site]:
    """The panel with SES at `endpoint` instead of moto."""
    aws_env.setenv("AWS_ENDPOINT_URL", endpoint)
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    db = Database(url)
    await upgrade(db)
    try:
        async with serve_site(db, make_settings(tmp_path, url)) as running:
            yield running
    finally:
        await db.close()


async def ses_card(site: Site) -> str:
    page = await (await site.browser(await site.user("admin"))).get("/")
    assert page.status_code == 200
    return page.text.split('<div class="card ses-account">')[1].split("</section>")[0]


async def test_the_ses_account_from_get_account_says_sandbox_and_sending(
    tmp_path: Path, aws_env: pytest.MonkeyPatch, fake_ses: FakeSes
) -> None:
    fake_ses.account["ProductionAccessEnabled"] = False
    fake_ses.account["SendingEnabled"] = False
    fake_ses.account["SendQuota"] = {
        "Max24HourSend": 200.0,
        "MaxSendRate": 1.0,
        "SentLast24Hours": 50.0,
    }
    async with site_with_ses(tmp_path, aws_env, fake_ses.url) as site:
        card = await ses_card(site)
    assert '<dt>Mode</dt><dd><span class="status warning">sandbox</span>' in card
    assert '<dt>Sending enabled</dt><dd><span class="status error">no</span>' in card
    assert '<dt>Sent in 24 hours</dt><dd>50 of 200 <span class="hint">(25.00% of' in card
    assert "SES answered" not in card


async def test_the_page_shows_when_ses_does_not_answer(
    tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    async with site_with_ses(tmp_path, aws_env, closed_port_url()) as site:
        card = await ses_card(site)
    assert '<p class="error" role="alert">SES did not answer: ' in card
    assert "<dt>Region</dt><dd>us-east-1</dd>" in card


async def test_a_tenant_sees_its_daily_usage_against_its_cap(site: Site) -> None:
    tenant_id = await site.tenant("acme")
    await tenants.set_limits(site.db, "acme", {"max_per_day": 40})
    for _ in range(3):
        await queued(site.db, tenant_id)
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/")
    assert "<strong>3</strong> messages accepted today (UTC) for acme" in page.text
    assert "a daily cap of 40" in page.text
    assert "(7.50%)" in page.text
    queue = page.text.split('<div class="card queue">')[1]
    assert "<strong>3</strong> messages waiting for delivery." in queue
    assert 'The oldest was accepted <span class="when"><time' in queue


async def test_the_charts_render_without_inline_style(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("admin"))
    for query in ("", "?range=7d", "?range=30d&tenant=acme&domain=example.com"):
        page = await browser.get(f"/{query}")
        assert page.status_code == 200
        assert page.text.count('<figure class="chart">') == 3
        assert "style=" not in page.text
        assert "<style" not in page.text
        assert "<script>" not in page.text
    hourly = (await browser.get("/?tenant=acme")).text
    assert "sent: 4 in the hour from" in hourly
    assert "rejected: 2 in the hour from" in hourly


async def test_a_fresh_install_shows_how_to_get_started(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/")
    assert "Getting started" in page.text
    for href in ("/domains", "/credentials", "/messages"):
        assert f'<li><a href="{href}">' in page.text
    assert "Engagement: nothing in this range." in page.text
    tenant_id = await site.tenant("acme")
    await site.services.domains.add("acme", "example.com")
    await accounts.create_credential(site.db, "acme")
    await sent(site.db, tenant_id, ["a@x.test"], datetime.now(UTC), "app@example.com")
    assert "Getting started" not in (await browser.get("/")).text
