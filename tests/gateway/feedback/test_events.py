"""SES events: every payload SES publishes is stored once, lands on the recipients it names,
suppresses addresses that bounce or complain, and is purged after the retention."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from config import Settings
from gateway.core.types.aws import AwsAccountSpec
from gateway.core.types.events import EventFact, EventKind, IngestResult, SesEventInfo
from gateway.core.types.messages import JobResult, RecipientOutcome, RecipientState
from gateway.core.types.tenants import TenantInfo
from gateway.feedback import events
from gateway.identity import accounts
from gateway.intake.spool import new_queue_id
from gateway.storage import awsaccounts, queue, suppressions
from gateway.storage import events as store
from gateway.storage.database import Database
from tests.conftest import add_verified_domain
from tests.support.messages import SEALER, new_message
from tests.support.sesevents import SAMPLES, bounce, complaint, sample
from tests.support.storedevents import stored_event, stored_event_ids

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FILES = sorted(p.name for p in SAMPLES.glob("*.json"))
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
_ids = count(1)

KINDS = {
    "Send": EventKind.SEND,
    "Reject": EventKind.REJECT,
    "Bounce": EventKind.BOUNCE,
    "Complaint": EventKind.COMPLAINT,
    "Delivery": EventKind.DELIVERY,
    "DeliveryDelay": EventKind.DELIVERY_DELAY,
    "Open": EventKind.OPEN,
    "Click": EventKind.CLICK,
    "Rendering Failure": EventKind.RENDERING_FAILURE,
    "Subscription": EventKind.SUBSCRIPTION,
    "Received": EventKind.RECEIVED,
}


def sns_id() -> str:
    return f"sns-{next(_ids):06d}-{new_queue_id()}"


def named(document: dict[str, Any]) -> list[str]:
    """The recipients an event names itself (bounced, complained, delivered, delayed), else
    every destination of the mail."""
    lists = {
        "bounce": ("bouncedRecipients", "emailAddress"),
        "complaint": ("complainedRecipients", "emailAddress"),
        "delivery": ("recipients", None),
        "deliveryDelay": ("delayedRecipients", "emailAddress"),
    }
    for section, (key, field) in lists.items():
        if section in document:
            items = document[section][key]
            return [item[field] if field else item for item in items]
    return list(document["mail"]["destination"])


async def tenant(db: Database, name: str | None = None) -> TenantInfo:
    return await accounts.create_tenant(db, name or f"t{new_queue_id().lower()[-10:]}")


async def sent_message(
    db: Database,
    tenant_id: int,
    recipients: list[str],
    ses_message_id: str | None = None,
    at: datetime = NOW - timedelta(hours=1),
) -> tuple[str, str]:
    """A message whose recipients SES accepted at `at`: (queue id, SES message id). With
    `ses_message_id=""` the message is queued but not sent yet."""
    queue_id = new_queue_id()
    message = new_message(
        tenant_id,
        recipients,
        at,
        id=queue_id,
        mail_from="app@example.com",
        message_id_header=f"<{queue_id}@gw.test>",
    )
    await queue.insert_messages(db, SEALER, [message])
    ses_id = ses_message_id if ses_message_id is not None else f"0100-{queue_id.lower()}-000000"
    if ses_id:
        [job] = await queue.claim(db, SEALER, "test", 1, at, at + timedelta(minutes=1))
        assert job.id == queue_id
        outcomes = tuple(
            RecipientOutcome(r.id, RecipientState.SENT, ses_id) for r in job.recipients
        )
        await queue.record(db, [JobResult(job.id, outcomes, None, at)], keep_bodies=False)
    return queue_id, ses_id


async def ingest(
    db: Database,
    payload: str,
    settings: Settings | None = None,
    at: datetime = NOW,
    sns_message_id: str | None = None,
) -> IngestResult:
    return await events.ingest(
        db, settings or Settings(), sns_message_id or sns_id(), TOPIC, payload, at
    )


# -- Every payload ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
async def test_every_sample_is_stored_and_acknowledged(db: Database, name: str) -> None:
    payload = (SAMPLES / name).read_text()
    document = json.loads(payload)
    ses_type = document.get("eventType") or document.get("notificationType")
    result = await ingest(db, payload)
    assert not result.duplicate
    assert result.kind is KINDS[ses_type]
    stored = await event_by_id(db, result.event_id)
    assert stored.payload == payload
    assert stored.ses_type == ses_type
    assert stored.processed_at is not None
    if result.kind is EventKind.RECEIVED:
        assert result.recipients == ()
        assert "ignored" in stored.note


@pytest.mark.parametrize("name", [n for n in FILES if not n.startswith("received_")])
async def test_every_sample_lands_on_the_recipients_it_names(db: Database, name: str) -> None:
    document = sample(name)
    destination = document["mail"]["destination"]
    addresses = list(dict.fromkeys([*destination, *named(document)]))
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, addresses)
    document["mail"]["messageId"] = ses_id

    result = await ingest(db, json.dumps(document))

    hit = named(document)
    assert (result.tenant_id, result.queue_id) == (owner.id, queue_id)
    assert result.recipients == tuple(hit)
    assert result.matched == len(hit)
    assert result.note == ""
    report = await store.events_for_message(db, queue_id)
    assert [r.address for r in report.recipients] == addresses
    assert {e.address for e in report.events} == set(hit)
    kind = result.kind
    for recipient in report.recipients:
        if recipient.address not in hit:
            assert recipient.outcome == ""
            continue
        assert recipient.state is RecipientState.SENT
        assert recipient.ses_message_id == ses_id
        if kind is EventKind.DELIVERY:
            assert recipient.outcome == "delivered"
            assert recipient.smtp_response == document["delivery"]["smtpResponse"]
            assert recipient.processing_ms == document["delivery"]["processingTimeMillis"]
            assert recipient.delivered_at == datetime.fromisoformat(
                document["delivery"]["timestamp"]
            )
        elif kind is EventKind.BOUNCE:
            facts = document["bounce"]
            [item] = [
                i for i in facts["bouncedRecipients"] if i["emailAddress"] == recipient.address
            ]
            assert recipient.outcome == "bounced"
            assert (recipient.bounce_type, recipient.bounce_subtype) == (
                facts["bounceType"],
                facts["bounceSubType"],
            )
            assert recipient.bounce_status == item.get("status")
            assert recipient.diagnostic == item.get("diagnosticCode")
            assert recipient.bounced_at == datetime.fromisoformat(facts["timestamp"])
        elif kind is EventKind.COMPLAINT:
            assert recipient.outcome == "complained"
            assert recipient.feedback_type == document["complaint"].get("complaintFeedbackType")
        elif kind is EventKind.DELIVERY_DELAY:
            assert recipient.outcome == "delayed"
            assert recipient.delayed_at == datetime.fromisoformat(
                document["deliveryDelay"]["timestamp"]
            )
        elif kind is EventKind.SEND:
            assert recipient.outcome == "sent"
        elif kind is EventKind.REJECT:
            assert recipient.outcome == "rejected"
            assert recipient.reject_reason == "Bad content"
        elif kind is EventKind.RENDERING_FAILURE:
            assert recipient.outcome == "rendering_failed"
            assert "not present in the rendering data" in (recipient.rendering_error or "")
        elif kind is EventKind.OPEN:
            assert (recipient.opens, recipient.opened_at) == (
                1,
                datetime.fromisoformat(document["open"]["timestamp"]),
            )
        elif kind is EventKind.CLICK:
            assert (recipient.clicks, recipient.clicked_at) == (
                1,
                datetime.fromisoformat(document["click"]["timestamp"]),
            )
        else:
            assert kind is EventKind.SUBSCRIPTION


async def test_a_bounce_names_only_some_recipients_of_its_message(db: Database) -> None:
    owner = await tenant(db)
    document = sample("bounce_notification_without_dsn_example_ses_body.json")
    queue_id, ses_id = await sent_message(db, owner.id, document["mail"]["destination"])
    document["mail"]["messageId"] = ses_id
    await ingest(db, json.dumps(document))
    report = await store.events_for_message(db, queue_id)
    outcomes = {r.address: r.outcome for r in report.recipients}
    assert outcomes == {
        "jane@example.com": "bounced",
        "mary@example.com": "",
        "richard@example.com": "bounced",
    }


async def test_opens_and_clicks_keep_the_first_time_and_a_count(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org", "b@example.org"])
    times = ["2026-11-22T12:30:00.000Z", "2026-11-22T12:10:00.000Z", "2026-11-22T12:20:00Z"]
    for kind, section in (("open", "open_event"), ("click", "click_event")):
        for at in times:
            document = sample(f"{section}_example_ses_body.json")
            document["mail"]["messageId"] = ses_id
            document[kind]["timestamp"] = at
            await ingest(db, json.dumps(document))
    report = await store.events_for_message(db, queue_id)
    first = datetime(2026, 11, 22, 12, 10, tzinfo=UTC)
    for recipient in report.recipients:
        assert (recipient.opens, recipient.opened_at) == (3, first)
        assert (recipient.clicks, recipient.clicked_at) == (3, first)
    assert len(report.events) == 12


async def test_a_permanent_bounce_outranks_a_later_transient_one(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    await ingest(db, bounce(ses_id, "a@example.org", "Permanent", "NoEmail"))
    await ingest(db, bounce(ses_id, "a@example.org", "Transient", "MailboxFull"))
    [recipient] = (await store.events_for_message(db, queue_id)).recipients
    assert (recipient.bounce_type, recipient.bounce_subtype) == ("Permanent", "NoEmail")


async def test_message_status_is_left_as_it_was(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    before = await queue.message_status(db, SEALER, queue_id)
    await ingest(db, bounce(ses_id, "a@example.org"))
    assert await queue.message_status(db, SEALER, queue_id) == before


# -- Idempotence -----------------------------------------------------------------------------


async def test_a_repeated_sns_message_changes_nothing(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    first = await ingest(db, bounce(ses_id, "a@example.org"), sns_message_id="sns-1")
    entries = await suppressions.list_suppressions(db)
    later = NOW + timedelta(minutes=5)
    again = await ingest(db, complaint(ses_id, "a@example.org"), at=later, sns_message_id="sns-1")

    assert not first.duplicate
    assert again.duplicate
    assert (again.event_id, again.kind, again.queue_id) == (
        first.event_id,
        EventKind.BOUNCE,
        queue_id,
    )
    assert again.suppressed == ()
    assert len(await stored_event_ids(db)) == 1
    assert len((await store.events_for_message(db, queue_id)).events) == 1
    assert await suppressions.list_suppressions(db) == entries


async def test_simultaneous_deliveries_of_one_sns_message_store_it_once(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    payload = bounce(ses_id, "a@example.org")
    results = await asyncio.gather(
        *(ingest(db, payload, sns_message_id="sns-twice") for _ in range(4))
    )
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert len({r.event_id for r in results}) == 1
    assert len((await store.events_for_message(db, queue_id)).events) == 1


async def test_a_retry_finishes_what_a_failed_first_delivery_left_undone(db: Database) -> None:
    """The event was stored, but the process died before its suppression: SNS retries."""
    owner = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    payload = bounce(ses_id, "a@example.org")
    event = store.NewEvent(
        sns_message_id="sns-crashed",
        topic_arn=TOPIC,
        kind=EventKind.BOUNCE,
        ses_type="Bounce",
        ses_message_id=ses_id,
        tenant_id=owner.id,
        queue_id=None,
        occurred_at=NOW,
        received_at=NOW,
        note="",
        payload=payload,
    )
    event_id = await store.insert_event(db, event, [])
    assert event_id is not None

    result = await ingest(db, payload, sns_message_id="sns-crashed", at=NOW + timedelta(seconds=20))

    assert result.duplicate
    assert (await event_by_id(db, event_id)).processed_at is not None
    entry = await suppressions.suppressed(db, owner.id, "a@example.org", NOW)
    assert entry is not None
    assert "sns-crashed" in entry.detail


# -- Unknown message ids ---------------------------------------------------------------------


async def test_unknown_message_takes_the_tenant_of_its_tag(db: Database) -> None:
    acme = await tenant(db, "acme")
    other = await tenant(db, "other")
    await add_verified_domain(db, other.id, "example.com")
    document = sample("send_event_example_ses_body.json")
    document["mail"]["tags"]["tenant"] = ["acme"]

    result = await ingest(db, json.dumps(document))

    assert (result.tenant_id, result.queue_id, result.matched) == (acme.id, None, 0)
    assert result.recipients == ("recipient@example.com",)
    assert "unknown SES message id" in result.note
    [event] = await store.list_events(db, tenant_id=acme.id)
    assert (event.kind, event.address, event.tenant) == (
        EventKind.SEND,
        "recipient@example.com",
        "acme",
    )


@pytest.mark.parametrize(
    "source",
    ["john@example.com", "Sender Name <sender@example.com>", "test@relay.example.com"],
)
async def test_unknown_message_takes_the_tenant_owning_the_sender_domain(
    db: Database, source: str
) -> None:
    owner = await tenant(db)
    await add_verified_domain(db, owner.id, "example.com")
    document = sample("bounce_notification_with_dsn_example_ses_body.json")
    document["mail"]["source"] = source

    result = await ingest(db, json.dumps(document))

    assert result.tenant_id == owner.id
    assert "tenant by the sender's domain" in result.note
    assert result.suppressed == ("jane@example.com",)


async def test_an_unknown_tag_falls_back_to_the_sender_domain(db: Database) -> None:
    owner = await tenant(db)
    await add_verified_domain(db, owner.id, "example.com")
    result = await ingest(db, bounce("nobody-knows", "x@example.org", tags={"tenant": ["gone"]}))
    assert result.tenant_id == owner.id


async def test_unknown_message_of_nobody_is_kept_without_a_tenant(db: Database) -> None:
    result = await ingest(db, bounce("nobody-knows", "x@example.org", source="a@unknown.example"))
    assert (result.tenant_id, result.queue_id, result.suppressed) == (None, None, ())
    assert result.note.endswith("no tenant")
    [event] = await store.list_events(db, address="x@example.org")
    assert event.tenant is None
    assert await suppressions.list_suppressions(db) == []


async def test_queue_id_tag_matches_an_event_that_overtakes_its_send(db: Database) -> None:
    owner = await tenant(db, "acme")
    queue_id, _ = await sent_message(db, owner.id, ["a@example.org", "b@example.org"], "")
    tags = {"tenant": ["acme"], "queue_id": [queue_id]}
    result = await ingest(db, bounce("not-recorded-yet", "B@Example.org", tags=tags))
    assert (result.tenant_id, result.queue_id, result.matched) == (owner.id, queue_id, 1)
    [event] = (await store.events_for_message(db, queue_id)).events
    assert event.address == "b@example.org"


async def test_queue_id_tag_of_another_tenant_does_not_match(db: Database) -> None:
    owner = await tenant(db, "acme")
    await tenant(db, "mallory")
    queue_id, _ = await sent_message(db, owner.id, ["a@example.org"], "")
    tags = {"tenant": ["mallory"], "queue_id": [queue_id]}
    result = await ingest(db, bounce("elsewhere", "a@example.org", tags=tags))
    assert (result.queue_id, result.matched) == (None, 0)


# -- Payloads that cannot be read ------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "Hello from the SNS console",
        "[1, 2]",
        "{}",
        '{"eventType": "Bounce"}',
        '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": "garbage"}',
        '{"eventType": "Bounce", "mail": {"messageId": 7, "destination": "x"}}',
        '{"eventType": "Delivery", "mail": {"messageId": "m"}, "delivery": {"recipients": [1]}}',
        '{"eventType": "Teleport", "mail": {"messageId": "m"}}',
        '{"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}',
    ],
)
async def test_unreadable_payloads_are_stored_and_acknowledged(db: Database, payload: str) -> None:
    result = await ingest(db, payload)
    assert result.recipients == ()
    assert result.note
    assert (await event_by_id(db, result.event_id)).payload == payload


async def test_strings_longer_than_their_columns_are_cut(db: Database) -> None:
    """PostgreSQL refuses a string longer than its `String(n)` column: SES's are cut to fit."""
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    long_address = "l" * 400 + "@example.org"
    document = json.loads(bounce(ses_id, "a@example.org", "T" * 500, "S" * 500))
    document["bounce"]["bouncedRecipients"][0]["status"] = "5" * 500
    document["bounce"]["bouncedRecipients"].append({"emailAddress": long_address})
    await ingest(db, json.dumps(document))
    document = json.loads(complaint(ses_id, "a@example.org"))
    document["complaint"] |= {"complaintFeedbackType": "f" * 500, "complaintSubType": "c" * 500}
    await ingest(db, json.dumps(document))
    unknown = await ingest(
        db, json.dumps({"eventType": "E" * 500, "mail": {"messageId": "m" * 500}})
    )

    bounced, long, complained = (await store.events_for_message(db, queue_id)).events
    assert (bounced.bounce_type, bounced.subtype, bounced.status) == ("T" * 32, "S" * 64, "5" * 32)
    assert long.address == long_address[:320]
    assert (complained.subtype, complained.feedback_type) == ("c" * 64, "f" * 64)
    stored = await event_by_id(db, unknown.event_id)
    assert (stored.ses_type, stored.ses_message_id) == ("E" * 64, "m" * 128)


