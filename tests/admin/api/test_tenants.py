"""`/api/v1/tenants` and `/api/v1/users`: what admins and tenants' keys may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.feedback import reputation
from gateway.storage.activity import list_activity
from tests.support.site import Site


async def test_an_admin_key_creates_pauses_and_limits_a_tenant(site: Site) -> None:
    api = await site.api(await site.key())
    created = await api.post("/tenants", json={"name": "acme"})
    assert created.status_code == 201
    assert created.json()["name"] == "acme"
    again = await api.post("/tenants", json={"name": "acme"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    paused = await api.put("/tenants/acme/pause", json={"reason": "bounces"})
    assert paused.json()["paused_reason"] == "bounces"
    limits = await api.patch("/tenants/acme/limits", json={"max_per_day": 500})
    assert limits.json()["limits"]["max_per_day"] == 500
    zero = await api.patch("/tenants/acme/limits", json={"max_per_day": 0})
    assert (zero.status_code, zero.json()["error"]["field"]) == (400, "max_per_day")
    detail = (await api.get("/tenants/acme")).json()
    assert detail["tenant"]["paused_reason"] == "bounces"
    assert detail["limits"]["max_per_day"] == 500


async def test_a_tenant_key_sees_only_its_tenant_and_changes_none(site: Site) -> None:
    await site.tenant("other")
    api = await site.api(await site.key("acme"))
    listed = (await api.get("/tenants")).json()["data"]
    assert [t["name"] for t in listed] == ["acme"]
    assert (await api.get("/tenants/other")).status_code == 404
    assert (await api.post("/tenants", json={"name": "mine"})).status_code == 403
    assert (await api.put("/tenants/acme/pause", json={"reason": "x"})).status_code == 403
    assert (await api.get("/users")).status_code == 403


async def test_users_are_created_with_a_password_shown_once(site: Site) -> None:
    await site.tenant("acme")
    api = await site.api(await site.key())
    created = await api.post(
        "/users", json={"email": "Owner@Acme.test", "role": "owner", "tenant": "acme"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["user"]["email"] == "owner@acme.test"
    assert len(body["password"]) >= 32
    no_tenant = await api.post("/users", json={"email": "v@acme.test", "role": "viewer"})
    assert (no_tenant.status_code, no_tenant.json()["error"]["field"]) == (400, "tenant")
    listed = (await api.get("/users")).json()["data"]
    assert "password" not in listed[0]
    removed = await api.delete(f"/users/{body['user']['id']}")
    assert removed.status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"max_per_second": Infinity}', "max_per_second must be a finite number more than 0"),
        ('{"max_per_second": NaN}', "max_per_second must be a finite number more than 0"),
        ('{"max_per_second": -2.5}', "max_per_second must be a finite number more than 0"),
        ('{"max_per_day": -1}', "max_per_day must be a whole number more than 0"),
    ],
)
async def test_a_limit_is_a_finite_number_more_than_0(site: Site, body: str, message: str) -> None:
    """`Infinity` and `NaN`, which JSON parsing lets through, would switch the limit off; the
    message is the panel's and the CLI's."""
    await site.tenant("acme")
    api = await site.api(await site.key())
    refused = await api.patch(
        "/tenants/acme/limits", content=body, headers={"content-type": "application/json"}
    )
    field = message.split()[0]
    assert (refused.status_code, refused.json()["error"]) == (
        400,
        {"status": 400, "code": "invalid_input", "message": message, "field": field},
    )
    assert (await api.get("/tenants/acme")).json()["limits"][field] is None


async def test_a_pause_and_a_resume_are_audited_once_and_leave_the_reputation_window(
    site: Site,
) -> None:
    """Only the reputation guard's own pause (`tenant.paused`) restarts the window it judges:
    a person's says nothing of the sends, from whichever interface."""
    acme = await site.tenant("acme")
    api = await site.api(await site.key())
    assert (await api.put("/tenants/acme/pause", json={"reason": "checking"})).status_code == 200
    assert (await api.put("/tenants/acme/pause", json={"reason": None})).status_code == 200
    entries = [(e.kind, e.detail, e.actor) for e in await list_activity(site.db, "acme")]
    [(_, _, actor), _] = entries
    assert actor is not None
    assert actor.startswith("apikey:")
    assert entries == [("tenant.resume", "", actor), ("tenant.pause", "checking", actor)]
    settings = site.services.settings
    now = datetime.now(UTC)
    since, _ = await reputation.judge(site.db, settings, acme, "acme", now)
    assert since == now - timedelta(days=settings.reputation_window_days)
