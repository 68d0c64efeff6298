"""Tenant isolation over EVERY endpoint of the API and EVERY page of the panel: a key and an
owner of tenant acme aim each request at tenant globex's records (its name, its domain, the ids
of its credential, key, user, webhook, template, list, campaign and notification, its
suppressed address, its message; mail sent from its domain and with its idempotency key).

Whatever each answer is, globex's records are unchanged afterwards, and no answer holds
anything of globex's that the request did not name itself. The endpoints and pages are read
from the registries, so a new one is covered as soon as it exists; one with a path parameter
this test cannot fill fails it. Every GET (and each endpoint with such a query) also names
globex's campaign as the dashboard's and the stats' campaign filter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from admin.api import endpoints
from admin.panel import AREAS
from gateway.audience import imports
from gateway.feedback import suppressions
from gateway.identity import accounts, apikeys, users
from gateway.identity.accounts import now
from gateway.storage import activity as activity_store
from gateway.storage import apikeys as key_store
from gateway.storage import campaigns as campaign_store
from gateway.storage import contacts as contact_store
from gateway.storage import domains as domain_store
from gateway.storage import notifications, queue, templates, tenants, webhooks
from gateway.storage import users as user_store
from tests.conftest import add_verified_domain
from tests.support.messages import SEALER, queued
from tests.support.site import UNLIMITED_API, Site, csrf_token

SAMPLES: dict[str, Any] = {
    "tenant": "globex",
    "name": "globex",
    "email": "new@people.test",
    "role": "owner",
    "reason": "isolation",
    "address": "isolation@example.org",
    "url": "https://hooks.example.com/in",
    "cidr": "10.9.9.0/24",
    "domain": "globex.test",
    "description": "isolation",
    "local_part": "isolation",
    "subject": "isolation",
    "html": "<p>isolation</p>",
}


@dataclass
class Globex:
    """Tenant globex's records, and what of them must never reach acme."""

    tenant_id: int
    queue_id: str
    credential_id: int
    key_id: int
    user_id: int
    webhook_id: int
    notification_id: int
    template_id: int
    list_id: int
    import_id: int
    campaign_id: int
    secrets: tuple[str, ...]

    def path(self, template: str) -> str:
        """`template` with every parameter naming one of globex's records."""
        by_area = {
            "tenants": {"name": "globex"},
            "domains": {"name": "globex.test", "address": "news@globex.test"},
            "users": {"id": self.user_id},
            "credentials": {"id": self.credential_id},
            "api-keys": {"id": self.key_id},
            "webhooks": {"id": self.webhook_id},
            "notifications": {"id": self.notification_id},
            "activity": {"id": self.notification_id},
            "suppressions": {"address": "secret@globex.test"},
            "messages": {"queue_id": self.queue_id},
            "templates": {"id": self.template_id},
            "lists": {
                "id": self.list_id,
                "import_id": self.import_id,
                "email": CONTACT,
                "kind": "csv",
            },
            "imports": {"id": self.import_id},
            "campaigns": {"id": self.campaign_id, "kind": "csv"},
            "aws-accounts": {"name": "partner"},  # operators' objects: no tenant sees any
        }
        area = template.strip("/").split("/")[0]
        if template.startswith("/credentials/api-keys/"):
            area = "api-keys"

        def fill(match: re.Match[str]) -> str:
            value = by_area.get(area, {}).get(match.group(1))
            assert value is not None, f"fill {match.group(0)} of {template} in this test"
            return str(value)

        return re.sub(r"{(\w+)(?::\w+)?}", fill, template)