# -- Suppression -----------------------------------------------------------------------------


async def test_a_hard_bounce_suppresses_the_recipient_for_the_tenant(db: Database) -> None:
    owner = await tenant(db)
    other = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["Bob@Example.org", "carol@example.org"])

    result = await ingest(db, bounce(ses_id, "bob@example.org", "Permanent", "NoEmail"), at=NOW)

    assert result.suppressed == ("bob@example.org",)
    entry = await suppressions.suppressed(db, owner.id, "bob@example.org", NOW)
    assert entry is not None
    assert (entry.tenant, entry.reason, entry.expires_at) == (owner.name, "bounce", None)
    assert "Permanent/NoEmail bounce (5.1.1 smtp; 550 5.1.1 user unknown)" in entry.detail
    stored = await event_by_id(db, result.event_id)
    assert f"SNS message {stored.sns_message_id}" in entry.detail
    assert f"SES message {ses_id}" in entry.detail
    assert await suppressions.suppressed(db, other.id, "bob@example.org", NOW) is None
    assert await suppressions.suppressed(db, owner.id, "carol@example.org", NOW) is None


async def test_global_scope_suppresses_for_every_tenant(db: Database) -> None:
    owner = await tenant(db)
    other = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["bob@example.org"])
    settings = Settings(auto_suppress_scope="global")
    await ingest(db, bounce(ses_id, "bob@example.org"), settings)
    entry = await suppressions.suppressed(db, other.id, "bob@example.org", NOW)
    assert entry is not None
    assert entry.tenant is None


