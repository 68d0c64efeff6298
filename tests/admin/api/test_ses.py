"""`/api/v1/ses` and the SES side of `/api/v1/suppressions`: the account's state, the
production request (admins only, checked before SES is called, SES's refusals in the API's
error shape), and SES's account-level suppression list kept consistent; SESv2 is the project's
SES stand-in over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.storage import activity
from tests.support.fakeses import FakeSes
from tests.support.site import Site

REQUEST = {
    "mail_type": "MARKETING",
    "website_url": "https://shop.example.com",
    "use_case": "A monthly newsletter to people who subscribed with double opt-in.",
}


@pytest.fixture
async def admin(stand_in: FakeSes, site: Site) -> Any:
    return await site.api(await site.key())


async def test_the_account_state_for_admins_only(admin: Any, site: Site, stand_in: FakeSes) -> None:
    stand_in.account.update(ProductionAccessEnabled=False)
    answer = await admin.get("/ses/account")
    assert answer.status_code == 200
    (account,) = answer.json()["data"]
    assert account["name"] == "default"
    assert account["quota"]["production_access_enabled"] is False
    assert account["quota"]["source"] == "GetAccount"

    tenant = await site.api(await site.key("acme"))
    refused = await tenant.get("/ses/account")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    posted = await tenant.post("/ses/production-request", json=REQUEST)
    assert posted.status_code == 403
    assert stand_in.account_state.calls == []


async def test_a_production_request_then_the_conflict(
    admin: Any, site: Site, stand_in: FakeSes
) -> None:
    answer = await admin.post("/ses/production-request", json=REQUEST)
    assert answer.status_code == 200, answer.text
    assert answer.json()["quota"]["review_status"] == "PENDING"
    (entry,) = await activity.list_activity(site.db, kind="ses", limit=10)
    assert (entry.kind, entry.subject) == ("ses.production_requested", "default")

    again = await admin.post("/ses/production-request", json=REQUEST)
    assert again.status_code == 502
    assert again.json()["error"] == {
        "status": 502,
        "code": "ses_error",
        "message": "ConflictException: a request for production access is already under "
        "review: wait for AWS's answer (`ses-gateway ses account` shows its status)",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"website_url": "not a url"}, "website_url"),
        ({"use_case": "x" * 5001}, "use_case"),
        ({"additional_contacts": ["a@x.example"] * 5}, "additional_contacts"),
    ],
)
async def test_bad_input_is_a_field_error_and_ses_is_not_called(
    admin: Any, stand_in: FakeSes, change: dict[str, Any], field: str
) -> None:
    answer = await admin.post("/ses/production-request", json={**REQUEST, **change})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field
    assert stand_in.account_state.calls == []


async def test_delete_unsuppresses_at_ses_and_says_a_failure(admin: Any, stand_in: FakeSes) -> None:
    for address in ("a@example.org", "b@example.org"):
        stand_in.account_state.suppress(address)
        await admin.post("/suppressions", json={"address": address})

    removed = await admin.delete("/suppressions/a@example.org")
    assert removed.status_code == 200
    assert removed.json()["ses"] == {
        "state": "removed",
        "message": "removed a@example.org from SES's account-level list too",
    }

    stand_in.account_state.fail_next(
        "DeleteSuppressedDestination", "AccessDeniedException", "not authorized", 403
    )
    failed = (await admin.delete("/suppressions/b@example.org")).json()
    assert failed["entry"]["address"] == "b@example.org"
    assert failed["ses"]["state"] == "failed"
    assert "may not call ses:DeleteSuppressedDestination" in failed["ses"]["message"]
    retried = (await admin.delete("/suppressions/b@example.org")).json()
    assert (retried["entry"], retried["ses"]["state"]) == (None, "removed")
    assert stand_in.account_state.suppressed == {}


async def test_import_ses(admin: Any, site: Site, stand_in: FakeSes) -> None:
    stand_in.account_state.suppress("a@example.org", "COMPLAINT")
    first = (await admin.post("/suppressions/import-ses")).json()
    again = (await admin.post("/suppressions/import-ses")).json()
    assert (first["added"], again["added"], again["already_present"]) == (1, 0, 1)
    listed = (await admin.get("/suppressions")).json()["data"]
    assert [(e["address"], e["reason"], e["tenant"]) for e in listed] == [
        ("a@example.org", "complaint", None)
    ]
    bad = await admin.post("/suppressions/import-ses?since=yesterday")
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "since")
    tenant = await site.api(await site.key("acme"))
    assert (await tenant.post("/suppressions/import-ses")).status_code == 403
