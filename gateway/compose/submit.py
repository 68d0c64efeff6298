"""A composed message submitted as an SMTP session would submit it: the same rules of
`gateway.policy`, with the same named refusals and reply words, and the same spool.

The order follows a session's: the sender and the account (MAIL), the message built and measured
and the tenant's limits (DATA), the recipients (RCPT), then the commit. A refusal of the message
stops it; a refused recipient leaves the others (as a refused RCPT does), and a message none of
whose recipients is left is not stored. Every refusal is recorded in the refusal log, as SMTP's
are.
Drafts with a `scheduled_at` are stored now and claimed at that time (the message's first
`next_attempt_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.compose.mime import Draft, Mailbox, composed_header, message_id
from gateway.core import metrics
from gateway.core.crypto import Sealer
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.messages import NewMessage, Principal
from gateway.domains.dnscheck import DnsChecker
from gateway.intake import replies
from gateway.intake.handler import recipient_address, sender_address
from gateway.intake.message import SessionFacts, header_senders, header_subject, prepare
from gateway.intake.spool import Spool, new_queue_id
from gateway.policy.limits import RateLimiter, effective
from gateway.policy.rules import (
    Refusal,
    check_account,
    check_daily,
    check_rate,
    check_recipient_domain,
    check_recipient_suppressed,
    check_sender,
    check_size,
)
from gateway.policy.senders import Directory
from gateway.storage.database import Database

PROTOCOL = "HTTPS"
"""The Received field's `with` for a message sent by the API."""
SCHEDULE_GRACE = timedelta(minutes=5)
"""A `scheduled_at` this far in the past is "now" (the client's clock may be behind); further
back it is refused, as a mistake."""
SCHEDULE_MAX = timedelta(days=30)
"""How far ahead a message may be scheduled: its content waits in the spool until then."""


def schedule(at: datetime | None, now: datetime) -> datetime | None:
    """When to deliver a message asked for `at`: None (at once) for no time or one just past;
    `InvalidInputError` for one long past or too far ahead."""
    if at is None:
        return None
    if at < now - SCHEDULE_GRACE:
        raise InvalidInputError(f"scheduled_at: {at.isoformat()} is in the past", "scheduled_at")
    if at > now + SCHEDULE_MAX:
        raise InvalidInputError(
            f"scheduled_at: at most {SCHEDULE_MAX.days} days ahead", "scheduled_at"
        )
    return at if at > now else None


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal of the message (`address` None) or of one recipient; `field` names the
    request's member at fault (`from`, `to.2`)."""

    refusal: Refusal
    field: str | None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """The message stored (`queue_id`), to `recipients`; or (`queue_id` None) refused as a
    whole, by `refused[0]` when no recipient was left."""

    queue_id: str | None
    recipients: tuple[str, ...] = ()
    refused: tuple[Refused, ...] = ()
    scheduled_at: datetime | None = None


def addressed(draft: Draft) -> tuple[Draft, list[str], list[Refused]]:
    """The draft with its recipients as RCPT TO takes them (an IDN domain in punycode), those
    it refuses for their syntax left out (a header cannot hold them either); the request's
    member of each one left (`to.0`, `cc.1`); the refused. A `reply_to` that is no address
    is an input error."""
    fields: list[str] = []
    refused: list[Refused] = []

    def kept(name: str, group: tuple[Mailbox, ...]) -> tuple[Mailbox, ...]:
        found = []
        for i, given in enumerate(group):
            address, bad = recipient_address(given.address)
            if bad is None:
                found.append(given if address == given.address else Mailbox(address, given.name))
                fields.append(f"{name}.{i}")
            else:
                rule = "bad-address" if bad == str(replies.BAD_ADDRESS) else "non-ascii-address"
                refused.append(Refused(Refusal(rule, bad), f"{name}.{i}", given.address))
        return tuple(found)

    for i, given in enumerate(draft.reply_to):
        bad = sender_address(given.address)
        if bad is not None:
            where = f"reply_to.{i}"
            raise InvalidInputError(f"{where}: {bad.split(' ', 2)[-1]}", where)
    to, cc, bcc = kept("to", draft.to), kept("cc", draft.cc), kept("bcc", draft.bcc)
    if (to, cc, bcc) != (draft.to, draft.cc, draft.bcc):
        draft = replace(draft, to=to, cc=cc, bcc=bcc)
    return draft, fields, refused