async def test_a_complaint_suppresses_the_recipient(db: Database) -> None:
    owner = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["bob@example.org"])
    result = await ingest(db, complaint(ses_id, "bob@example.org"))
    assert result.suppressed == ("bob@example.org",)
    entry = await suppressions.suppressed(db, owner.id, "bob@example.org", NOW)
    assert entry is not None
    assert (entry.reason, entry.expires_at) == ("complaint", None)
    assert entry.detail.startswith("complaint (abuse); SNS message sns-")


async def test_a_bounce_from_the_account_suppression_list_suppresses(db: Database) -> None:
    owner = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["bob@example.org"])
    payload = bounce(ses_id, "bob@example.org", "Undetermined", "OnAccountSuppressionList")
    assert (await ingest(db, payload)).suppressed == ("bob@example.org",)


async def test_an_undetermined_bounce_does_not_suppress(db: Database) -> None:
    owner = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["bob@example.org"])
    assert (await ingest(db, bounce(ses_id, "bob@example.org", "Undetermined"))).suppressed == ()
    assert await suppressions.list_suppressions(db) == []


async def test_an_existing_permanent_entry_is_kept(db: Database) -> None:
    owner = await tenant(db)
    _, ses_id = await sent_message(db, owner.id, ["bob@example.org"])
    manual = suppressions.Entry("bob@example.org", owner.id, "unsubscribe", "form", NOW, None)
    await suppressions.add(db, [manual])
    assert (await ingest(db, bounce(ses_id, "bob@example.org"))).suppressed == ()
    entry = await suppressions.get(db, "bob@example.org", owner.id)
    assert entry is not None
    assert (entry.reason, entry.detail) == ("unsubscribe", "form")


