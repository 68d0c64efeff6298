"""SES events: what SES says happened to each message, as it publishes it through SNS.

`ingest` takes the SES JSON of one verified SNS notification (`/sns/ses` calls it) and:

1. stores it once: a repeated SNS `MessageId` is acknowledged and changes nothing;
2. reads either format: event publishing (`eventType`: Send, Reject, Bounce, Complaint, Delivery,
   DeliveryDelay, Open, Click, `Rendering Failure`, Subscription) or identity notifications
   (`notificationType`: Bounce, Complaint, Delivery). Inbound `Received` notifications, other
   types and payloads it cannot read are stored with a note and otherwise ignored;
3. finds our recipients by `mail.messageId`, the SES MessageId recorded per recipient at send
   time (else by our `queue_id` message tag and `mail.destination`, for an event that overtakes
   the recording of its send), and records what the event says about each recipient it names
   (every recipient of the SES message for Send, Reject, Open, Click, `Rendering Failure` and
   Subscription, which name none). An event about a message we do not know is kept, with the
   tenant of our `tenant` message tag, else the tenant owning the domain of `mail.source`, else
   none. An event brought by the topic `sns setup` made in one AWS account speaks only of the
   tenants on that account: one about another account's tenant is kept, applied to nobody (an
   account's owner can publish to its topic whatever it likes);
4. suppresses addresses: a Permanent bounce, a bounce because of SES's account-level
   suppression list, or a complaint, for the tenant (`AUTO_SUPPRESS_SCOPE=tenant`) or for every
   tenant (`global`); `TRANSIENT_BOUNCE_LIMIT` Transient bounces within 7 days, for 7 days;
5. after a bounce or complaint, runs the reputation guard (`gateway.reputation`) for the tenant;
6. queues the event for the tenant's webhooks (`gateway.webhooks`), with the SNS `MessageId`
   as its event id, as soon as it is stored (`gateway.feedback.record`).

Only a storage failure raises: SNS then retries the delivery, and the steps left undone (4 to 6,
which are idempotent) are done again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from config import Settings
from config.settings import TRANSIENT_BOUNCE_WINDOW_DAYS
from gateway.core import metrics
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.logs import log_event
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.core.types.events import EventFact, EventKind, IngestResult, SesEventInfo
from gateway.feedback import reputation
from gateway.feedback.record import queue_webhooks, record_event
from gateway.feedback.suppressions import lookup_key, normalize_address
from gateway.storage import events as store
from gateway.storage import senders, tenants
from gateway.storage import suppressions as suppression_store
from gateway.storage.database import Database

log = logging.getLogger("gateway.events")

TRANSIENT_WINDOW = timedelta(days=TRANSIENT_BOUNCE_WINDOW_DAYS)
"""Transient bounces count towards `TRANSIENT_BOUNCE_LIMIT` for this long."""
TRANSIENT_SUPPRESSION = timedelta(days=7)
"""How long an address that keeps bouncing transiently is suppressed."""

EVENT_TYPES = {
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
}
"""Event publishing (configuration sets): `eventType`."""
NOTIFICATION_TYPES = {
    "Bounce": EventKind.BOUNCE,
    "Complaint": EventKind.COMPLAINT,
    "Delivery": EventKind.DELIVERY,
    "Received": EventKind.RECEIVED,
}
"""Identity notifications (and inbound mail): `notificationType`."""


# -- Reading the SES JSON ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    kind: EventKind
    ses_type: str = ""
    ses_message_id: str | None = None
    source: str | None = None
    """`mail.source`, maybe with a display name: `Sender <sender@example.com>`."""
    destination: tuple[str, ...] = ()
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    occurred_at: datetime | None = None
    recipients: tuple[EventFact, ...] = ()
    """The recipients the event names, each with what it says about them."""
    everyone: EventFact | None = None
    """For events that name no recipient: what they say about every recipient of the message."""
    note: str = ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    """SES's `2017-08-05T00:41:02.669Z` as an aware UTC datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse(payload: str) -> ParsedEvent:
    """Read an SES event or notification; never raises (what it cannot read is `UNKNOWN`)."""
    try:
        document = json.loads(payload)
    except ValueError as exc:
        return ParsedEvent(EventKind.UNKNOWN, note=f"not JSON ({exc}): stored, not applied")
    if not isinstance(document, dict):
        return ParsedEvent(EventKind.UNKNOWN, note="not a JSON object: stored, not applied")
    return _parse(document)