CONTACT = "secret-contact@globex.test"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _globex(site: Site) -> Globex:
    tenant_id = await site.tenant("globex")
    await add_verified_domain(site.db, tenant_id, "globex.test")
    [domain] = await domain_store.list_domains(site.db, "globex")
    values = {"address": "news@globex.test", "created_at": now(), "ses_identity": False}
    await domain_store.insert_address(site.db, domain, tenant_id, values)
    credential = await accounts.create_credential(site.db, "globex", "globex secret description")
    key = await apikeys.create_api_key(site.db, "globex", "globex key description")
    user = await users.create_user(site.db, "boss@globex.test", "owner", "globex", "x" * 16)
    hook = "https://hooks.globex.test/private-path"
    webhook_id = await webhooks.insert_webhook(site.db, tenant_id, hook, ["bounce"], "s", now())
    await suppressions.add(site.db, "secret@globex.test", "globex", "manual", "globex detail")
    queue_id = await queued(
        site.db, tenant_id, ["rcpt@customer-of-globex.test"], mail_from="ceo@globex.test"
    )
    await activity_store.record_activity(
        site.db, tenant_id, "domain.verified", "globex.test", "globex activity", now(), True
    )
    [notification] = await notifications.list_notifications(site.db, "globex")
    template_id = await templates.add_template(
        site.db, tenant_id, "plans", "globex template subject", "<p>globex plans</p>", None, now()
    )
    contact_list = await contact_store.create_list(site.db, tenant_id, "globex list", now())
    csv_file = f"email,secret\n{CONTACT},globex field\nglobex-invalid-row\n".encode()
    report = await imports.import_csv(
        site.db, contact_list, tenant_id, _chunks(csv_file), "globex.csv", "globex"
    )
    assert (report.added, report.invalid) == (1, 1)
    campaign_id = await campaign_store.add_campaign(
        site.db,
        tenant_id=tenant_id,
        name="globex campaign",
        template_id=template_id,
        list_ids=[contact_list.id],
        exclude_list_id=None,
        sender="news@globex.test",
        time_zone="UTC",
        state="sending",
        recipients=1,
        created_at=now(),
    )
    await campaign_store.add_recipients(
        site.db, campaign_id, [(CONTACT, {"x": "1"})], now(), contact_list.id
    )
    secrets = (
        credential.credential.username,
        "globex secret description",
        key.info.prefix,
        "boss@globex.test",
        "hooks.globex.test",
        "globex detail",
        "rcpt@customer-of-globex.test",
        "ceo@globex.test",
        "globex activity",
        "globex template subject",
        "globex plans",
        "globex list",
        CONTACT,
        "globex field",
        "globex-invalid-row",
        "globex campaign",
    )
    return Globex(
        tenant_id,
        queue_id,
        credential.credential.id,
        key.info.id,
        user.user.id,
        webhook_id,
        notification.id,
        template_id,
        contact_list.id,
        report.id,
        campaign_id,
        secrets,
    )


async def _state(site: Site, globex: Globex) -> str:
    """Everything of globex's that a request could change."""
    db = site.db
    parts = [
        await tenants.get_tenant(db, "globex"),
        await tenants.get_limits(db, globex.tenant_id),
        await domain_store.list_domains(db, "globex"),
        await domain_store.list_addresses(db, "globex"),
        [
            (c.id, c.revoked_at, c.paused_reason)
            for c in await tenants.list_credentials(db, "globex")
        ],
        [(k.id, k.revoked_at) for k in await key_store.list_keys(db, globex.tenant_id)],
        await user_store.list_users(db, globex.tenant_id),
        await webhooks.list_webhooks(db, "globex"),
        await suppressions.list_entries(db, "globex"),
        await notifications.list_notifications(db, "globex"),
        await queue.message_status(db, SEALER, globex.queue_id),
        await templates.list_templates(db, "globex"),
        await queue.pending_summary(db, globex.tenant_id),
        await contact_store.list_lists(db, globex.tenant_id),
        await contact_store.list_imports(db, globex.list_id),
        await campaign_store.list_campaigns(db, globex.tenant_id),
        await campaign_store.recipients(db, globex.campaign_id),
        await campaign_store.report(db, globex.campaign_id),
        [
            batch
            async for batch in contact_store.contact_batches(
                db, contact_store.Search(globex.list_id), now()
            )
        ],
    ]
    return repr(parts)


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    """A body of the model's required members (and `tenant`), aimed at globex."""
    properties = schema.get("properties", {})
    wanted = set(schema.get("required", ())) | ({"tenant"} & set(properties))
    return {name: SAMPLES.get(name, "x") for name in wanted}


def _leaks(globex: Globex, request: str, answer: str) -> list[str]:
    return [s for s in globex.secrets if s in answer and s not in request]


# Every endpoint asked one after the other, faster than a key's default rate.
@pytest.mark.parametrize("site_settings", [UNLIMITED_API])
async def test_no_endpoint_lets_a_tenant_key_see_or_change_another_tenant(site: Site) -> None:
    globex = await _globex(site)
    before = await _state(site, globex)
    api = await site.api(await site.key("acme"))
    leaks: dict[str, list[str]] = {}
    for endpoint in endpoints():
        path = globex.path(endpoint.path)
        aimed = {"tenant": "globex", "campaign": globex.campaign_id}
        fields = endpoint.query.model_fields if endpoint.query else {}
        params = {name: value for name, value in aimed.items() if name in fields}
        body = _body(endpoint.body.model_json_schema()) if endpoint.body else None
        answer = await api.request(endpoint.method, path, params=params, json=body)
        assert answer.status_code < 500, f"{endpoint.method} {path}: {answer.text}"
        if path != endpoint.path:
            assert answer.status_code in (403, 404), f"{endpoint.method} {path}: {answer.text}"
        if found := _leaks(globex, f"{path} {params} {body}", answer.text):
            leaks[f"{endpoint.method} {path}"] = found
    assert leaks == {}
    assert await _state(site, globex) == before


async def _pages() -> list[tuple[str, str]]:
    return [
        (method, path)
        for area in AREAS
        for path, methods, _ in area.pages.handlers
        for method in methods
        if path != "/logout"
    ]


