"""`POST /api/v1/emails` and `/emails/batch` through the real HTTP app, delivered by a real
delivery worker to the fake SES: the raw MIME checked (attachments byte for byte, encoded
subjects), idempotency keys (in turn and at once), the policy's refusals in the API's error
shape with the SMTP replies' words, scheduled sends, and tenant isolation."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from gateway.core.types.messages import RecipientState
from gateway.delivery.worker import DeliveryWorker
from gateway.feedback import suppressions
from gateway.identity import accounts
from gateway.intake import replies
from gateway.storage import domains as domain_store
from gateway.storage import queue, refusals
from tests.conftest import add_verified_domain, settled
from tests.support.fakeses import FakeSes
from tests.support.messages import SEALER, queued
from tests.support.site import Site

PLUS_2 = timezone(timedelta(hours=2))
PDF = bytes(range(256)) * 40 + b"%PDF-1.7\r\n\x00\xff"
"""An attachment with every byte value, CR LF and NUL in it."""


async def _acme(site: Site, name: str = "acme", domain: str = "example.com") -> httpx.AsyncClient:
    """An API client with a key of tenant `name`, which owns `domain`, verified."""
    tenant_id = await site.tenant(name)
    await add_verified_domain(site.db, tenant_id, domain)
    return await site.api(await site.key(name))


def _mime(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


MESSAGE: dict[str, Any] = {
    "from": "Jörg Müller <news@example.com>",
    "to": ["Ann <ann@example.org>"],
    "cc": ["cc@example.org"],
    "bcc": ["hidden@example.org"],
    "reply_to": ["help@example.com"],
    "subject": "Grüße aus Köln — 10 % off ✓",
    "text": "Hello Ann,\nthe café is open.\n",
    "html": "<p>Hello <b>Ann</b>, the café is open.</p>",
    "headers": {"X-Campaign": "autumn", "List-Id": "<news.example.com>"},
    "tags": {"campaign": "autumn"},
    "attachments": [
        {
            "filename": "prix-été.pdf",
            "content_type": "application/pdf",
            "content": base64.b64encode(PDF).decode(),
        },
        {"filename": "notes.txt", "content_type": "text/plain", "content": "aGk="},
    ],
}


async def test_a_message_goes_through_the_spool_to_ses_as_mime(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    answer = await api.post("/emails", json=MESSAGE)
    assert answer.status_code == 202, answer.text
    sent = answer.json()
    assert sent["recipients"] == ["ann@example.org", "cc@example.org", "hidden@example.org"]
    assert (sent["refused"], sent["scheduled_at"]) == ([], None)
    status = await settled(site.db, sent["id"])
    assert [(r.address, r.state) for r in status.recipients] == [
        (address, RecipientState.SENT) for address in sent["recipients"]
    ]
    assert status.via == "api"
    [delivered] = stand_in.wait_for(1)
    assert sorted(delivered.destinations) == sorted(sent["recipients"])
    raw = delivered.raw
    assert b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends"
    assert all(byte < 128 for byte in raw), "7-bit: no part relies on 8BITMIME"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"hidden@example.org" not in raw, "bcc is never in the header"
    parsed = _mime(raw)
    assert parsed["Subject"] == MESSAGE["subject"]
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0], "non-ASCII header text is encoded words"
    assert parsed["From"].addresses[0].display_name == "Jörg Müller"
    assert parsed["From"].addresses[0].addr_spec == "news@example.com"
    assert parsed["To"] == "Ann <ann@example.org>"
    assert parsed["Reply-To"] == "help@example.com"
    assert parsed["X-Campaign"] == "autumn"
    assert parsed["X-SES-MESSAGE-TAGS"] == "campaign=autumn"
    assert parsed["Message-ID"].endswith("@gw.test>")
    assert sent["id"] in parsed["Message-ID"]
    assert parsed["Date"] is not None
    assert parsed["Received"].startswith("from ")
    assert f"with HTTPS id {sent['id']}" in " ".join(parsed["Received"].split())
    text = parsed.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == "Hello Ann,\nthe café is open.\n"
    assert "café" in parsed.get_body(("html",)).get_content()
    attachments = list(parsed.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [
        ("prix-été.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
    ]
    assert attachments[0].get_payload(decode=True) == PDF
    assert attachments[1].get_payload(decode=True) == b"hi"
    detail = (await api.get(f"/messages/{sent['id']}")).json()
    assert detail["message"]["via"] == "api"
    assert detail["message"]["subject"] == MESSAGE["subject"]


async def test_html_only_and_text_only(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    for body in ({"html": "<p>only html</p>"}, {"text": "only text"}):
        message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", **body}
        answer = await api.post("/emails", json=message)
        assert answer.status_code == 202, answer.text
        await settled(site.db, answer.json()["id"])
    first, second = stand_in.wait_for(2)
    types = {_mime(m.raw).get_content_type() for m in (first, second)}
    assert types == {"text/html", "text/plain"}


async def test_the_same_idempotency_key_sends_once_and_answers_the_same(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    # An attachment whose bytes are not UTF-8 (a JPEG's first bytes) is part of the request.
    photo = {"filename": "a.jpg", "content": base64.b64encode(b"\xff\xd8\xff\xe0").decode()}
    message = {
        "from": "a@example.com",
        "to": ["b@example.org"],
        "subject": "once",
        "text": "x",
        "attachments": [photo],
    }
    key = {"Idempotency-Key": "order-1234"}
    first = await api.post("/emails", json=message, headers=key)
    again = await api.post("/emails", json=message, headers=key)
    assert first.status_code == again.status_code == 202, first.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    other_photo = {**photo, "content": base64.b64encode(b"\xff\xd8\xff\xe1").decode()}
    for changed in ({"subject": "changed"}, {"attachments": [other_photo]}):
        other = await api.post("/emails", json={**message, **changed}, headers=key)
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "conflict"
        assert "Idempotency-Key" in other.json()["error"]["message"]
    await settled(site.db, first.json()["id"])
    await asyncio.sleep(0.5)  # the worker had time to send a second one, if there were one
    assert len(stand_in.messages()) == 1


async def test_concurrent_requests_with_one_key_send_exactly_once(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "race", "text": "x"}
    answers = await asyncio.gather(
        *(api.post("/emails", json=message, headers={"Idempotency-Key": "race"}) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    await settled(site.db, answers[0].json()["id"])
    await asyncio.sleep(0.5)
    assert len(stand_in.messages()) == 1


async def test_a_refused_request_gives_its_key_back(site: Site) -> None:
    api = await _acme(site)
    message = {"from": "a@unknown.example", "to": ["b@example.org"], "subject": "s", "text": "x"}
    key = {"Idempotency-Key": "retry-me"}
    refused = await api.post("/emails", json=message, headers=key)
    assert refused.status_code == 403
    fixed = await api.post("/emails", json={**message, "from": "a@example.com"}, headers=key)
    assert fixed.status_code == 202, fixed.text


async def test_another_tenants_key_never_matches(site: Site) -> None:
    acme = await _acme(site)
    globex = await _acme(site, "globex", "globex.test")
    message = {"to": ["b@example.org"], "subject": "s", "text": "x"}
    key = {"Idempotency-Key": "shared-key"}
    mine = await acme.post("/emails", json={"from": "a@example.com", **message}, headers=key)
    theirs = await globex.post("/emails", json={"from": "a@globex.test", **message}, headers=key)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    spoof = await globex.post("/emails", json={"from": "a@example.com", **message})
    assert spoof.status_code == 403
    assert spoof.json()["error"] == {
        "status": 403,
        "code": "sender_unknown",
        "message": "Sender domain example.com is not a sending domain of this account: "
        "add it first",
        "field": "from",
    }
    assert (await globex.get(f"/messages/{mine.json()['id']}")).status_code == 404


def _words(reply: object) -> str:
    """The sentence of an SMTP reply, as the API's `message` gives it."""
    return str(reply).split(" ", 2)[2]