def _parse(document: dict[str, Any]) -> ParsedEvent:
    event_type, notification_type = document.get("eventType"), document.get("notificationType")
    if isinstance(event_type, str):
        ses_type, kind = event_type, EVENT_TYPES.get(event_type, EventKind.UNKNOWN)
    elif isinstance(notification_type, str):
        ses_type = notification_type
        kind = NOTIFICATION_TYPES.get(notification_type, EventKind.UNKNOWN)
    else:
        ses_type, kind = "", EventKind.UNKNOWN
    mail = _obj(document.get("mail"))
    mail_time = _time(mail.get("timestamp"))
    common: dict[str, Any] = {
        "ses_type": ses_type,
        "ses_message_id": _text(mail.get("messageId")),
        "source": _text(mail.get("source")),
        "destination": tuple(a for a in map(_text, _items(mail.get("destination"))) if a),
        "tags": {
            str(name): tuple(str(v) for v in _items(values))
            for name, values in _obj(mail.get("tags")).items()
        },
    }
    if kind is EventKind.UNKNOWN:
        what = f"unknown SES type {ses_type!r}" if ses_type else "no eventType or notificationType"
        return ParsedEvent(
            kind, occurred_at=mail_time, note=f"{what}: stored, not applied", **common
        )
    if kind is EventKind.RECEIVED:
        note = "inbound mail notification: stored, ignored"
        return ParsedEvent(kind, occurred_at=mail_time, note=note, **common)
    if common["ses_message_id"] is None:
        note = "no mail.messageId: stored, not applied"
        return ParsedEvent(EventKind.UNKNOWN, occurred_at=mail_time, note=note, **common)
    section = _obj(document.get(_SECTIONS.get(kind, "")))
    at = _time(section.get("timestamp")) or mail_time
    if kind in _EVERYONE:
        everyone = EventFact(occurred_at=at, detail=_EVERYONE[kind](section)[:2000])
        return ParsedEvent(kind, occurred_at=at, everyone=everyone, **common)
    recipients = tuple(_facts(kind, section, at))
    note = "" if recipients else "names no recipient"
    return ParsedEvent(kind, occurred_at=at, recipients=recipients, note=note, **common)


_SECTIONS = {
    EventKind.SEND: "send",
    EventKind.REJECT: "reject",
    EventKind.BOUNCE: "bounce",
    EventKind.COMPLAINT: "complaint",
    EventKind.DELIVERY: "delivery",
    EventKind.DELIVERY_DELAY: "deliveryDelay",
    EventKind.OPEN: "open",
    EventKind.CLICK: "click",
    EventKind.RENDERING_FAILURE: "failure",
    EventKind.SUBSCRIPTION: "subscription",
}


def _rendering_failure(section: dict[str, Any]) -> str:
    template, error = _text(section.get("templateName")), _text(section.get("errorMessage"))
    return f"{template}: {error}" if template and error else error or template or ""


_EVERYONE: dict[EventKind, Callable[[dict[str, Any]], str]] = {
    EventKind.SEND: lambda section: "",
    EventKind.REJECT: lambda section: _text(section.get("reason")) or "",
    EventKind.RENDERING_FAILURE: _rendering_failure,
    EventKind.OPEN: lambda section: _text(section.get("userAgent")) or "",
    EventKind.CLICK: lambda section: _text(section.get("link")) or "",
    EventKind.SUBSCRIPTION: lambda section: _text(section.get("source")) or "",
}
"""The events that name no recipient, and the detail kept of each."""