async def transient(db: Database, tenant_id: int, address: str, at: datetime) -> IngestResult:
    _, ses_id = await sent_message(db, tenant_id, [address], at=at - timedelta(minutes=1))
    document = sample("ooto_bounce_notification_from_simulator_ses_body.json")
    document["mail"]["messageId"] = ses_id
    document["bounce"]["bouncedRecipients"] = [{"emailAddress": address}]
    return await ingest(db, json.dumps(document), at=at)


async def test_three_transient_bounces_suppress_for_seven_days(db: Database) -> None:
    owner = await tenant(db)
    address = "away@example.org"
    assert (await transient(db, owner.id, address, NOW)).suppressed == ()
    assert (await transient(db, owner.id, address, NOW + timedelta(days=3))).suppressed == ()
    third = NOW + timedelta(days=6)
    assert (await transient(db, owner.id, address, third)).suppressed == (address,)

    entry = await suppressions.suppressed(db, owner.id, address, third)
    assert entry is not None
    assert (entry.reason, entry.expires_at) == ("bounce", third + timedelta(days=7))
    assert entry.detail.startswith("3 transient bounces in 7 days, the last a Transient/General")
    expired = third + timedelta(days=7, seconds=1)
    assert await suppressions.suppressed(db, owner.id, address, expired) is None


