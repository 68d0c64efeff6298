"""The AWS accounts pages (admins): add with field errors (checked against moto), the secret
fields never rendered back, test, remove refused while a tenant uses it; the tenant page's
account."""

from __future__ import annotations

import httpx

from gateway.storage import activity
from tests.conftest import add_verified_domain
from tests.support.motoaccounts import ALPHA, allow, iam_enforced, keys_in
from tests.support.site import Site


async def followed(browser: httpx.AsyncClient, answer: httpx.Response) -> httpx.Response:
    """The page a form's answer (303) sends to, with its flash message."""
    assert answer.status_code == 303, answer.text
    return await browser.get(answer.headers["location"])


async def test_an_admin_adds_tests_and_removes_an_account(site: Site, moto_server: str) -> None:
    browser = await site.browser(await site.user("admin"))
    key_id, secret = keys_in(moto_server, ALPHA, "panel", allow("ses:*"))
    form = {"name": "alpha", "region": "eu-west-1", "access_key_id": key_id}
    answer = await site.post_form(browser, "/aws-accounts", {**form, "secret_access_key": secret})
    assert answer.headers["location"] == "/aws-accounts/alpha"
    added = await followed(browser, answer)
    assert "Added AWS account alpha: SES answered." in added.text
    assert "stored encrypted (never shown)" in added.text
    await site.tenant("acme")
    moved = await followed(
        browser,
        await site.post_form(
            browser, "/tenants/acme", {"action": "aws_account", "aws_account": "alpha"}
        ),
    )
    assert "acme sends through alpha." in moved.text
    tested = await followed(
        browser,
        await site.post_form(browser, "/aws-accounts/alpha/test", {}, "/aws-accounts/alpha"),
    )
    assert "AWS account alpha works" in tested.text
    refused = await site.post_form(
        browser, "/aws-accounts/alpha/remove", {"confirmed": "yes"}, "/aws-accounts/alpha"
    )
    assert refused.status_code == 409
    assert 'class="field-error" id="e-remove">AWS account alpha is used by tenant acme' in (
        refused.text
    )
    pages = [added.text, moved.text, tested.text, refused.text]
    for path in ("/aws-accounts", "/aws-accounts/alpha", "/tenants/acme", "/activity"):
        pages.append((await browser.get(path)).text)
    assert all(secret not in page for page in pages)
    await site.post_form(
        browser, "/tenants/acme", {"action": "aws_account", "aws_account": "default"}
    )
    removed = await followed(
        browser,
        await site.post_form(
            browser, "/aws-accounts/alpha/remove", {"confirmed": "yes"}, "/aws-accounts/alpha"
        ),
    )
    assert "Removed the AWS account alpha." in removed.text
    kinds = [e.kind for e in await activity.list_activity(site.db, limit=10)]
    assert kinds[0] == "aws_account.removed"


async def test_a_failed_check_is_a_field_error_and_the_secret_is_not_rendered_back(
    site: Site, moto_server: str
) -> None:
    browser = await site.browser(await site.user("admin"))
    policy = allow("ses:*", deny=("ses:GetAccount", "ses:GetSendQuota"))
    key_id, secret = keys_in(moto_server, ALPHA, "panel-denied", policy)
    form = {"name": "alpha", "region": "eu-west-1", "access_key_id": key_id}
    with iam_enforced(moto_server):
        refused = await site.post_form(
            browser, "/aws-accounts", {**form, "secret_access_key": secret}
        )
    assert refused.status_code == 400
    assert (
        'id="e-access_key_id">AWS account alpha: the account&#39;s credentials may not call ses:Get'
        in (refused.text)
    )
    assert f'value="{key_id}"' in refused.text  # kept, to correct
    assert secret not in refused.text
    assert "No AWS accounts yet" in refused.text


async def test_a_tenant_with_domains_is_not_moved_and_the_page_says_how(
    site: Site, moto_server: str
) -> None:
    browser = await site.browser(await site.user("admin"))
    key_id, secret = keys_in(moto_server, ALPHA, "panel-moves", allow("ses:*"))
    form = {"name": "alpha", "region": "eu-west-1", "access_key_id": key_id}
    await site.post_form(browser, "/aws-accounts", {**form, "secret_access_key": secret})
    tenant_id = await site.tenant("acme")
    await add_verified_domain(site.db, tenant_id, "acme.example")
    refused = await site.post_form(
        browser, "/tenants/acme", {"action": "aws_account", "aws_account": "alpha"}
    )
    assert refused.status_code == 409
    assert 'id="e-aws_account">tenant acme has sending domains (acme.example)' in refused.text


async def test_owners_do_not_see_the_accounts(site: Site) -> None:
    await site.tenant("acme")
    browser = await site.browser(await site.user("owner", "acme"))
    assert (await browser.get("/aws-accounts")).status_code == 403
    assert 'href="/aws-accounts"' not in (await browser.get("/")).text