def _count(messages: Sequence[NewMessage]) -> None:
    """The messages stored, in the metrics."""
    metrics.messages_accepted.inc(len(messages))
    metrics.recipients_accepted.inc(sum(len(m.recipients) for m in messages))


class Submitter:
    """The send API's way into the spool, between `start()` and `stop()`: its own spool (group
    commit) and policy facts, like an SMTP role's."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        sealer: Sealer,
        directory: Directory | None = None,
    ) -> None:
        """Each commit of its spool announces the messages (`Topic.QUEUED`): the workers of
        every process claim them at once. Its `directory` drops what the change bus says
        changed (`WebRole` subscribes it)."""
        self._settings = settings
        self.spool = Spool(db, sealer)
        self.directory = directory or Directory(db)
        self._rates = RateLimiter()
        self._mail_domains = (
            DnsChecker(settings.dns_nameservers, settings.recipient_domain_timeout)
            if settings.recipient_domain_check
            else None
        )

    def start(self) -> None:
        self.spool.start()
        self.directory.start()

    async def stop(self) -> None:
        await self.spool.stop()
        await self.directory.stop()

    async def submit(
        self,
        principal: Principal,
        draft: Draft,
        client_address: str,
        not_before: datetime | None = None,
        queue_id: str | None = None,
        via: str = "api",
    ) -> Submitted:
        """Police and store `draft` for `principal`; `not_before`: deliver at that time;
        `queue_id`: store it under this id, chosen beforehand (a campaign's, which finds after
        a restart whether it was stored; the primary key refuses a second copy); `via`: how it
        came (`api`, `campaign`), as the message's details show it."""
        policed = await self._policed(
            principal, draft, client_address, not_before, queue_id or new_queue_id(), via
        )
        if isinstance(policed, Submitted):
            return policed
        message, submitted = policed
        await self.spool.store(message)  # a DatabaseError: the caller answers "try again"
        _count((message,))
        return submitted

    async def submit_all(
        self,
        principal: Principal,
        drafts: Sequence[tuple[Draft, str]],
        client_address: str,
        via: str,
    ) -> list[Submitted | Exception]:
        """`submit` of each draft under its queue id, one after the other through the same
        policy, their messages then stored together: one entry of the spool's group commit,
        one transaction, one wait (a campaign's chunk: no task and future per message). Each
        draft's result in order: what `submit` returns, or the exception it raises (a failed
        store is that of every message to be stored)."""
        results: list[Submitted | Exception] = []
        messages: list[NewMessage] = []
        for draft, queue_id in drafts:
            try:
                policed = await self._policed(principal, draft, client_address, None, queue_id, via)
            except Exception as exc:  # that draft's, as `submit` would raise it
                results.append(exc)
                continue
            if isinstance(policed, Submitted):
                results.append(policed)
            else:
                messages.append(policed[0])
                results.append(policed[1])
        try:
            await self.spool.store_all(messages)
        except Exception as exc:  # none of them stored
            return [exc if isinstance(r, Submitted) and r.queue_id else r for r in results]
        _count(messages)
        return results

    async def _policed(
        self,
        principal: Principal,
        draft: Draft,
        client_address: str,
        not_before: datetime | None,
        queue_id: str,
        via: str,
    ) -> tuple[NewMessage, Submitted] | Submitted:
        """What the policy makes of `draft`: the message to store and what `submit` returns
        once it is stored; or (a `Submitted` alone) its refusal, recorded."""
        now = datetime.now(UTC)
        draft, fields, refused = addressed(draft)
        built = await self._message(principal, draft, queue_id, client_address, now)
        if isinstance(built, Refused):
            await self._record(principal, built, client_address, draft.sender.address)
            return Submitted(None, refused=(built,))
        data, header_size, msgid, subject = built
        recipients, dropped = await self._recipients(
            principal, draft, fields, client_address, refused
        )
        if not recipients:
            return Submitted(None, refused=tuple(refused))
        message = NewMessage(
            id=queue_id,
            tenant_id=principal.tenant_id,
            credential_id=None,
            mail_from=draft.sender.address,
            recipients=recipients,
            data=data,
            client_address=client_address,
            client_helo="",
            tls=None,
            auth_username=principal.username,
            message_id_header=msgid[:998],
            created_at=now,
            expires_at=(not_before or now) + timedelta(seconds=self._settings.max_queue_age),
            suppressed=dropped,
            subject=subject,
            header_size=header_size,
            via=via,
            not_before=not_before,
        )
        return message, Submitted(queue_id, recipients, tuple(refused), not_before)

    async def _message(
        self,
        principal: Principal,
        draft: Draft,
        queue_id: str,
        client_address: str,
        now: datetime,
    ) -> tuple[bytes, int, str, str] | Refused:
        """What MAIL FROM and DATA would refuse, in their order; else the message as relayed
        (its bytes, header size, Message-ID and subject)."""
        sender = draft.sender.address
        bad = sender_address(sender)
        if bad is not None:
            rule = "bad-address" if sender.isascii() else "non-ascii-address"
            return Refused(Refusal(rule, bad), "from")
        account = await self.directory.account(principal)
        refusal = check_account(account) or check_sender(
            account, await self.directory.sender(sender)
        )
        if refusal is not None:
            return Refused(refusal, "from")
        limits = effective(account, self._settings)
        limit = limits.max_recipients or self._settings.max_recipients
        if len({m.address.lower() for m in draft.recipients}) > limit:
            reply = replies.TOO_MANY_RECIPIENTS.format(limit=limit)
            return Refused(Refusal("recipients", reply), "to")
        header = composed_header(draft, message_id(queue_id, self._settings.hostname), now)
        for address in header_senders(header):  # the From field, and a `Sender:` of `headers`
            refusal = check_sender(account, await self.directory.sender(address), header=True)
            if refusal is not None:
                return Refused(refusal, "headers")
        facts = SessionFacts(
            queue_id=queue_id,
            hostname=self._settings.hostname,
            client_helo=client_address,
            client_address=client_address,
            tls=None,
            authenticated=True,
            esmtp=True,
            received_at=now,
            protocol=PROTOCOL,
        )
        prepared = prepare(header, facts)
        refusal = check_size(len(prepared.data), limits.max_size or 0)
        if refusal is None and limits.max_per_day is not None:
            used = await self.directory.usage(principal.tenant_id)
            refusal = check_daily(used, limits.max_per_day)
            await self.directory.near_limit.check(
                principal.tenant_id, principal.tenant_name, used, limits.max_per_day, now
            )
        if refusal is None and limits.max_per_second is not None:
            wait = self._rates.take(principal.tenant_id, limits.max_per_second)
            refusal = check_rate(wait, limits.max_per_second)
        if refusal is not None:
            return Refused(refusal, None)
        return prepared.data, prepared.header_size, prepared.message_id, header_subject(header)

    async def _recipients(
        self,
        principal: Principal,
        draft: Draft,
        fields: list[str],
        client_address: str,
        refused: list[Refused],
    ) -> tuple[tuple[str, ...], dict[str, str]]:
        """What RCPT TO would make of each recipient (of `fields`, in the request): the
        accepted, each once, and those accepted but dropped as suppressed
        (`SUPPRESSION_MODE=drop`); the refused are added to `refused`."""
        accepted: list[str] = []
        dropped: dict[str, str] = {}
        for given, field in zip(draft.recipients, fields, strict=True):
            address = given.address
            if address.lower() in (a.lower() for a in accepted):
                continue
            refusal = await self._recipient_refusal(principal, address, dropped)
            if refusal is not None:
                refused.append(Refused(refusal, field, address))
                await self._record(
                    principal, refused[-1], client_address, draft.sender.address, address
                )
                continue
            accepted.append(address)
        return tuple(accepted), dropped

    async def _recipient_refusal(
        self, principal: Principal, address: str, dropped: dict[str, str]
    ) -> Refusal | None:
        if self._mail_domains is not None:
            domain = address.rpartition("@")[2]
            refusal = check_recipient_domain(domain, await self._mail_domains.mail_domain(domain))
            if refusal is not None:
                return refusal
        suppression = await self.directory.suppressed(principal.tenant_id, address)
        verdict = check_recipient_suppressed(suppression, self._settings.suppression_mode)
        if isinstance(verdict, Refusal):
            return verdict
        if verdict is not None:
            dropped[address] = verdict.note
        return None

    async def _record(
        self,
        principal: Principal,
        refused: Refused,
        client_address: str,
        sender: str | None,
        recipient: str | None = None,
    ) -> None:
        metrics.messages_refused.labels(refused.refusal.rule).inc()
        await self.directory.refusals.record(
            principal,
            refused.refusal.rule,
            refused.refusal.reply,
            client_address,
            sender=sender,
            recipient=recipient,
        )