async def test_transient_bounces_spread_over_more_than_seven_days_do_not_suppress(
    db: Database,
) -> None:
    owner = await tenant(db)
    for days in (0, 5, 8):
        result = await transient(db, owner.id, "away@example.org", NOW + timedelta(days=days))
        assert result.suppressed == ()


async def test_transient_bounces_count_per_tenant(db: Database) -> None:
    first, second = await tenant(db), await tenant(db)
    await transient(db, first.id, "away@example.org", NOW)
    await transient(db, first.id, "away@example.org", NOW + timedelta(hours=1))
    result = await transient(db, second.id, "away@example.org", NOW + timedelta(hours=2))
    assert result.suppressed == ()


async def test_a_transient_bounce_reported_twice_counts_once(db: Database) -> None:
    """Identity notifications and event publishing both on: SES reports each bounce twice."""
    owner = await tenant(db)
    address = "away@example.org"
    for day in (0, 1):
        at = NOW + timedelta(days=day)
        _, ses_id = await sent_message(db, owner.id, [address], at=at - timedelta(minutes=1))
        published = bounce(ses_id, address, "Transient", "MailboxFull")
        notified = json.loads(published)
        notified["notificationType"] = notified.pop("eventType")
        for payload in (published, json.dumps(notified)):
            assert (await ingest(db, payload, at=at)).suppressed == ()
    third = await transient(db, owner.id, address, NOW + timedelta(days=2))
    assert third.suppressed == (address,)


