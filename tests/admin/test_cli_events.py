"""`event list`, `event count` and the outcomes in `message show`: per-recipient outcomes,
queryable per message and per tenant from the command line."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.storage import tenants
from gateway.storage.database import Database
from tests.conftest import Cli
from tests.gateway.feedback.test_events import ingest, sent_message
from tests.support.messages import SEALER_KEY
from tests.support.sesevents import bounce


async def test_outcomes_per_tenant_and_per_message(
    cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The messages are stored as a gateway with the tests' key stores them.
    monkeypatch.setenv("SES_GATEWAY_SECRET_KEY", SEALER_KEY.decode())
    for name in ("acme", "other"):
        status, _, err = await asyncio.to_thread(cli, "tenant", "create", name)
        assert status == 0, err
    db = Database(database_url)
    try:
        acme = await tenants.get_tenant(db, "acme")
        other = await tenants.get_tenant(db, "other")
        queue_id, ses_id = await sent_message(db, acme.id, ["gone@example.org", "ok@example.org"])
        await ingest(db, bounce(ses_id, "gone@example.org"))
        _, elsewhere = await sent_message(db, other.id, ["x@example.org"])
        await ingest(db, bounce(elsewhere, "x@example.org", bounce_type="Transient"))
    finally:
        await db.close()

    status, out, err = await asyncio.to_thread(
        cli, "event", "list", "--tenant", "acme", "--type", "bounce", "--json"
    )
    assert status == 0, err
    [event] = json.loads(out)["events"]
    assert (event["address"], event["queue_id"], event["tenant"]) == (
        "gone@example.org",
        queue_id,
        "acme",
    )
    assert (event["kind"], event["bounce_type"]) == ("bounce", "Permanent")

    status, out, _ = await asyncio.to_thread(cli, "event", "count", "--json")
    assert json.loads(out) == {"counts": {"bounce": 2}}
    status, out, _ = await asyncio.to_thread(cli, "event", "count", "--tenant", "other")
    assert "bounce  1" in out

    status, out, err = await asyncio.to_thread(cli, "message", "show", queue_id, "--json")
    assert status == 0, err
    outcomes = {o["address"]: o for o in json.loads(out)["outcomes"]}
    assert outcomes["gone@example.org"]["outcome"] == "bounced"
    assert outcomes["gone@example.org"]["bounce_type"] == "Permanent"
    assert outcomes["ok@example.org"]["outcome"] == ""
    status, out, _ = await asyncio.to_thread(cli, "message", "show", queue_id)
    assert "What SES reported" in out
    assert "bounced" in out

    status, _, err = await asyncio.to_thread(cli, "event", "list", "--tenant", "nobody")
    assert status == 1
    assert "nobody" in err