async def test_refusals_have_the_smtp_replies_words(site: Site) -> None:
    api = await _acme(site)
    await suppressions.add(site.db, "gone@example.org", "acme", "manual")
    base = {"from": "a@example.com", "subject": "s", "text": "x"}

    partly = await api.post("/emails", json={**base, "to": ["ok@example.org", "gone@example.org"]})
    assert partly.status_code == 202, partly.text
    [refused] = partly.json()["refused"]
    assert refused["address"] == "gone@example.org"
    assert refused["field"] == "to.1"
    assert refused["reply"].startswith("550 5.1.1 Recipient gone@example.org is suppressed")
    assert refused["error"]["code"] == "suppressed"
    assert refused["error"]["message"] == _words(refused["reply"])
    assert partly.json()["recipients"] == ["ok@example.org"]

    alone = await api.post("/emails", json={**base, "to": ["gone@example.org"]})
    assert alone.status_code == 422
    assert alone.json()["error"]["code"] == "suppressed"
    assert alone.json()["error"]["field"] == "to.0"

    unverified = await api.post(
        "/emails", json={**base, "from": "a@pending.example", "to": ["b@example.org"]}
    )
    assert unverified.status_code == 403
    error = unverified.json()["error"]
    assert error["code"] == "sender_unknown"
    assert error["message"] == _words(
        replies.SENDER_UNKNOWN.format(code=553, domain="pending.example")
    )

    bad = await api.post("/emails", json={**base, "to": ["not an address"]})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "to.0"
    syntax = await api.post("/emails", json={**base, "to": ["a@b@c", "ok@example.org"]})
    assert syntax.status_code == 202, syntax.text
    assert syntax.json()["refused"][0]["error"]["message"] == _words(replies.BAD_ADDRESS)

    await accounts.pause_tenant(site.db, "acme", "too many bounces")
    paused = await api.post("/emails", json={**base, "to": ["b@example.org"]})
    assert paused.status_code == 403
    assert paused.json()["error"] == {
        "status": 403,
        "code": "paused",
        "message": "sending paused: too many bounces",
        "field": "from",
    }
    logged = await refusals.count_refusals(site.db, "acme")
    assert logged.keys() >= {"suppressed", "sender-unknown", "paused"}


