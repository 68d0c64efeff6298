"""The campaign sender over SQLite and PostgreSQL: each recipient's message rendered and
spooled once (dedupe across lists, the exclusion list), one-click unsubscribe and the visible
link, checks again at the moment each message is made, pause/resume/cancel, the schedule read
with a given clock, and a restart after a crash that mails nobody twice."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from admin.ops import campaigns as ops
from gateway.campaigns.sender import CampaignSender, principal
from gateway.compose.mime import Draft, Mailbox
from gateway.compose.submit import Submitted, Submitter
from gateway.core.exceptions import (
    ConflictError,
    InvalidInputError,
    MissingVariables,
)
from gateway.feedback import suppressions
from gateway.intake.spool import new_queue_id
from gateway.storage import campaigns as store
from gateway.storage import contacts as contact_store
from gateway.storage import stats, tenants
from gateway.tracking.tokens import LinkKind, signing_keys, verify
from tests.gateway.campaigns.conftest import PUBLIC_URL, Shop, claim_all
from tests.support.messages import SEALER


def _mime(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def _launched(shop: Shop, *lists: str, **given: str | None) -> int:
    campaign = await shop.campaign(*lists, **given)
    launched = await ops.launch(shop.ctx, campaign.id)
    return launched.id


async def test_each_contact_gets_one_rendered_message_with_one_click_unsubscribe(
    shop: Shop,
) -> None:
    await shop.add("a", "ann@example.org", first_name="Ann", company="Acme")
    await shop.add("a", "bob@example.org", first_name="Bob")
    await shop.add("b", "ANN@example.org", first_name="Annie")  # on both lists: once
    await shop.add("b", "cy@example.org", first_name="Cy")
    await shop.add("b", "dee@example.org", first_name="Dee")
    await shop.add("no", "dee@example.org")  # excluded
    await shop.add("a", "sup@example.org", first_name="Sup")
    await suppressions.add(shop.db, "sup@example.org", "acme", "bounce")
    campaign_id = await _launched(shop, "a", "b", exclude="no", reply_to="help@example.com")
    assert (await ops.get_campaign(shop.ctx, campaign_id)).recipients == 3
    assert (await ops.get_campaign(shop.ctx, campaign_id)).state == "sending"

    assert await shop.send_all() == 3
    assert (await ops.get_campaign(shop.ctx, campaign_id)).state == "done"
    jobs = await claim_all(shop.db)
    assert sorted(jobs) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    parsed = _mime(jobs["ann@example.org"].data)
    assert parsed["Subject"] == "Hello Ann"
    assert parsed["To"] == "ann@example.org"
    assert parsed["From"] == "News <news@example.com>"
    assert parsed["Reply-To"] == "help@example.com"
    assert parsed["X-SES-Gateway-Campaign"] == str(campaign_id)
    assert parsed["X-SES-MESSAGE-TAGS"] == f"campaign={campaign_id}"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = parsed["List-Unsubscribe"].strip("<>")
    assert url.startswith(f"{PUBLIC_URL}/u/")
    token = verify(
        signing_keys(shop.settings),
        url.rsplit("/", 1)[1],
        LinkKind.UNSUBSCRIBE,
        urlsplit(PUBLIC_URL).netloc,
    )
    assert (token.queue_id, token.recipient_id) == (jobs["ann@example.org"].id, 0)
    html = parsed.get_body(("html",)).get_content()
    assert html == (  # the sanitiser keeps the body's content only
        "<p>Hi Ann from Acme</p>"
        '<p><a href="https://example.com/offer">Offer</a></p>'
        '<p style="font-size:12px;color:#666666">'
        f'<a href="{url}" data-ses-gateway-notrack>Unsubscribe</a></p>\r\n'
    )
    text = parsed.get_body(("plain",)).get_content()
    assert text == (
        "Hi Ann from Acme\r\n\r\nOffer (https://example.com/offer)\r\n\r\n"
        f"--\r\nUnsubscribe: {url}\r\n"
    )
    assert (
        "Hi Bob from nowhere"
        in _mime(jobs["bob@example.org"].data).get_body(("html",)).get_content()
    )
    rows = {r.address: r for r in await store.recipients(shop.db, campaign_id)}
    assert {a: (r.state, r.queue_id) for a, r in rows.items()} == {
        a: ("queued", jobs[a].id) for a in jobs
    }
    # What the webhooks of its events say (`message.campaign_id`).
    assert await store.campaign_of(shop.db, jobs["ann@example.org"].id) == campaign_id
    assert await store.campaign_of(shop.db, "not-a-campaign-message") is None


async def test_an_unsubscribe_or_suppression_mid_campaign_gets_nothing_more(shop: Shop) -> None:
    for name in ("ann", "bob", "cy", "dee"):
        await shop.add("a", f"{name}@example.org", first_name=name)
    campaign_id = await _launched(shop, "a")
    assert await shop.sender.run() == 2  # CAMPAIGN_BATCH=2: ann and bob
    at = datetime.now(UTC)
    await contact_store.update_contact(
        shop.db, shop.lists["a"], "cy@example.org", {}, (at, "link"), at
    )
    await suppressions.add(shop.db, "dee@example.org", "acme", "unsubscribe")
    assert await shop.send_all() == 0
    assert sorted(await claim_all(shop.db)) == ["ann@example.org", "bob@example.org"]
    rows = {r.address: (r.state) for r in await store.recipients(shop.db, campaign_id)}
    assert rows == {
        "ann@example.org": "queued",
        "bob@example.org": "queued",
        "cy@example.org": "skipped",
        "dee@example.org": "skipped",
    }
    report = await ops.report(shop.ctx, campaign_id)
    assert (report.recipients, report.skipped, report.pending) == (4, 2, 0)


async def test_pause_resume_and_cancel(shop: Shop) -> None:
    for i in range(6):
        await shop.add("a", f"p{i}@example.org", first_name="P")
    campaign_id = await _launched(shop, "a")
    assert await shop.sender.run() == 2
    assert (await ops.pause(shop.ctx, campaign_id)).state == "paused"
    assert await shop.sender.run() == 0
    with pytest.raises(ConflictError):
        await ops.pause(shop.ctx, campaign_id)
    assert (await ops.resume(shop.ctx, campaign_id)).state == "sending"
    assert await shop.sender.run() == 2
    assert (await ops.cancel(shop.ctx, campaign_id)).state == "cancelled"
    assert await shop.send_all() == 0
    assert len(await claim_all(shop.db)) == 4
    with pytest.raises(ConflictError):
        await ops.resume(shop.ctx, campaign_id)


async def test_a_scheduled_campaign_starts_at_its_time(shop: Shop) -> None:
    await shop.add("a", "ann@example.org", first_name="Ann")
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    tokyo = at.astimezone(timezone(timedelta(hours=9)))
    campaign_id = await _launched(shop, "a", at=tokyo.isoformat())
    campaign = await ops.get_campaign(shop.ctx, campaign_id)
    assert (campaign.state, campaign.send_at) == ("scheduled", at)
    assert await shop.sender.run(at - timedelta(seconds=1)) == 0
    assert (await ops.get_campaign(shop.ctx, campaign_id)).state == "scheduled"
    assert await shop.sender.run(at) == 1
    assert (await ops.get_campaign(shop.ctx, campaign_id)).state == "sending"


async def test_a_time_with_an_offset_is_stored_as_that_moment() -> None:
    at, zone = ops.send_time("2030-12-24T09:00:00+01:00")
    assert (at, zone) == (datetime(2030, 12, 24, 8, 0, tzinfo=UTC), "UTC+01:00")
    assert ops.send_time("now") == (None, "UTC")
    with pytest.raises(InvalidInputError, match="no time zone"):
        ops.send_time("2030-12-24T09:00:00")


async def test_a_second_sender_after_a_crash_mails_nobody_twice(shop: Shop) -> None:
    for i in range(5):
        await shop.add("a", f"r{i}@example.org", first_name="R")
    campaign_id = await _launched(shop, "a")
    campaign = await ops.get_campaign(shop.ctx, campaign_id)
    assert await shop.sender.run() == 2
    # A process takes the next two, stores the first one's message, and is killed.
    now = datetime.now(UTC)
    taken = await store.take(shop.db, campaign_id, 2, [new_queue_id(), new_queue_id()], now)
    composer = await shop.sender._composer(campaign)
    first = taken[0]
    assert first.queue_id is not None
    draft = composer.draft(first.address, first.fields, first.queue_id)
    stored = await shop.sender.submitter.submit(
        principal(campaign), draft, "campaign", queue_id=first.queue_id
    )
    assert stored.queue_id == first.queue_id
    # Another instance, from nothing, goes on.
    other = CampaignSender(shop.db, shop.settings, Submitter(shop.db, shop.settings, SEALER))
    other.start()
    try:
        assert await other.run() == 1  # the first kept, the second made under its queue id
        assert await other.run() == 1  # the last one
        assert await other.run() == 0
    finally:
        await other.stop()
    jobs = await claim_all(shop.db)
    assert sorted(jobs) == [f"r{i}@example.org" for i in range(5)]
    rows = await store.recipients(shop.db, campaign_id)
    assert {r.state for r in rows} == {"queued"}
    assert {r.address: r.queue_id for r in rows} == {a: j.id for a, j in jobs.items()}
    assert (await ops.get_campaign(shop.ctx, campaign_id)).state == "done"


async def test_a_chunk_is_policed_one_by_one_and_stored_together_or_not_at_all(
    shop: Shop,
) -> None:
    """`Submitter.submit_all`: each draft's result in order; a refusal is that draft's, but
    the messages to store are one transaction: one that cannot be stored (its queue id is
    taken) fails the others with it, and nothing of them is stored."""
    who = principal(await shop.campaign("a"))
    submitter = shop.sender.submitter

    def draft(to: str, sender: str = "news@example.com") -> Draft:
        return Draft(Mailbox(sender), to=(Mailbox(to),), subject="Hi", text="Hello")

    taken, other = new_queue_id(), new_queue_id()
    assert (
        await submitter.submit(who, draft("a@example.org"), "campaign", queue_id=taken)
    ).queue_id
    results = await submitter.submit_all(
        who,
        [
            (draft("b@example.org"), other),
            (draft("c@example.org", sender="news@elsewhere.example"), new_queue_id()),
            (draft("d@example.org"), taken),
        ],
        "campaign",
        via="campaign",
    )
    assert isinstance(results[0], Exception)  # the primary key's refusal
    assert isinstance(results[1], Submitted)
    assert results[1].queue_id is None
    assert results[1].refused[0].refusal.rule == "sender-unknown"
    assert results[2] is results[0]
    assert sorted(await claim_all(shop.db)) == ["a@example.org"]
    [stored] = await submitter.submit_all(
        who, [(draft("b@example.org"), other)], "campaign", via="campaign"
    )
    assert isinstance(stored, Submitted)
    assert stored.queue_id == other
    assert sorted(await claim_all(shop.db)) == ["b@example.org"]


@pytest.mark.parametrize("shop_settings", [{"public_url": "http://mail.example.test"}])
async def test_launch_needs_an_https_public_url(shop: Shop) -> None:
    await shop.add("a", "ann@example.org", first_name="Ann")
    campaign = await shop.campaign("a")
    with pytest.raises(InvalidInputError, match="https://"):
        await ops.launch(shop.ctx, campaign.id)
    assert (await ops.get_campaign(shop.ctx, campaign.id)).state == "draft"


async def test_launch_names_a_missing_variable_and_how_many_lack_it(shop: Shop) -> None:
    await shop.add("a", "ann@example.org", first_name="Ann")
    await shop.add("a", "bob@example.org")
    await shop.add("b", "cy@example.org")
    campaign = await shop.campaign("a", "b")
    with pytest.raises(MissingVariables, match=r"first_name \(2 of 3 contacts\)"):
        await ops.launch(shop.ctx, campaign.id)
    assert (await ops.get_campaign(shop.ctx, campaign.id)).state == "draft"
    assert await store.recipients(shop.db, campaign.id) == []


async def test_only_a_draft_launches(shop: Shop) -> None:
    await shop.add("a", "ann@example.org", first_name="Ann")
    campaign = await shop.campaign("a")
    await ops.launch(shop.ctx, campaign.id)
    with pytest.raises(ConflictError, match="only a draft launches"):
        await ops.launch(shop.ctx, campaign.id)


async def test_a_round_that_made_a_whole_batch_is_busy(shop: Shop) -> None:
    """CAMPAIGN_BATCH=2: the next round comes at once while whole batches are made."""
    for i in range(3):
        await shop.add("a", f"r{i}@example.org", first_name="R")
    await _launched(shop, "a")
    assert await shop.sender.run() == 2
    assert shop.sender.busy()
    assert await shop.sender.run() == 1
    assert not shop.sender.busy()


async def test_a_round_makes_no_more_than_the_tenants_rate(shop: Shop) -> None:
    for i in range(5):
        await shop.add("a", f"r{i}@example.org", first_name="R")
    await tenants.set_limits(shop.db, "acme", {"max_per_second": 1})
    campaign_id = await _launched(shop, "a")
    assert await shop.sender.run() == 1
    assert not shop.sender.busy(), "the rate paces it"
    assert await shop.sender.run() == 0, "the rate's refusal puts the recipient back"
    assert await store.count_recipients(shop.db, campaign_id) == {"queued": 1, "pending": 4}
    await asyncio.sleep(1.0)
    assert await shop.sender.run() == 1


@pytest.mark.parametrize("shop_settings", [{"campaign_in_flight": 3, "campaign_batch": 10}])
async def test_no_more_than_campaign_in_flight_wait_in_the_spool(shop: Shop) -> None:
    for i in range(5):
        await shop.add("a", f"r{i}@example.org", first_name="R")
    await _launched(shop, "a")
    assert await shop.sender.run() == 3
    assert not shop.sender.busy(), "the spool paces it"
    assert await shop.sender.run() == 0, "three wait for SES: no room"
    assert len(await claim_all(shop.db)) == 3


@pytest.mark.parametrize("shop_settings", [{"campaign_in_flight": 45, "campaign_batch": 100}])
async def test_no_more_wait_than_the_pace_sends_in_campaign_queue_seconds(shop: Shop) -> None:
    """CAMPAIGN_QUEUE_SECONDS=2 of the tenant's pace, at least QUEUE_FLOOR (20), at most
    CAMPAIGN_IN_FLIGHT (45)."""
    for i in range(60):
        await shop.add("a", f"r{i}@example.org", first_name="R")
    await _launched(shop, "a")
    paces = {"acme": 5.0}

    async def pace(tenant: str) -> float:
        return paces[tenant]

    paced = CampaignSender(shop.db, shop.settings, shop.sender.submitter, pace)
    assert await paced.run() == 20, "2 s at 5 a second is 10: the floor"
    paces["acme"] = 12.0
    assert await paced.run() == 4, "2 s at 12 a second: 24"
    paces["acme"] = 1000.0
    assert await paced.run() == 21, "CAMPAIGN_IN_FLIGHT: 45"
    assert await paced.run() == 0


async def test_a_time_without_an_offset_is_read_in_its_zone() -> None:
    at, zone = ops.send_time("2030-07-01T09:00", "Europe/Paris")
    assert (at, zone) == (datetime(2030, 7, 1, 7, 0, tzinfo=UTC), "Europe/Paris")
    assert ops.send_time("2030-07-01T09:00+02:00", "Asia/Tokyo")[0] == at, "the offset wins"
    with pytest.raises(InvalidInputError, match="is not a time zone") as refused:
        ops.send_time("2030-07-01T09:00", "Mars/Olympus")
    assert refused.value.field == "zone"


async def test_each_recipient_counts_in_the_first_of_its_lists(shop: Shop) -> None:
    for address in ("x@example.org", "y@example.org"):
        await shop.add("a", address, first_name="A")
    for address in ("y@example.org", "z@example.org"):
        await shop.add("b", address, first_name="B")
    first = await _launched(shop, "a", "b")
    second = await _launched(shop, "b", name="again")
    assert await shop.send_all() == 5
    shares = {share.name: share.report for share in await ops.by_list(shop.ctx, first)}
    assert {name: r.recipients for name, r in shares.items()} == {"a": 2, "b": 1}
    total = await ops.report(shop.ctx, first)
    assert sum(r.recipients for r in shares.values()) == total.recipients == 3
    on_b = await ops.list_figures(shop.ctx, shop.lists["b"])
    assert on_b.total.recipients == 3  # z of the first campaign, y and z of the second
    assert [(c.id, r.recipients) for c, r in on_b.campaigns] == [(second, 2), (first, 1)]
    assert (await ops.list_figures(shop.ctx, shop.lists["no"])).campaigns == []
    assert await ops.waiting(shop.ctx, first) == 3, "stored, not yet handed to SES"
    now = datetime.now(UTC)
    counted = await stats.totals(shop.db, None, None, now - timedelta(hours=1), now, first)
    assert (counted.sent, counted.rejected) == (0, 0)
