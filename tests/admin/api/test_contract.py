"""The OpenAPI document against the running API: schemathesis (the real tool, over real HTTP)
sends generated requests to every operation (but the webhook test-send, which would POST to a
generated URL) and checks each answer against the document; again with records to find for the
send API, the templates and the campaigns."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from gateway.identity.accounts import now
from gateway.storage import campaigns, contacts, templates
from tests.conftest import add_verified_domain
from tests.support.site import UNLIMITED_API, Site

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


NO_NETWORK = {
    **UNLIMITED_API,
    # DNS checks of generated domains ask a closed port on loopback, never the internet.
    "dns_nameservers": ["127.0.0.1:9"],
    "dns_timeout": 0.2,
}


async def _schemathesis(site: Site, key: str, examples: int, *options: str) -> None:
    """Run schemathesis against the site's API with `key`; `options` select the operations."""
    tool = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert tool, "schemathesis is installed with the test extra"
    process = await asyncio.create_subprocess_exec(
        tool,
        "run",
        f"{site.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--seed",
        "7",
        "--workers",
        "1",
        "--warnings",
        "off",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]


@pytest.mark.slow
@pytest.mark.parametrize("site_settings", [NO_NETWORK])
async def test_the_api_matches_its_openapi_document(site: Site) -> None:
    await site.tenant("acme")
    # A test-send POSTs to the webhook's URL: a generated public one would leave loopback. The
    # SES account's calls answer SES's refusal as 502 by design (moto has none of them; a
    # second production request conflicts): tests/admin/api/test_ses.py covers them.
    await _schemathesis(
        site,
        await site.key(),
        5,
        "--exclude-path",
        "/api/v1/webhooks/{id}/test",
        "--exclude-path",
        "/api/v1/suppressions/import-ses",
        "--exclude-path",
        "/api/v1/ses/production-request",
    )


@pytest.mark.parametrize("site_settings", [NO_NETWORK])
async def test_the_send_api_matches_its_openapi_document(site: Site) -> None:
    """With a tenant's key, which does send (an admin key is refused before the policy); the
    tenant has a template (id 1), and a contact, for `template` and the template's preview."""
    tenant_id = await site.tenant("acme")
    await add_verified_domain(site.db, tenant_id, "example.com")
    await templates.add_template(
        site.db, tenant_id, "t", "s", "<p>{{a | default('')}}</p>", None, now()
    )
    news = await contacts.create_list(site.db, tenant_id, "news", now())
    await contacts.add_contact(site.db, tenant_id, news.id, "a@example.org", {"a": "b"}, now())
    key = await site.key("acme")
    paths = r"^/api/v1/(emails|templates/\{id\}/(preview|test))"
    await _schemathesis(site, key, 30, "--include-path-regex", paths)


@pytest.mark.parametrize("site_settings", [NO_NETWORK])
async def test_the_campaign_api_matches_its_openapi_document(site: Site) -> None:
    """With a tenant's key: its campaign (id 1) of its list (id 1, one contact) and template,
    for the campaigns' operations (their figures, by list, the test send), a list's figures (and
    their CSV and workbook) and the stats filtered by campaign."""
    tenant_id = await site.tenant("acme")
    await add_verified_domain(site.db, tenant_id, "example.com")
    template_id = await templates.add_template(
        site.db, tenant_id, "t", "s", "<p>{{a | default('')}}</p>", None, now()
    )
    news = await contacts.create_list(site.db, tenant_id, "news", now())
    await contacts.add_contact(site.db, tenant_id, news.id, "a@example.org", {"a": "b"}, now())
    await campaigns.add_campaign(
        site.db,
        tenant_id=tenant_id,
        name="c",
        template_id=template_id,
        list_ids=[news.id],
        exclude_list_id=None,
        sender="n@example.com",
        time_zone="UTC",
        state="draft",
        recipients=0,
        created_at=now(),
    )
    key = await site.key("acme")
    paths = r"^/api/v1/(campaigns|lists/\{id\}/(figures|report)|stats)"
    await _schemathesis(site, key, 20, "--include-path-regex", paths)
