"""The Settings page: for admins only, what to do while SNS is not wired, and never a secret."""

from __future__ import annotations

import pytest

from tests.support.site import Site

SECRETS = {
    "secret_key": "an-installation-secret-key-value",
    "metrics_token": "a-metrics-token-of-some-length",
}


@pytest.mark.parametrize("site_settings", [{**SECRETS, "body_retention_days": 3}])
async def test_the_page_shows_the_settings_and_no_secret(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await browser.get("/settings")
    assert page.status_code == 200
    for secret in SECRETS.values():
        assert secret not in page.text
    assert "SES_GATEWAY_SECRET_KEY" not in page.text
    assert "run <code>ses-gateway sns setup --public-url https://HOST</code>" in page.text
    assert "`" not in page.text.split("<main>")[1]  # commands as code, not in backticks
    queue_age = page.text.split("SES_GATEWAY_MAX_QUEUE_AGE</td>")[1].split("</td>")[0]
    assert queue_age.endswith(">24 h")  # not 86400.0
    assert "SES_GATEWAY_BODY_RETENTION_DAYS" in page.text
    assert "3 days" in page.text
    assert str(site.services.provider.region) in page.text


@pytest.mark.parametrize("role", ["owner", "viewer"])
async def test_only_admins_see_the_settings(site: Site, role: str) -> None:
    browser = await site.browser(await site.user(role, "acme"))
    assert (await browser.get("/settings")).status_code == 403
    assert 'href="/settings"' not in (await browser.get("/activity")).text
