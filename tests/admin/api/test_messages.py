"""`/api/v1/messages` and `/api/v1/events`: every filter, cursor pages, a message's timeline and
headers without its body, CSV exports with the filters, and tenant isolation."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from admin.ops import messages
from tests.support.mailbox import BODY_MARKER, T0, Mailbox, mailbox
from tests.support.site import Site


async def _mail(site: Site) -> Mailbox:
    acme, other = await site.tenant("acme"), await site.tenant("other")
    return await mailbox(site.db, site.services.settings, acme, other)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["pending", "newsletter", "invoice"]),
        ({"sender": "BILLING@"}, ["pending", "invoice"]),
        ({"recipient": "r3@example.net"}, ["newsletter"]),
        ({"subject": "newsletter"}, ["newsletter"]),
        ({"status": "bounced"}, ["newsletter"]),
        ({"status": "delivered"}, ["invoice"]),
        ({"status": "queued"}, ["pending"]),
        ({"since": (T0.replace(minute=1)).isoformat()}, ["pending", "newsletter"]),
        ({"until": (T0.replace(minute=1)).isoformat()}, ["invoice"]),
        ({"since": "2026-11-21"}, []),
    ],
)
async def test_each_filter_narrows_the_search(
    site: Site, query: dict[str, str], expected: list[str]
) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key("acme"))
    found = await api.get("/messages", params=query)
    assert found.status_code == 200, found.text
    assert [m["id"] for m in found.json()["data"]] == [getattr(mail, name) for name in expected]
    exported = await api.get("/messages/export", params=query)
    assert exported.headers["content-type"].startswith("text/csv")
    assert [row["queue_id"] for row in _rows(exported.text)] == [
        getattr(mail, name) for name in expected
    ]


async def test_a_summary_and_the_ses_message_id_filter(site: Site) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key())
    [found] = (
        await api.get("/messages", params={"ses_message_id": f"ses-{mail.newsletter}"})
    ).json()["data"]
    assert found | {"created_at": "", "completed_at": ""} == {
        "id": mail.newsletter,
        "tenant": "acme",
        "mail_from": "news@example.com",
        "subject": "Autumn newsletter",
        "recipient_count": 5,
        "recipients": ["r0@example.net", "r1@example.net", "r2@example.net"],
        "status": "bounced",
        "created_at": "",
        "completed_at": "",
        "size": found["size"],
    }
    assert found["created_at"] == "2026-11-20T09:01:00Z"
    [row] = _rows((await api.get("/messages/export?status=bounced")).text)
    assert row["recipients"] == "r0@example.net r1@example.net r2@example.net"
    assert (row["recipient_count"], row["status"], row["tenant"]) == ("5", "bounced", "acme")


async def test_pages_follow_the_cursor_without_repeats(site: Site) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key("acme"))
    first = (await api.get("/messages", params={"limit": 2})).json()
    assert first["next_cursor"]
    second = (
        await api.get("/messages", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert second["next_cursor"] is None
    seen = [m["id"] for m in first["data"] + second["data"]]
    assert seen == [mail.pending, mail.newsletter, mail.invoice]

    events = (await api.get("/events", params={"limit": 2})).json()
    more = (await api.get("/events", params={"limit": 2, "cursor": events["next_cursor"]})).json()
    assert more["next_cursor"] is None
    ids = [e["id"] for e in events["data"] + more["data"]]
    assert len(ids) == len(set(ids)) == 3


async def test_a_message_has_its_timelines_and_headers_but_never_its_body(site: Site) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key("acme"))
    answer = await api.get(f"/messages/{mail.invoice}")
    assert answer.status_code == 200
    detail = answer.json()
    assert BODY_MARKER not in answer.text
    assert detail["status"] == "delivered"
    assert {"name": "Subject", "value": "Invoice 42"} in detail["headers"]  # after the body
    assert detail["message"]["has_body"] is False
    [bob] = detail["recipients"]
    assert [step["kind"] for step in bob["timeline"]] == ["queued", "sent", "delivery", "open"]
    assert bob["timeline"][1]["detail"].startswith(f"accepted by SES as ses-{mail.invoice}")
    assert bob["report"]["outcome"] == "delivered"
    assert bob["status"]["address"] == "bob@example.org"

    pending = await api.get(f"/messages/{mail.pending}")
    assert BODY_MARKER not in pending.text
    headers = {h["name"]: h["value"] for h in pending.json()["headers"]}
    assert headers["Subject"] == "Reminder"
    assert headers["X-Campaign"] == "autumn"
    [carol] = pending.json()["recipients"]
    assert [step["kind"] for step in carol["timeline"]] == ["queued"]

    bounced = (await api.get(f"/messages/{mail.newsletter}")).json()
    r0 = bounced["recipients"][0]
    assert [step["kind"] for step in r0["timeline"]] == ["queued", "sent", "bounce"]
    assert "Permanent/General" in r0["timeline"][-1]["detail"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["open", "bounce", "delivery"]),
        ({"type": "bounce"}, ["bounce"]),
        ({"type": "delivery,open"}, ["open", "delivery"]),
        ({"address": "R0@Example.net"}, ["bounce"]),
        ({"since": T0.replace(minute=3).isoformat()}, ["open", "bounce"]),
        ({"until": T0.replace(minute=3).isoformat()}, ["delivery"]),
    ],
)
async def test_events_are_filtered_and_exported_alike(
    site: Site, query: dict[str, str], expected: list[str]
) -> None:
    await _mail(site)
    api = await site.api(await site.key("acme"))
    found = await api.get("/events", params=query)
    assert found.status_code == 200, found.text
    assert [e["kind"] for e in found.json()["data"]] == expected
    assert {e["tenant"] for e in found.json()["data"]} <= {"acme"}
    text = (await api.get("/events/export", params=query)).text
    assert text.splitlines()[0] == ",".join(messages.EVENT_COLUMNS)
    assert [row["kind"] for row in _rows(text)] == expected


async def test_events_of_one_message(site: Site) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key())
    found = (await api.get("/events", params={"queue_id": mail.theirs})).json()["data"]
    assert [(e["kind"], e["tenant"], e["address"]) for e in found] == [
        ("complaint", "other", "bob@example.org"),
        ("delivery", "other", "bob@example.org"),
    ]
    everyone = (await api.get("/events")).json()["data"]
    assert len(everyone) == 5
    only = (await api.get("/events", params={"tenant": "other"})).json()["data"]
    assert len(only) == 2


async def test_a_tenant_key_never_reaches_another_tenants_mail(site: Site) -> None:
    mail = await _mail(site)
    api = await site.api(await site.key("acme"))
    refused = await api.get(f"/messages/{mail.theirs}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    assert mail.theirs not in (await api.get("/messages?recipient=bob@")).text
    assert (await api.get("/messages", params={"tenant": "other"})).status_code == 404
    assert (await api.get("/events", params={"tenant": "other"})).status_code == 404
    assert (await api.get("/events", params={"queue_id": mail.theirs})).json()["data"] == []
    exported = _rows((await api.get("/messages/export")).text)
    assert {row["tenant"] for row in exported} == {"acme"}
    assert mail.theirs not in {row["queue_id"] for row in exported}
    events = _rows((await api.get("/events/export")).text)
    assert {row["tenant"] for row in events} == {"acme"}
    assert "complaint" not in {row["kind"] for row in events}

    admin = await site.api(await site.key())
    assert (await admin.get(f"/messages/{mail.theirs}")).json()["status"] == "complained"
    listed = (await admin.get("/messages", params={"tenant": "other"})).json()["data"]
    assert [m["id"] for m in listed] == [mail.theirs]
    assert len((await admin.get("/messages")).json()["data"]) == 4


async def test_an_export_is_cut_at_its_limit_and_says_so(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _mail(site)
    monkeypatch.setattr(messages, "EXPORT_MAX_ROWS", 2)
    api = await site.api(await site.key("acme"))
    text = (await api.get("/messages/export")).text
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[-1] == "# cut after 2 rows: narrow the filters for the rest"
    assert len(_rows((await api.get("/messages/export?status=bounced")).text)) == 1


async def test_bad_filters_name_their_field(site: Site) -> None:
    api = await site.api(await site.key("acme"))
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/messages", {"status": "lost"}, "status"),
        ("/messages", {"since": "yesterday"}, "since"),
        ("/messages", {"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ("/messages", {"cursor": "nonsense"}, "cursor"),
        ("/messages", {"limit": "0"}, "limit"),
        ("/messages", {"colour": "red"}, "colour"),
        ("/messages/export", {"status": "lost"}, "status"),
        ("/events", {"type": "bounce,boing"}, "type"),
        ("/events", {"until": "soon"}, "until"),
        ("/events", {"cursor": "nonsense"}, "cursor"),
        ("/events/export", {"type": "boing"}, "type"),
    ]
    for path, query, field in cases:
        refused = await api.get(path, params=query)
        error = refused.json()["error"]
        assert (refused.status_code, error["field"]) == (400, field), (path, query)
    missing = await api.get("/messages/NOSUCHMESSAGE")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