async def test_no_page_lets_a_tenant_owner_see_or_change_another_tenant(site: Site) -> None:
    globex = await _globex(site)
    before = await _state(site, globex)
    browser = await site.browser(await site.user("owner", "acme"))
    token = csrf_token((await browser.get("/account")).text)
    leaks: dict[str, list[str]] = {}
    for method, template in await _pages():
        path = globex.path(template)
        if method == "GET":
            aimed = {"tenant": "globex", "domain": "globex.test", "campaign": globex.campaign_id}
            answer = await browser.get(path, params=aimed)
            sent = f"{path} {aimed}"
        else:
            form = {**SAMPLES, "csrf_token": token, "confirmed": "yes", "action": "pause"}
            answer = await browser.post(path, data=form)
            sent = f"{path} {form}"
        assert answer.status_code < 500, f"{method} {path}: {answer.text[:500]}"
        if found := _leaks(globex, sent, answer.text):
            leaks[f"{method} {path}"] = found
    assert leaks == {}
    assert await _state(site, globex) == before


async def test_the_send_api_never_sends_as_nor_replays_for_another_tenant(site: Site) -> None:
    """Mail from globex's domain, and globex's idempotency key, with acme's key."""
    globex = await _globex(site)
    message = {"to": ["isolation@example.org"], "subject": "s", "text": "x"}
    shared = {"Idempotency-Key": "shared-key"}
    theirs = await (await site.api(await site.key("globex"))).post(
        "/emails", json={"from": "ceo@globex.test", **message}, headers=shared
    )
    assert theirs.status_code == 202, theirs.text
    before = await _state(site, globex)
    await add_verified_domain(site.db, await site.tenant("acme"), "acme.test")
    api = await site.api(await site.key("acme"))
    spoofed = {"from": "ceo@globex.test", **message}
    for path, body in (("/emails", spoofed), ("/emails/batch", {"emails": [spoofed]})):
        answer = await api.post(path, json=body)
        # Answered as for a domain nobody has: globex's domain is not even named as taken.
        assert "sender_unknown" in answer.text, answer.text
        assert "sender_not_owned" not in answer.text
        assert _leaks(globex, str(body), answer.text) == []
    mine = await api.post("/emails", json={"from": "a@acme.test", **message}, headers=shared)
    assert mine.status_code == 202, mine.text
    assert "idempotent-replayed" not in mine.headers
    assert theirs.json()["id"] not in mine.text
    assert await _state(site, globex) == before


async def test_the_matrix_itself_sees_a_leak(site: Site) -> None:
    """The same requests by an admin do reach globex's records: the checks above can fail."""
    globex = await _globex(site)
    api = await site.api(await site.key())
    answer = await api.get(f"/messages/{globex.queue_id}")
    assert answer.status_code == 200
    assert _leaks(globex, "", answer.text)
    refused: httpx.Response = await (await site.api(await site.key("acme"))).get(
        f"/messages/{globex.queue_id}"
    )
    assert refused.status_code == 404


async def test_no_send_nor_preview_reaches_another_tenants_template_or_contact(site: Site) -> None:
    """Globex's template (by id and by name), its contact and its list, named by acme's key in
    the send API and the template preview, and by acme's owner in the panel's preview."""
    globex = await _globex(site)
    before = await _state(site, globex)
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "acme.test")
    mine = await templates.add_template(
        site.db, acme, "mine", "s", "<p>{{secret | default('none')}}</p>", None, now()
    )
    api = await site.api(await site.key("acme"))
    message = {"from": "a@acme.test", "to": ["isolation@example.org"]}
    for template in (globex.template_id, "plans"):
        for path, body in (
            ("/emails", {**message, "template": template}),
            ("/emails/batch", {"emails": [{**message, "template": template}]}),
        ):
            answer = await api.post(path, json=body)
            assert "not_found" in answer.text, answer.text
            assert _leaks(globex, str(body), answer.text) == []
    for given in ({"contact": CONTACT}, {"contact": CONTACT, "list": "globex list"}):
        for action, extra in (
            ("preview", {}),
            ("test", {"to": "me@acme.test", "from": "a@acme.test"}),
        ):
            body = {**given, **extra}
            answer = await api.post(f"/templates/{mine}/{action}", json=body)
            assert answer.status_code == 404, answer.text
            assert _leaks(globex, str(body), answer.text) == []
    browser = await site.browser(await site.user("owner", "acme"))
    for page in ("preview", "frame"):
        params = {"contact": CONTACT, "list": "globex list"}
        shown = await browser.get(f"/templates/{mine}/{page}", params=params)
        assert "no list named" in shown.text, shown.text
        assert _leaks(globex, str(params), shown.text) == []
    assert await _state(site, globex) == before
    assert await queue.pending_count(site.db) == 1, "globex's message alone"