async def test_transient_bounce_limit_zero_never_suppresses(db: Database) -> None:
    owner = await tenant(db)
    settings = Settings(transient_bounce_limit=0)
    _, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    for _ in range(4):
        payload = bounce(ses_id, "a@example.org", "Transient", "MailboxFull")
        assert (await ingest(db, payload, settings)).suppressed == ()


# -- Queries and retention -------------------------------------------------------------------


async def test_events_are_listed_and_counted_per_tenant(db: Database) -> None:
    acme, other = await tenant(db), await tenant(db)
    _, ses_id = await sent_message(db, acme.id, ["a@example.org", "b@example.org"])
    _, other_ses = await sent_message(db, other.id, ["c@example.org"])
    for name in ("send_event_example_ses_body.json", "delivery_event_example_ses_body.json"):
        document = sample(name)
        document["mail"]["messageId"] = ses_id
        if "delivery" in document:
            document["delivery"]["recipients"] = ["a@example.org"]
        await ingest(db, json.dumps(document))
    await ingest(db, bounce(other_ses, "c@example.org"))

    listed = await store.list_events(db, tenant_id=acme.id)
    assert [(e.kind, e.address) for e in listed] == [
        (EventKind.DELIVERY, "a@example.org"),
        (EventKind.SEND, "b@example.org"),
        (EventKind.SEND, "a@example.org"),
    ]
    assert await store.count_events(db, acme.id) == {EventKind.SEND: 2, EventKind.DELIVERY: 1}
    assert await store.count_events(db, other.id) == {EventKind.BOUNCE: 1}
    bounces = await store.list_events(db, kinds=[EventKind.BOUNCE])
    assert [(e.tenant, e.address) for e in bounces] == [(other.name, "c@example.org")]


async def test_old_events_are_purged(db: Database) -> None:
    owner = await tenant(db)
    queue_id, ses_id = await sent_message(db, owner.id, ["a@example.org"])
    old = await ingest(db, bounce(ses_id, "a@example.org"), at=NOW - timedelta(days=91))
    recent = await ingest(db, complaint(ses_id, "a@example.org"), at=NOW - timedelta(days=89))

    assert await events.purge(db, Settings(), NOW) == 1

    assert await stored_event_ids(db) == [recent.event_id]
    [left] = (await store.events_for_message(db, queue_id)).events
    assert left.kind is EventKind.COMPLAINT
    assert await stored_event(db, old.event_id) is None
    assert await store.purge_events(db, NOW, chunk=1) == 1
    assert await stored_event_ids(db) == []


