"""The API's machinery over real HTTP: keys, the error shape, the rate limit, the document."""

from __future__ import annotations

import pytest

from tests.support.site import Site


async def test_no_key_or_a_bad_key_is_401_with_the_error_shape(site: Site) -> None:
    for key in (None, "sgw_000000000000_nope", "not-a-key"):
        response = await (await site.api(key)).get("/tenants")
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "unauthorized"
        assert error["message"]
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_is_refused(site: Site) -> None:
    from gateway.identity.accounts import now
    from gateway.storage import apikeys

    key = await site.key("acme")
    api = await site.api(key)
    assert (await api.get("/tenants")).status_code == 200
    [info] = await apikeys.list_keys(site.db)
    await apikeys.revoke_key(site.db, info.id, now())
    assert (await api.get("/tenants")).status_code == 401


async def test_bad_input_names_the_field(site: Site) -> None:
    api = await site.api(await site.key())
    response = await api.post("/tenants", json={"name": "Not Valid!"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    wrong_type = await api.post("/tenants", json={"name": 5})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["field"] == "name"
    unknown = await api.post("/tenants", json={"name": "ok", "colour": "red"})
    assert unknown.json()["error"]["field"] == "colour"
    empty = await api.post("/tenants", content=b"")
    assert empty.json()["error"]["message"] == "send a JSON object as the body"


@pytest.mark.parametrize("site_settings", [{"api_rate_limit": 0.01, "api_rate_burst": 5}])
async def test_a_key_is_rate_limited(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    burst = site.services.settings.api_rate_burst
    statuses = [(await api.get("/tenants")).status_code for _ in range(burst + 5)]
    assert statuses[:burst] == [200] * burst
    limited = await api.get("/tenants")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert (await api.get("/credentials")).status_code == 429  # one bucket for every endpoint
    other = await site.api(await site.key("acme"))
    assert (await other.get("/tenants")).status_code == 200


async def test_the_openapi_document_lists_every_endpoint(site: Site) -> None:
    from admin.api import endpoints

    document = (await (await site.api(None)).get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    listed = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert len(listed) == len(endpoints())
    assert ("POST", "/api/v1/tenants") in listed
    assert "Error" in document["components"]["schemas"]


async def test_an_unknown_path_is_a_json_404(site: Site) -> None:
    response = await (await site.api(await site.key())).get("/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_ids_and_cursors_no_database_can_hold_are_clear_refusals(site: Site) -> None:
    api = await site.api(await site.key())
    huge = await api.delete("/users/99999999999999999999")
    assert (huge.status_code, huge.json()["error"]["code"]) == (404, "not_found")
    for cursor in ("%C2%B2", "9" * 30):
        response = await api.get(f"/activity?cursor={cursor}")
        assert response.status_code == 400, cursor
        assert response.json()["error"]["field"] == "cursor"
    far = await api.get("/activity", params={"until": "9999-12-31T23:59:00-05:00"})
    assert (far.status_code, far.json()["error"]["field"]) == (400, "until")


async def test_nul_characters_are_refused_before_they_reach_the_database(site: Site) -> None:
    api = await site.api(await site.key())
    query = await api.get("/messages", params={"sender": "a\x00b"})
    assert (query.status_code, query.json()["error"]["field"]) == (400, "sender")
    body = await api.post("/tenants", content=b'{"name": "a\\u0000b"}')
    assert body.status_code == 400
    assert "NUL" in body.json()["error"]["message"]


async def test_an_admin_creating_for_no_tenant_is_told_to_name_it(site: Site) -> None:
    api = await site.api(await site.key())
    response = await api.post("/credentials", json={"description": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "tenant"


async def test_answers_are_never_cached(site: Site) -> None:
    api = await site.api(await site.key())
    assert (await api.get("/tenants")).headers["cache-control"] == "no-store"
    static = await (await site.browser()).get("/static/app.css")
    assert "cache-control" not in static.headers