@pytest.mark.parametrize("site_settings", [{"max_message_size": 20_000}])
async def test_too_large_after_encoding_and_too_large_to_read(site: Site) -> None:
    api = await _acme(site)
    base = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "text": "x"}
    # 14,000 bytes become 18,900 in base64 (with line ends): under the limit as raw bytes,
    # over it as MIME.
    attachment = {"filename": "a.bin", "content": base64.b64encode(b"\x01" * 14_500).decode()}
    big = await api.post("/emails", json={**base, "attachments": [attachment]})
    assert big.status_code == 413, big.text
    assert big.json()["error"]["code"] == "size"
    assert big.json()["error"]["message"] == _words(replies.MESSAGE_TOO_BIG.format(limit=20_000))
    huge = {"filename": "a.bin", "content": base64.b64encode(b"\x01" * 100_000).decode()}
    unread = await api.post("/emails", json={**base, "attachments": [huge]})
    assert unread.status_code == 413
    assert unread.json()["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"from": "a@example.com", "to": ["b@example.org"], "text": "'
        for _ in range(20):
            yield b"x" * 10_000
        yield b'"}'

    streamed = await api.post("/emails", content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "too_large"


async def test_a_batch_answers_each_message_on_its_own(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    good = {"from": "a@example.com", "subject": "s", "text": "x"}
    emails = [{**good, "to": [f"r{i}@example.org"]} for i in range(3)]
    emails.insert(1, {**good, "from": "a@elsewhere.example", "to": ["x@example.org"]})
    answer = await api.post(
        "/emails/batch", json={"emails": emails}, headers={"Idempotency-Key": "b1"}
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["data"]
    assert [i["status"] for i in items] == [202, 403, 202, 202]
    assert items[1]["error"]["code"] == "sender_unknown"
    assert [i["recipients"] for i in items if i["status"] == 202] == [
        ["r0@example.org"],
        ["r1@example.org"],
        ["r2@example.org"],
    ]
    again = await api.post(
        "/emails/batch", json={"emails": emails}, headers={"Idempotency-Key": "b1"}
    )
    assert again.content == answer.content
    for item in (i for i in items if i["status"] == 202):
        await settled(site.db, item["id"])
    await asyncio.sleep(0.5)
    assert len(stand_in.messages()) == 3
    too_many = await api.post("/emails/batch", json={"emails": [emails[0]] * 101})
    assert too_many.status_code == 400


async def test_a_scheduled_message_waits_for_its_time(site: Site) -> None:
    api = await _acme(site)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "text": "x"}
    answer = await api.post(
        "/emails", json={**message, "scheduled_at": at.astimezone(PLUS_2).isoformat()}
    )
    assert answer.status_code == 202, answer.text
    assert datetime.fromisoformat(answer.json()["scheduled_at"]) == at
    status = await queue.message_status(site.db, SEALER, answer.json()["id"])
    assert status.next_attempt_at == at
    assert await queue.bring_forward(site.db, datetime.now(UTC)) == 0, "not an SES backlog"
    claimed = await queue.claim(
        site.db, SEALER, "w", 10, datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=1)
    )
    assert claimed == []
    later = await queue.claim(site.db, SEALER, "w", 10, at, at + timedelta(minutes=1))
    assert [job.id for job in later] == [answer.json()["id"]]
    for when, words in (
        (datetime.now(UTC) - timedelta(hours=1), "in the past"),
        (datetime.now(UTC) + timedelta(days=31), "at most 30 days ahead"),
    ):
        refused = await api.post("/emails", json={**message, "scheduled_at": when.isoformat()})
        assert refused.status_code == 400
        assert words in refused.json()["error"]["message"]
    naive = await api.post("/emails", json={**message, "scheduled_at": "2030-01-01T10:00:00"})
    assert naive.status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": None}, "subject"),
        ({"text": None}, "html"),
        ({"to": []}, "to"),
        ({"headers": {"From": "x@example.com"}}, "headers.From"),
        ({"headers": {"X-Bad": "a\r\nBcc: x@example.org"}}, "headers.X-Bad"),
        ({"tags": {"tenant": "globex"}}, "tags.tenant"),
        ({"tags": {"a b": "c"}}, "tags.a b"),
        ({"attachments": [{"filename": "a", "content": "***"}]}, "attachments.0.content"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_requests_name_the_member(
    site: Site, change: dict[str, Any], field: str
) -> None:
    api = await _acme(site)
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "text": "x"}
    answer = await api.post("/emails", json={**message, **change})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


async def test_an_admin_key_does_not_send(site: Site) -> None:
    await _acme(site)
    api = await site.api(await site.key())
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "text": "x"}
    answer = await api.post("/emails", json=message)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("site_settings", [{"public_url": "https://gw.example"}])
async def test_tracking_and_unsubscribe_as_for_smtp(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    [domain] = await domain_store.list_domains(site.db, "acme")
    await domain_store.update_domain(
        site.db, domain.id, open_tracking=True, click_tracking=True, unsubscribe=True
    )
    html = '<p>See <a href="https://shop.example.net/autumn">the sale</a></p>'
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "html": html}
    answer = await api.post("/emails", json=message)
    assert answer.status_code == 202, answer.text
    await settled(site.db, answer.json()["id"])
    [delivered] = stand_in.wait_for(1)
    parsed = _mime(delivered.raw)
    assert parsed["List-Unsubscribe"].startswith("<https://gw.example/u/")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parsed.get_body(("html",)).get_content()
    assert 'href="https://gw.example/t/' in body
    assert "shop.example.net" not in body


async def test_the_panel_says_a_message_came_by_the_api(site: Site) -> None:
    api = await _acme(site)
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "s", "text": "x"}
    queue_id = (await api.post("/emails", json=message)).json()["id"]
    smtp_id = await queued(site.db, await site.tenant("acme"), mail_from="a@example.com")
    browser = await site.browser(await site.user("owner", "acme"))
    assert "by the send API" in (await browser.get(f"/messages/{queue_id}")).text
    assert "by SMTP" in (await browser.get(f"/messages/{smtp_id}")).text


