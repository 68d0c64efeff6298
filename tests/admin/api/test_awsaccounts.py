"""`/api/v1/aws-accounts` and a tenant's account (`PATCH /tenants/{name}`): admins only, checked
with SES (moto) before stored, the secrets write-only, refusals in the API's error shape."""

from __future__ import annotations

import json

from gateway.storage import activity
from tests.support.motoaccounts import ALPHA, allow, iam_enforced, keys_in
from tests.support.site import Site


async def test_an_account_is_added_used_and_removed_by_an_admin(
    site: Site, moto_server: str
) -> None:
    api = await site.api(await site.key())
    key_id, secret = keys_in(moto_server, ALPHA, "api", allow("ses:*"))
    body = {"name": "alpha", "region": "eu-west-1", "access_key_id": key_id}
    created = await api.post("/aws-accounts", json={**body, "secret_access_key": secret})
    assert created.status_code == 201, created.text
    assert created.json()["account"]["kind"] == "keys"
    assert created.json()["quota"]["max_send_rate"] > 0
    await site.tenant("acme")
    moved = await api.patch("/tenants/acme", json={"aws_account": "alpha"})
    assert moved.json()["aws_account"] == "alpha"
    shown = [created.text, moved.text]
    for path in ("/aws-accounts", "/aws-accounts/alpha", "/tenants/acme"):
        answer = await api.get(path)
        assert answer.status_code == 200
        shown.append(answer.text)
    tested = await api.post("/aws-accounts/alpha/test")
    assert tested.json()["account"]["check_error"] is None
    shown.append(tested.text)
    assert all(secret not in text for text in shown)

    refused = await api.delete("/aws-accounts/alpha")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert "used by tenant acme" in refused.json()["error"]["message"]
    await api.patch("/tenants/acme", json={"aws_account": "default"})
    assert (await api.delete("/aws-accounts/alpha")).status_code == 204
    assert (await api.get("/aws-accounts/alpha")).status_code == 404
    audit = await activity.list_activity(site.db, limit=10)
    assert [e.kind for e in reversed(audit)] == [
        "aws_account.added",
        "tenant.aws_account",
        "aws_account.tested",
        "tenant.aws_account",
        "aws_account.removed",
    ]
    assert all(secret not in json.dumps([e.detail for e in audit]) for e in audit)


async def test_a_failed_check_is_a_field_error_and_stores_nothing(
    site: Site, moto_server: str
) -> None:
    api = await site.api(await site.key())
    policy = allow("ses:*", deny=("ses:GetAccount", "ses:GetSendQuota"))
    key_id, secret = keys_in(moto_server, ALPHA, "api-denied", policy)
    body = {"name": "alpha", "region": "eu-west-1", "access_key_id": key_id}
    with iam_enforced(moto_server):
        refused = await api.post("/aws-accounts", json={**body, "secret_access_key": secret})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "access_key_id")
    assert "may not call ses:Get" in error["message"]
    assert (await api.get("/aws-accounts")).json() == {"data": []}


async def test_form_errors_name_their_field(site: Site) -> None:
    api = await site.api(await site.key())
    refused = await api.post(
        "/aws-accounts",
        json={"name": "x", "region": "eu-west-1", "access_key_id": "AKIA1234567890AB"},
    )
    assert refused.json()["error"]["field"] == "secret_access_key"
    refused = await api.post("/aws-accounts", json={"name": "x", "region": "moon"})
    assert refused.json()["error"]["field"] == "region"


async def test_a_tenant_key_may_not_see_or_change_accounts(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    assert (await api.get("/aws-accounts")).status_code == 403
    patched = await api.patch("/tenants/acme", json={"aws_account": "default"})
    assert patched.status_code == 403
    assert patched.json()["error"]["code"] == "forbidden"


async def test_the_openapi_document_has_the_accounts_without_secrets_in_answers(
    site: Site,
) -> None:
    api = await site.api(await site.key())
    document = (await api.get("/openapi.json")).json()
    paths = {"/aws-accounts", "/aws-accounts/{name}", "/aws-accounts/{name}/test"}
    assert {f"/api/v1{path}" for path in paths} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert "secret_access_key" not in schemas["AwsAccount"]["properties"]
    assert schemas["AwsAccountCreate"]["properties"]["secret_access_key"]