def _facts(kind: EventKind, section: dict[str, Any], at: datetime | None) -> list[EventFact]:
    facts = []
    if kind is EventKind.BOUNCE:
        bounce_type, subtype = _text(section.get("bounceType")), _text(section.get("bounceSubType"))
        for item in map(_obj, _items(section.get("bouncedRecipients"))):
            if address := _text(item.get("emailAddress")):
                facts.append(
                    EventFact(
                        address,
                        at,
                        bounce_type=bounce_type,
                        subtype=subtype,
                        status=_text(item.get("status")),
                        diagnostic=_text(item.get("diagnosticCode")),
                        detail=_text(item.get("action")) or "",
                    )
                )
    elif kind is EventKind.COMPLAINT:
        feedback = _text(section.get("complaintFeedbackType"))
        subtype = _text(section.get("complaintSubType"))
        for item in map(_obj, _items(section.get("complainedRecipients"))):
            if address := _text(item.get("emailAddress")):
                facts.append(EventFact(address, at, subtype=subtype, feedback_type=feedback))
    elif kind is EventKind.DELIVERY:
        response, ms = _text(section.get("smtpResponse")), _int(section.get("processingTimeMillis"))
        for address in map(_text, _items(section.get("recipients"))):
            if address:
                facts.append(EventFact(address, at, smtp_response=response, processing_ms=ms))
    elif kind is EventKind.DELIVERY_DELAY:
        delay_type = _text(section.get("delayType")) or ""
        for item in map(_obj, _items(section.get("delayedRecipients"))):
            if address := _text(item.get("emailAddress")):
                facts.append(
                    EventFact(
                        address,
                        at,
                        status=_text(item.get("status")),
                        diagnostic=_text(item.get("diagnosticCode")),
                        detail=delay_type,
                    )
                )
    return facts


def _address(text: str) -> str:
    """The normalized form of an address SES gives (plain, or `Name <address>`)."""
    if "<" in text:
        text = parseaddr(text)[1] or text
    return lookup_key(text)


# -- Correlation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    tenant_id: int | None
    queue_id: str | None = None
    matches: tuple[store.Match, ...] = ()
    note: str = ""
    foreign: bool = False
    """About a tenant of another AWS account than the topic's: applied to nobody."""


def _tag(parsed: ParsedEvent, name: str) -> str | None:
    values = parsed.tags.get(name) or ()
    return values[0] if values else None


async def _correlate(db: Database, parsed: ParsedEvent) -> _Target:
    if parsed.kind is EventKind.RECEIVED or parsed.ses_message_id is None:
        return _Target(None)
    matches = await store.recipients_by_ses_id(db, parsed.ses_message_id)
    if matches:
        return _Target(matches[0].tenant_id, matches[0].queue_id, tuple(matches))
    tenant, queue_id = _tag(parsed, "tenant"), _tag(parsed, "queue_id")
    if queue_id:
        destination = {_address(a) for a in parsed.destination}
        found = [
            m
            for m in await store.recipients_of_message(db, queue_id[:32])
            if m.tenant == tenant and _address(m.address) in destination
        ]
        if found:
            note = "matched by our queue_id tag: its SES message id is not the one recorded"
            return _Target(found[0].tenant_id, found[0].queue_id, tuple(found), note)
    note = "unknown SES message id"
    if tenant:
        try:
            return _Target((await tenants.get_tenant(db, tenant)).id, note=f"{note}; tenant by tag")
        except NotFoundError:
            pass
    sender = parseaddr(parsed.source or "")[1]
    if "@" in sender:
        owner = (await senders.sender_facts(db, lookup_key(sender))).domain_owner
        if owner is not None:
            return _Target(owner, note=f"{note}; tenant by the sender's domain")
    return _Target(None, note=f"{note}; no tenant")


async def _within(db: Database, account: str | None, target: _Target) -> _Target:
    """`target` if its tenant is on `account`, else nobody. An event of a stored account's
    topic that names no tenant is applied to nobody either: with `AUTO_SUPPRESS_SCOPE=global`
    it would suppress addresses for every tenant."""
    if account is None or (target.tenant_id is None and account == DEFAULT_ACCOUNT):
        return target
    if target.tenant_id is None:
        note = f"came by a topic of AWS account {account} and is about none of its tenants"
    else:
        tenant_account = await tenants.aws_account_of(db, target.tenant_id)
        if tenant_account == account:
            return target
        note = (
            f"came by a topic of AWS account {account}, but its tenant sends through "
            f"{tenant_account}"
        )
    note = "; ".join(n for n in (target.note, f"{note}: not applied") if n)
    return _Target(None, note=note, foreign=True)


