"""The Messages and Events pages: search with every filter, the next page and the export with
the same filters, a message's timelines and headers (never its body), and tenant isolation."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.storage import messages, queue
from tests.support.mailbox import BODY_MARKER, T0, Mailbox, mailbox
from tests.support.messages import SEALER, new_message
from tests.support.site import Site

NEXT = re.compile(r'<a href="([^"]+)">Next page')
FURTHER = re.compile(r'<a href="([^"]+)">Look further back')
EXPORT = re.compile(r'<a class="button" href="([^"]+)" download>Export CSV')


async def _mail(site: Site) -> Mailbox:
    acme, other = await site.tenant("acme"), await site.tenant("other")
    return await mailbox(site.db, site.services.settings, acme, other)


def _link(pattern: re.Pattern[str], page: str) -> str:
    found = pattern.search(page)
    assert found, "the page has no such link"
    return html.unescape(found.group(1))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("role", "tenant"), [("admin", None), ("owner", "acme"), ("viewer", "acme")]
)
async def test_every_page_shows_what_the_user_may_see(
    site: Site, role: str, tenant: str | None
) -> None:
    mail = await _mail(site)
    browser = await site.browser(await site.user(role, tenant))
    listed = await browser.get("/messages")
    assert listed.status_code == 200
    assert "Autumn newsletter" in listed.text
    assert "r0@example.net, r1@example.net, r2@example.net" in listed.text
    assert "and 2 more" in listed.text
    assert ("Invoice 99 of Other" in listed.text) is (role == "admin")
    assert ('name="tenant"' in listed.text) is (role == "admin")
    assert 'class="status bounced"' in listed.text
    assert "Nov 20 2026 09:01 UTC" in listed.text

    shown = await browser.get(f"/messages/{mail.invoice}")
    assert shown.status_code == 200
    assert "Invoice 42" in shown.text
    theirs = await browser.get(f"/messages/{mail.theirs}")
    assert theirs.status_code == (200 if role == "admin" else 404)

    events = await browser.get("/events")
    assert events.status_code == 200
    assert "r0@example.net" in events.text
    assert ('class="status complaint"' in events.text) is (role == "admin")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"sender": "billing@"}, {"pending", "invoice"}),
        ({"recipient": "r4@"}, {"newsletter"}),
        ({"subject": "REMINDER"}, {"pending"}),
        ({"status": "delivered"}, {"invoice"}),
        ({"since": "2026-11-20T09:01"}, {"pending", "newsletter"}),
        ({"until": "2026-11-20T09:01"}, {"invoice"}),
        ({"ses_message_id": "ses-{newsletter}"}, {"newsletter"}),
    ],
)
async def test_each_filter_of_the_form_narrows_the_list_and_the_export(
    site: Site, query: dict[str, str], expected: set[str]
) -> None:
    mail = await _mail(site)
    ids = {name: getattr(mail, name) for name in ("invoice", "newsletter", "pending")}
    query = {k: v.format(**ids) for k, v in query.items()}
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/messages", params=query)
    assert page.status_code == 200
    assert {name for name, queue_id in ids.items() if queue_id in page.text} == expected
    for name, value in query.items():
        shown = f'value="{value}" selected' if name == "status" else f'value="{value}"'
        assert shown in page.text, name
    export = _link(EXPORT, page.text)
    assert parse_qs(urlsplit(export).query) == {k: [v] for k, v in query.items()}
    exported = await browser.get(export)
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert {row["queue_id"] for row in _rows(exported.text)} == {ids[n] for n in expected}


async def test_the_next_page_keeps_the_filters_and_repeats_nothing(site: Site) -> None:
    acme = await site.tenant("acme")
    made = [
        new_message(acme, ["x@example.org"], T0, subject="Batch", mail_from=f"s{i}@example.com")
        for i in range(53)
    ]
    made.append(new_message(acme, ["x@example.org"], T0, subject="Other subject"))
    await queue.insert_messages(site.db, SEALER, made)
    browser = await site.browser(await site.user("viewer", "acme"))
    first = await browser.get("/messages", params={"subject": "batch"})
    following = _link(NEXT, first.text)
    assert parse_qs(urlsplit(following).query)["subject"] == ["batch"]
    second = await browser.get(following)
    assert NEXT.search(second.text) is None
    batch = {m.id for m in made[:53]}
    on_first = {queue_id for queue_id in batch if queue_id in first.text}
    on_second = {queue_id for queue_id in batch if queue_id in second.text}
    assert (len(on_first), len(on_second)) == (50, 3)
    assert on_first | on_second == batch
    assert made[-1].id not in first.text + second.text


async def test_a_subject_search_with_no_match_in_its_stretch_offers_to_look_further(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "SUBJECT_SCAN", 2)  # subjects are decrypted 2 a page
    acme = await site.tenant("acme")
    made = [
        new_message(acme, ["x@example.org"], T0 + timedelta(minutes=i), subject=subject)
        for i, subject in enumerate(["The needle", "hay", "hay", "hay"])
    ]
    await queue.insert_messages(site.db, SEALER, made)
    browser = await site.browser(await site.user("viewer", "acme"))
    first = await browser.get("/messages", params={"subject": "NEEDLE"})
    assert "reads 2 messages at most per page" in first.text
    second = await browser.get(_link(FURTHER, first.text))
    assert made[0].id in second.text
    assert NEXT.search(second.text) is FURTHER.search(second.text) is None


async def test_a_message_page_shows_timelines_and_headers_never_the_body(site: Site) -> None:
    mail = await _mail(site)
    browser = await site.browser(await site.user("viewer", "acme"))
    delivered = (await browser.get(f"/messages/{mail.invoice}")).text
    assert BODY_MARKER not in delivered
    timeline = delivered[delivered.index('<ol class="timeline">') :]
    timeline = timeline[: timeline.index("</ol>")]
    kinds = re.findall(r'class="status ([a-z_]+)"', timeline)
    assert kinds == ["queued", "sent", "delivery", "open"]
    assert "250 2.6.0 Message received" in timeline
    assert '<td class="mono">Subject</td>' in delivered  # kept after the body is deleted

    pending = (await browser.get(f"/messages/{mail.pending}")).text
    assert BODY_MARKER not in pending
    assert '<td class="mono">X-Campaign</td><td class="mono">autumn</td>' in pending
    assert "Reminder" in pending
    assert 'class="status queued"' in pending

    bounced = (await browser.get(f"/messages/{mail.newsletter}")).text
    assert bounced.count('<ol class="timeline">') == 5
    assert "Permanent/General" in bounced


async def test_events_are_filtered_and_exported_with_the_same_filters(site: Site) -> None:
    mail = await _mail(site)
    browser = await site.browser(await site.user("owner", "acme"))
    page = (await browser.get("/events", params={"type": "bounce"})).text
    assert "r0@example.net" in page
    assert "bob@example.org" not in page
    assert f'href="/messages/{mail.newsletter}"' in page
    for query, expected in (
        ({"type": "bounce"}, ["bounce"]),
        ({"address": "bob@example.org"}, ["open", "delivery"]),
        ({"queue_id": mail.invoice, "since": "2026-11-20T09:05"}, ["open"]),
        ({"until": "2026-11-20T09:03"}, ["delivery"]),
    ):
        listed = (await browser.get("/events", params=query)).text
        export = _link(EXPORT, listed)
        assert parse_qs(urlsplit(export).query) == {k: [v] for k, v in query.items()}
        rows = _rows((await browser.get(export)).text)
        assert [row["kind"] for row in rows] == expected, query
        assert {row["tenant"] for row in rows} == {"acme"}


async def test_bad_filters_are_shown_beside_their_field(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    refused = await browser.get("/messages", params={"since": "tomorrow"})
    assert refused.status_code == 400
    assert 'aria-describedby="e-since"' in refused.text
    assert "not an ISO date" in refused.text
    events = await browser.get("/events", params={"since": "2026-03-02", "until": "2026-03-01"})
    assert events.status_code == 400
    assert 'aria-describedby="e-until"' in events.text


async def test_another_tenants_mail_is_out_of_reach(site: Site) -> None:
    mail = await _mail(site)
    browser = await site.browser(await site.user("owner", "acme"))
    assert (await browser.get(f"/messages/{mail.theirs}")).status_code == 404
    assert (await browser.get("/messages", params={"tenant": "other"})).status_code == 404
    assert (await browser.get("/events", params={"tenant": "other"})).status_code == 404
    exported = _rows((await browser.get("/messages/export")).text)
    assert [row["queue_id"] for row in exported] == [mail.pending, mail.newsletter, mail.invoice]
    events = _rows((await browser.get("/events/export")).text)
    assert {row["tenant"] for row in events} == {"acme"}
    assert mail.theirs not in (await browser.get("/events")).text


async def test_the_empty_state_says_how_to_send_a_first_message(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    page = (await browser.get("/messages")).text
    assert "No message yet" in page
    assert '<a href="/credentials">Credentials</a>' in page
    assert "No message matches" in (await browser.get("/messages?subject=x")).text
    assert "No event yet" in (await browser.get("/events")).text