WELCOME = {
    "name": "welcome",
    "subject": "Hi {{name}}",
    "html": '<p>Hi <b>{{name}}</b> of {{company | default("your company")}}</p>',
    "text": "Hi {{name}} of {{company | default('your company')}}",
}


async def test_a_template_is_rendered_with_the_variables_and_sent(
    stand_in: FakeSes, site: Site, worker: DeliveryWorker
) -> None:
    api = await _acme(site)
    created = await api.post("/templates", json=WELCOME)
    assert created.status_code == 201, created.text
    base = {"from": "news@example.com", "to": ["ann@example.org"]}
    by_name = {**base, "template": "welcome", "variables": {"name": "<Ann>", "company": "A&B"}}
    by_id = {**base, "template": created.json()["id"], "variables": {"name": "Bo"}}
    ids = []
    for body in (by_name, by_id):
        answer = await api.post("/emails", json=body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
        await settled(site.db, ids[-1])
    first, second = (_mime(m.raw) for m in stand_in.wait_for(2))
    if ids[0] not in first["Message-ID"]:
        first, second = second, first
    assert first["Subject"] == "Hi <Ann>"
    assert first.get_body(("html",)).get_content().strip() == (
        "<p>Hi <b>&lt;Ann&gt;</b> of A&amp;B</p>"
    )
    assert first.get_body(("plain",)).get_content().strip() == "Hi <Ann> of A&B"
    assert second["Subject"] == "Hi Bo"
    assert second.get_body(("plain",)).get_content().strip() == "Hi Bo of your company"


async def test_a_template_is_refused_naming_what_is_wrong(site: Site) -> None:
    api = await _acme(site)
    assert (await api.post("/templates", json=WELCOME)).status_code == 201
    base = {"from": "news@example.com", "to": ["ann@example.org"], "template": "welcome"}

    missing = await api.post("/emails", json=base)
    assert missing.status_code == 400, missing.text
    error = missing.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", "variables")
    assert error["message"].startswith("no value and no default for name:")

    both = await api.post("/emails", json={**base, "variables": {"name": "x"}, "subject": "s"})
    assert both.status_code == 400
    assert both.json()["error"]["field"] == "template"
    alone = {"from": "news@example.com", "to": ["a@example.org"], "subject": "s", "text": "x"}
    stray = await api.post("/emails", json={**alone, "variables": {"name": "x"}})
    assert (stray.status_code, stray.json()["error"]["field"]) == (400, "variables")

    for unknown in ("nope", 999_999, 2**63 - 1):
        absent = await api.post("/emails", json={**base, "template": unknown})
        assert absent.status_code == 404, absent.text
        assert absent.json()["error"]["code"] == "not_found"
    for odd in (0, 2**63, True, 1.5, "", None):
        invalid = await api.post("/emails", json={**base, "template": odd, "subject": None})
        assert invalid.status_code == 400, (odd, invalid.text)

    batch = await api.post(
        "/emails/batch",
        json={"emails": [base, {**base, "variables": {"name": "Bo"}}, {**base, "template": "x"}]},
    )
    assert batch.status_code == 200, batch.text
    items = batch.json()["data"]
    assert [i["status"] for i in items] == [400, 202, 404]
    assert "no value and no default for name" in items[0]["error"]["message"]
    assert items[0]["error"]["field"] == "variables"


async def test_an_admin_key_does_not_send_a_template_either(site: Site) -> None:
    api = await _acme(site)
    assert (await api.post("/templates", json=WELCOME)).status_code == 201
    admin = await site.api(await site.key())
    body = {"from": "a@example.com", "to": ["b@example.org"], "template": "welcome"}
    answer = await admin.post("/emails", json={**body, "variables": {"name": "x"}})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


async def test_the_openapi_document_describes_template_and_variables(site: Site) -> None:
    document = (await (await site.api(None)).get("/openapi.json")).json()
    body = document["paths"]["/api/v1/emails"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    members = document["components"]["schemas"][ref]["properties"]
    kinds = [choice["type"] for choice in members["template"]["anyOf"]]
    assert kinds == ["integer", "string", "null"]
    assert members["variables"]["additionalProperties"] == {"type": "string"}
    assert "404" in document["paths"]["/api/v1/emails"]["post"]["responses"]
    preview = document["paths"]["/api/v1/templates/{id}/preview"]["post"]["requestBody"]
    ref = preview["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"contact", "list", "variables"} <= document["components"]["schemas"][ref][
        "properties"
    ].keys()