def _rows(parsed: ParsedEvent, target: _Target, now: datetime) -> list[store.NewRecipientEvent]:
    ours = {_address(m.address): m.recipient_id for m in target.matches}
    named: list[tuple[str, int | None]]
    facts: list[tuple[str, int | None, EventFact]]
    if parsed.everyone is not None:
        if target.matches:
            named = [(_address(m.address), m.recipient_id) for m in target.matches]
        else:
            named = [(_address(a), None) for a in parsed.destination]
        facts = [(address, rid, parsed.everyone) for address, rid in dict(named).items()]
    else:
        facts = []
        for fact in parsed.recipients:
            address = _address(fact.address)
            facts.append((address, ours.get(address), fact))
    return [
        store.NewRecipientEvent(address, parsed.kind, fact.occurred_at or now, rid, fact)
        for address, rid, fact in facts
    ]


# -- Ingestion ---------------------------------------------------------------------------------


async def ingest(
    db: Database,
    settings: Settings,
    sns_message_id: str,
    topic_arn: str,
    payload: str,
    received_at: datetime,
    account: str | None = None,
) -> IngestResult:
    """Record the SES event `payload` (the SNS `Message`) delivered as `sns_message_id`, by a
    topic of the AWS account `account` (None: a configured topic, for every account).

    Raises only when the database fails (`sqlalchemy` errors): answer SNS with a 5xx then, so
    that it retries."""
    stored = await store.find_event(db, sns_message_id)
    if stored is not None:
        return await _again(db, settings, stored, account)
    parsed = parse(payload)
    target = await _within(db, account, await _correlate(db, parsed))
    rows = _rows(parsed, target, received_at)
    note = "; ".join(n for n in (parsed.note, target.note) if n)
    event_id = await record_event(
        db,
        sns_message_id=sns_message_id,
        topic_arn=topic_arn,
        kind=parsed.kind,
        ses_type=parsed.ses_type,
        ses_message_id=parsed.ses_message_id,
        tenant_id=target.tenant_id,
        queue_id=target.queue_id,
        occurred_at=parsed.occurred_at or received_at,
        received_at=received_at,
        note=note,
        payload=payload,
        recipients=rows,
    )
    if event_id is None:  # the same delivery, stored by another request in the meantime
        stored = await store.find_event(db, sns_message_id)
        assert stored is not None
        return _result(stored, duplicate=True)
    metrics.ses_events.labels(parsed.kind.value).inc()
    suppressed: tuple[str, ...] = ()
    action: str | None = None
    if not target.foreign:
        suppressed, action = await _apply(
            db, settings, target.tenant_id, sns_message_id, parsed, received_at
        )
    await store.mark_processed(db, event_id, datetime.now(UTC))
    result = IngestResult(
        event_id,
        False,
        parsed.kind,
        parsed.ses_message_id,
        target.tenant_id,
        target.queue_id,
        tuple(r.address for r in rows),
        sum(1 for r in rows if r.recipient_id is not None),
        suppressed,
        action,
        note,
    )
    log_event(
        log,
        "ses-event",
        kind=parsed.kind.value,
        sns_message_id=sns_message_id,
        ses_message_id=parsed.ses_message_id,
        tenant_id=target.tenant_id,
        queue_id=target.queue_id,
        recipients=len(rows),
        matched=result.matched,
        suppressed=",".join(suppressed) or None,
        reputation=action,
        note=note or None,
    )
    return result


def _result(stored: SesEventInfo, duplicate: bool) -> IngestResult:
    return IngestResult(
        stored.id,
        duplicate,
        stored.kind,
        stored.ses_message_id,
        stored.tenant_id,
        stored.queue_id,
        note=stored.note,
    )


async def _again(
    db: Database, settings: Settings, stored: SesEventInfo, account: str | None
) -> IngestResult:
    """A repeated delivery. If the first one stopped before its suppressions and reputation
    check were done (the process died, the database failed), do them now: they are idempotent."""
    if stored.processed_at is None:
        parsed = parse(stored.payload)
        target = await _within(db, account, await _correlate(db, parsed))
        suppressed: tuple[str, ...] = ()
        action: str | None = None
        if not target.foreign:
            suppressed, action = await _apply(
                db, settings, stored.tenant_id, stored.sns_message_id, parsed, stored.received_at
            )
        rows = _rows(parsed, target, stored.received_at)
        await queue_webhooks(
            db,
            event_id=stored.sns_message_id,
            kind=parsed.kind,
            tenant_id=target.tenant_id,
            occurred_at=stored.occurred_at,
            queue_id=target.queue_id,
            ses_message_id=parsed.ses_message_id,
            recipients=rows,
        )
        await store.mark_processed(db, stored.id, datetime.now(UTC))
        log_event(
            log,
            "ses-event-completed",
            sns_message_id=stored.sns_message_id,
            suppressed=",".join(suppressed) or None,
            reputation=action,
        )
    return _result(stored, duplicate=True)


