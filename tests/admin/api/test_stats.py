"""`/api/v1/stats`: the same numbers as the dashboard, scoped to the key's tenant, with the span,
the buckets, the rates against the thresholds and the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.messages import queued
from tests.support.site import Site
from tests.support.traffic import ACME_DAY, counts, two_tenants


def column_sums(series: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(b["counts"][name] for b in series) for name in ACME_DAY}


async def test_a_tenant_key_gets_its_counts_rates_and_queue(site: Site) -> None:
    data = await two_tenants(site)
    await queued(site.db, data.acme, at=data.now - timedelta(minutes=10))
    api = await site.api(await site.key("acme"))
    answer = await api.get("/stats")
    assert answer.status_code == 200
    stats = answer.json()
    assert stats["totals"] == ACME_DAY
    assert (stats["tenant"], stats["domain"], stats["bucket"]) == ("acme", None, 3600)
    assert len(stats["series"]) == 24
    assert column_sums(stats["series"]) == ACME_DAY
    assert datetime.fromisoformat(stats["series"][0]["start"]).minute == 0
    rates = stats["rates"]
    assert (rates["sends"], rates["bounced"], rates["complained"]) == (5, 1, 1)
    assert (rates["bounce_rate"], rates["verdict"]) == (20.0, "too_few")
    assert rates["thresholds"]["bounce_pause"] == 5.0
    assert stats["queue"]["pending"] == 1
    assert 590 <= stats["queue"]["oldest_age"] < 700


async def test_the_api_says_what_the_page_shows(site: Site) -> None:
    await two_tenants(site)
    browser = await site.browser(await site.user("owner", "acme"))
    api = await site.api(await site.key("acme"))
    today = datetime.now(UTC).date()
    since = today - timedelta(days=6)
    week_page = f"?range=custom&since={since}&until={today}"  # until a date: the whole day
    week_api = f"?since={since}&until={today + timedelta(days=1)}&bucket=day"
    pairs = (("", ""), ("?domain=example.com", "?domain=example.com"), (week_page, week_api))
    for page, query in pairs:
        shown = counts((await browser.get(f"/{page}")).text)
        assert (await api.get(f"/stats{query}")).json()["totals"] == shown


async def test_a_tenant_key_never_sees_another_tenants_stats(site: Site) -> None:
    await two_tenants(site)
    api = await site.api(await site.key("other"))
    stats = (await api.get("/stats")).json()
    assert (stats["totals"]["sent"], stats["totals"]["bounced"], stats["tenant"]) == (4, 0, "other")
    assert column_sums(stats["series"]) == stats["totals"]
    assert stats["rates"]["sends"] == 4
    for query in ("tenant=acme", "domain=example.com", "domain=nowhere.test"):
        refused = await api.get(f"/stats?{query}")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"


async def test_an_admin_key_sees_every_tenant_or_one(site: Site) -> None:
    await two_tenants(site)
    api = await site.api(await site.key())
    everyone = (await api.get("/stats")).json()
    assert (everyone["tenant"], everyone["totals"]["sent"], everyone["rates"]["sends"]) == (
        None,
        8,
        9,
    )
    assert (await api.get("/stats?tenant=acme")).json()["totals"] == ACME_DAY
    shop = (await api.get("/stats?domain=shop.example")).json()
    assert (shop["domain"], shop["totals"]["sent"], shop["totals"]["complained"]) == (
        "shop.example",
        1,
        1,
    )


async def test_since_until_and_bucket_choose_the_buckets(site: Site) -> None:
    data = await two_tenants(site)
    api = await site.api(await site.key("acme"))
    since = (data.now - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    until = since + timedelta(days=3)  # before the mail of two hours ago
    query = {"since": since.isoformat(), "until": until.isoformat(), "bucket": "day"}
    stats = (await api.get("/stats", params=query)).json()
    assert stats["bucket"] == 86400
    assert [b["start"][:10] for b in stats["series"]] == [
        (since + timedelta(days=i)).date().isoformat() for i in range(3)
    ]
    assert [b["counts"]["sent"] for b in stats["series"]] == [0, 1, 0]
    seconds = (await api.get("/stats", params={**query, "bucket": "43200"})).json()
    assert (seconds["bucket"], len(seconds["series"])) == (43200, 6)
    naive = {"since": since.replace(tzinfo=None).isoformat(), "until": until.isoformat()[:19]}
    assert (await api.get("/stats", params=naive)).json()["since"] == stats["since"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bucket": "week"}, "bucket"),
        ({"bucket": "0"}, "bucket"),
        ({"since": "2026-01-01T00:00:00Z", "bucket": "60"}, "bucket"),  # too many buckets
        ({"since": "2026-01-10T00:00:00Z", "until": "2026-01-05T00:00:00Z"}, "until"),
        ({"until": "2026-01-05T00:00:00Z"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "1700000000"}, "since"),
        ({"bucket": "100000000000000"}, "bucket"),
        ({"bucket": "²"}, "bucket"),
        ({"color": "blue"}, "color"),
    ],
)
async def test_bad_queries_are_field_errors(site: Site, query: dict[str, str], field: str) -> None:
    api = await site.api(await site.key())
    refused = await api.get("/stats", params=query)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert error["message"]


async def test_stats_need_a_key(site: Site) -> None:
    api = await site.api(None)
    refused = await api.get("/stats")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
