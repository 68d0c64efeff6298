"""A domain page of `serve --dev`: SES is the dev emulator (moto behind the layer that verifies
as SES does), so the page shows the DKIM records and the pending state a real operator sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.dev.emulator import publish_records, start_emulator
from tests.support.site import Site


@pytest.fixture
def moto_server(aws_env: pytest.MonkeyPatch) -> Iterator[str]:
    """The `site`'s SES: the dev emulator, which takes records as published only when told."""
    aws_env.delenv("AWS_ENDPOINT_URL", raising=False)
    emulator = start_emulator(verify_delay=3600)
    yield emulator.url
    emulator.stop()


async def test_the_domain_page_shows_dkim_records_and_pending_until_verified(
    site: Site, moto_server: str
) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    added = await site.post_form(browser, "/domains", {"name": "acme.test", "dkim": "easy"})
    assert (added.status_code, added.headers["location"]) == (303, "/domains/acme.test")
    page = await browser.get("/domains/acme.test")
    tokens = (await site.services.domains.get("acme.test")).state.dkim_tokens
    assert len(tokens) == 3
    for token in tokens:
        assert f"{token}._domainkey.acme.test" in page.text
        assert f"{token}.dkim.amazonses.com" in page.text
    listed = await browser.get("/domains")
    assert 'class="status pending"' in listed.text

    await publish_records(moto_server, "us-east-1", "acme.test")
    synced = await site.post_form(browser, "/domains/acme.test/sync", {}, page="/domains")
    page = await browser.get(synced.headers["location"])
    assert "SES says: verified for sending. SES verified the identity for sending." in page.text