# -- Suppression -------------------------------------------------------------------------------


def suppression_for(kind: EventKind, fact: EventFact) -> str | None:
    """`permanent`, `transient` (counts towards `TRANSIENT_BOUNCE_LIMIT`) or None."""
    if kind is EventKind.COMPLAINT:
        return "permanent"
    if kind is not EventKind.BOUNCE:
        return None
    if fact.bounce_type == "Permanent" or fact.subtype == store.ON_ACCOUNT_SUPPRESSION_LIST:
        return "permanent"
    return "transient" if fact.bounce_type == "Transient" else None


def _describe(kind: EventKind, fact: EventFact) -> str:
    if kind is EventKind.COMPLAINT:
        return f"complaint ({fact.feedback_type})" if fact.feedback_type else "complaint"
    said = " ".join(part for part in (fact.status, fact.diagnostic) if part)
    what = f"{fact.bounce_type or 'Undetermined'}/{fact.subtype or 'General'} bounce"
    return f"{what} ({said})" if said else what


async def _apply(
    db: Database,
    settings: Settings,
    tenant_id: int | None,
    sns_message_id: str,
    parsed: ParsedEvent,
    received_at: datetime,
) -> tuple[tuple[str, ...], str | None]:
    """Suppressions and the reputation check for a bounce or complaint; (suppressed, action)."""
    if parsed.kind not in (EventKind.BOUNCE, EventKind.COMPLAINT):
        return (), None
    suppressed = []
    for fact in parsed.recipients:
        address = await _suppress(
            db, settings, tenant_id, sns_message_id, parsed, fact, received_at
        )
        if address is not None:
            suppressed.append(address)
    action = None
    if tenant_id is not None:
        action = (await reputation.check_tenant(db, settings, tenant_id, received_at)).action
    return tuple(suppressed), action


async def _suppress(
    db: Database,
    settings: Settings,
    tenant_id: int | None,
    sns_message_id: str,
    parsed: ParsedEvent,
    fact: EventFact,
    now: datetime,
) -> str | None:
    """Suppress the fact's address if it calls for it; the address if an entry was added or
    renewed."""
    how = suppression_for(parsed.kind, fact)
    if how is None:
        return None
    scope = None if settings.auto_suppress_scope == "global" else tenant_id
    if scope is None and settings.auto_suppress_scope == "tenant":
        return None  # a tenant's suppression, but the event belongs to no known tenant
    try:
        address = normalize_address(parseaddr(fact.address)[1] or fact.address)
    except InvalidInputError as exc:
        log_event(log, "ses-event-unsuppressible", level=logging.WARNING, reason=str(exc))
        return None
    cause = (
        f"{_describe(parsed.kind, fact)}; "
        f"SNS message {sns_message_id}, SES message {parsed.ses_message_id}"
    )
    expires_at = None
    if how == "transient":
        limit = settings.transient_bounce_limit
        if limit == 0:
            return None
        count = await store.count_transient_bounces(db, address, scope, now - TRANSIENT_WINDOW)
        if count < limit:
            return None
        expires_at = now + TRANSIENT_SUPPRESSION
        days = TRANSIENT_WINDOW.days
        cause = f"{count} transient bounces in {days} days, the last a {cause}"
    reason = "complaint" if parsed.kind is EventKind.COMPLAINT else "bounce"
    entry = suppression_store.Entry(address, scope, reason, cause, now, expires_at)
    added, updated = await suppression_store.add(db, [entry], keep_longer=True)
    return address if added or updated else None


# -- Retention ---------------------------------------------------------------------------------


async def purge(db: Database, settings: Settings, now: datetime) -> int:
    """Delete the events received more than `EVENT_RETENTION_DAYS` ago; return how many.
    For the workers to call hourly."""
    return await store.purge_events(db, now - timedelta(days=settings.event_retention_days))