def test_parse_reads_both_formats() -> None:
    published = events.parse((SAMPLES / "bounce_event_example_ses_body.json").read_text())
    notified = events.parse(
        (SAMPLES / "bounce_notification_with_dsn_example_ses_body.json").read_text()
    )
    assert published.kind is notified.kind is EventKind.BOUNCE
    assert published.tags["ses:configuration-set"] == ("ConfigSet",)
    assert notified.recipients[0] == EventFact(
        "jane@example.com",
        datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC),
        bounce_type="Permanent",
        subtype="General",
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <jane@example.com>... User",
        detail="failed",
    )


@pytest.mark.parametrize(
    ("kind", "bounce_type", "subtype", "expected"),
    [
        (EventKind.COMPLAINT, None, None, "permanent"),
        (EventKind.COMPLAINT, None, "OnAccountSuppressionList", "permanent"),
        (EventKind.BOUNCE, "Permanent", "General", "permanent"),
        (EventKind.BOUNCE, "Permanent", "Suppressed", "permanent"),
        (EventKind.BOUNCE, "Undetermined", "OnAccountSuppressionList", "permanent"),
        (EventKind.BOUNCE, "Transient", "MailboxFull", "transient"),
        (EventKind.BOUNCE, "Undetermined", "Undetermined", None),
        (EventKind.DELIVERY, None, None, None),
        (EventKind.DELIVERY_DELAY, None, None, None),
    ],
)
def test_what_suppresses(
    kind: EventKind, bounce_type: str | None, subtype: str | None, expected: str | None
) -> None:
    fact = EventFact("a@example.org", bounce_type=bounce_type, subtype=subtype)
    assert events.suppression_for(kind, fact) == expected


async def event_by_id(db: Database, event_id: int) -> SesEventInfo:
    found = await stored_event(db, event_id)
    assert found is not None, f"no SES event {event_id}"
    return found


# -- AWS accounts ------------------------------------------------------------------------------


async def test_a_topic_of_an_aws_account_speaks_for_that_accounts_tenants_only(
    db: Database,
) -> None:
    """Whoever holds an account's keys can publish to its topic: an event about another
    account's tenant, or about nobody's message, is kept and applied to nobody."""
    spec = AwsAccountSpec("alpha", "eu-west-1", "AKIAALPHA", "secret")
    await awsaccounts.add_account(db, SEALER, spec, NOW)
    on_alpha, at_home = await tenant(db), await tenant(db)
    await awsaccounts.set_tenant_account(db, on_alpha.name, "alpha")
    _, alpha_id = await sent_message(db, on_alpha.id, ["bob@example.org"])
    _, home_id = await sent_message(db, at_home.id, ["carol@example.org"])
    settings = Settings(auto_suppress_scope="global")

    def by(account: str) -> Any:
        async def ingest_(payload: str) -> IngestResult:
            return await events.ingest(db, settings, sns_id(), TOPIC, payload, NOW, account)

        return ingest_

    ours = await by("alpha")(bounce(alpha_id, "bob@example.org"))
    assert (ours.tenant_id, ours.suppressed) == (on_alpha.id, ("bob@example.org",))

    forged = await by("alpha")(bounce(home_id, "carol@example.org"))
    assert (forged.tenant_id, forged.matched, forged.suppressed) == (None, 0, ())
    assert "came by a topic of AWS account alpha, but its tenant sends through default" in (
        forged.note
    )
    nobodys = await by("alpha")(bounce("unknown-id", "dave@example.org"))
    assert (nobodys.tenant_id, nobodys.suppressed) == (None, ())
    assert "is about none of its tenants: not applied" in nobodys.note
    assert await suppressions.suppressed(db, at_home.id, "carol@example.org", NOW) is None
    assert await suppressions.suppressed(db, at_home.id, "dave@example.org", NOW) is None

    home = await by("default")(bounce(home_id, "carol@example.org"))
    assert (home.tenant_id, home.suppressed) == (at_home.id, ("carol@example.org",))
    configured = await events.ingest(
        db, settings, sns_id(), TOPIC, bounce(alpha_id, "erin@example.org"), NOW, None
    )
    assert configured.tenant_id == on_alpha.id, "SNS_TOPIC_ARNS speak for every account"
